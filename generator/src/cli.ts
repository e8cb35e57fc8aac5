/**
 * `node generator/src/cli.ts`         regenerate the chart, docs and types from schema/
 * `node generator/src/cli.ts --check` fail if any generated file is out of date (make verify)
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateAll, GeneratorError, OWNED_DIRS } from './generate.ts';
import { SchemaError } from './schema/load.ts';
import { findDrift, writeFiles } from './output.ts';

const repoRoot = resolve(fileURLToPath(import.meta.url), '../../..');

async function main(check: boolean): Promise<number> {
  const files = await generateAll(repoRoot);
  if (!check) {
    const drift = writeFiles(repoRoot, files, OWNED_DIRS);
    const changed = drift.stale.length + drift.missing.length;
    console.log(`generated ${files.size} files: ${changed} written, ${drift.extra.length} removed, ${files.size - changed} unchanged`);
    return 0;
  }
  const drift = findDrift(repoRoot, files, OWNED_DIRS);
  const lines = [
    ...drift.stale.map((p) => `  out of date: ${p}`),
    ...drift.missing.map((p) => `  missing:     ${p}`),
    ...drift.extra.map((p) => `  not generated (remove it): ${p}`),
  ];
  if (lines.length === 0) {
    console.log(`verify: all ${files.size} generated files are up to date`);
    return 0;
  }
  console.error(`verify: generated files are out of sync with schema/ and generator/:\n${lines.join('\n')}\nRun \`make generate\` and commit the result.`);
  return 1;
}

main(process.argv.includes('--check')).then(
  (code) => process.exit(code),
  (err) => {
    // Problems in the sources are the author's to fix: say what and where, without a stack.
    if (err instanceof GeneratorError || err instanceof SchemaError) console.error(`generate: ${err.message}`);
    else console.error('generate: internal error:', err);
    process.exit(1);
  },
);
