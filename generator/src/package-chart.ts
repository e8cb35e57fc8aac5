/**
 * `make package`: the chart as a Helm repository in dist/, ready for a static web host (GitHub
 * Pages serves x-publish.helmRepository):
 *   dist/supersonic-<version>.tgz                          the chart archive (helm package)
 *   dist/index.yaml                                        the repository index, relative URLs
 *   dist/schemas/supersonic-<version>.values.schema.json   the values schema, at the URL the
 *                                                          $schema line of values.yaml names
 *   dist/schemas/supersonic-<version>.editor.schema.json   the same without `required`, for editors
 *                                                          (an override file sets few keys)
 *   dist/supersonic-validate.mjs                           `supersonic validate`, one file for Node 24,
 *                                                          the schema, defaults and archive inside
 *   dist/fastmachinelearning-supersonic-<version>.tgz      the npm package of `supersonic validate`
 *                                                          (`npm install -g <it>`, `make publish-npm`)
 *   dist/icon.svg, dist/artifacthub-repo.yaml              what Artifact Hub reads
 * MERGE_INDEX=<index.yaml> keeps the versions an earlier index lists (publishing next to them).
 * `make publish-oci REGISTRY=<host>/<path>` then pushes the archive (see the Makefile).
 */
import { execFileSync } from 'node:child_process';
import { buildSync } from 'esbuild';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHART_DIR, editorSchemaFileName, schemaFileName } from './generate.ts';
import { editorSchema } from './render/values-schema.ts';
import { loadSchema } from './schema/load.ts';

const repoRoot = resolve(fileURLToPath(import.meta.url), '../../..');

export interface PackageResult {
  archive: string;
  files: string[];
}

export function packageChart(outDir: string, options: { helm: string; mergeIndex?: string }): PackageResult {
  const { chart } = loadSchema(join(repoRoot, 'schema/root.yaml'));
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(join(outDir, 'schemas'), { recursive: true });
  const helm = (args: string[]) => execFileSync(options.helm, args, { cwd: repoRoot, env: { ...process.env, KUBECONFIG: '/dev/null' }, encoding: 'utf8' });

  helm(['package', join(repoRoot, CHART_DIR), '--destination', outDir]);
  const archive = join(outDir, `${String(chart.name)}-${String(chart.version)}.tgz`);
  if (!existsSync(archive)) throw new Error(`helm package wrote no ${archive}`);
  copyFileSync(join(repoRoot, CHART_DIR, 'values.schema.json'), join(outDir, schemaFileName(chart)));
  const published = JSON.parse(readFileSync(join(repoRoot, CHART_DIR, 'values.schema.json'), 'utf8'));
  writeFileSync(join(outDir, editorSchemaFileName(chart)), JSON.stringify(editorSchema(published), null, 2) + '\n');
  bundleValidator(join(outDir, VALIDATOR_FILE), archive, String(chart.version));
  const npmPackage = packValidator(outDir, String(chart.version));
  copyFileSync(join(repoRoot, 'docs/assets/icon.svg'), join(outDir, 'icon.svg'));
  writeFileSync(
    join(outDir, 'artifacthub-repo.yaml'),
    '# Artifact Hub reads this file at the root of the Helm repository (https://artifacthub.io/docs/topics/repositories/).\n' +
      '# Add repositoryID once the repository is registered there, to claim it as a verified publisher.\n' +
      'owners:\n  - name: SuperSONIC developers\n',
  );
  // Relative URLs: the index works wherever dist/ is served, on any host or port.
  helm(['repo', 'index', outDir, ...(options.mergeIndex ? ['--merge', options.mergeIndex] : [])]);
  return { archive, files: ['index.yaml', `${chart.name}-${chart.version}.tgz`, schemaFileName(chart), editorSchemaFileName(chart), VALIDATOR_FILE, npmPackage, 'icon.svg', 'artifacthub-repo.yaml'] };
}

/** The npm package of the validator: scoped, so it cannot be confused with an unrelated `supersonic`. */
export const NPM_PACKAGE = '@fastmachinelearning/supersonic';

/** The file `npm pack` writes for NPM_PACKAGE at a version (the scope's `@` dropped, `/` made `-`). */
export function npmPackageFile(version: string): string {
  return `${NPM_PACKAGE.slice(1).replace('/', '-')}-${version}.tgz`;
}

/**
 * The bundled validator (already in outDir) as an npm package beside it: one file and no
 * dependencies (everything it needs is inside the bundle), so `npm install -g` of the archive or
 * of the published name works offline, and `npx @fastmachinelearning/supersonic validate -f ...`
 * runs it. The repository's own package.json stays private: it is the development workspace.
 */
function packValidator(outDir: string, version: string): string {
  const staging = mkdtempSync(join(tmpdir(), 'supersonic-npm-'));
  try {
    copyFileSync(join(outDir, VALIDATOR_FILE), join(staging, VALIDATOR_FILE));
    const repository = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));
    writeFileSync(join(staging, 'package.json'), JSON.stringify({
      name: NPM_PACKAGE,
      version,
      description: 'supersonic validate: checks a SuperSONIC Helm values file against the chart, printing file:line:column: key: message for every problem.',
      license: repository.license ?? 'MIT',
      type: 'module',
      bin: { supersonic: VALIDATOR_FILE },
      files: [VALIDATOR_FILE],
      engines: { node: '>=24' },
      homepage: 'https://github.com/fastmachinelearning/SuperSONIC',
    }, null, 2) + '\n');
    writeFileSync(join(staging, 'README.md'), [
      '# supersonic validate',
      '',
      "Checks a values file for the SuperSONIC Helm chart of the same version against the chart's schema and its cross-field rules, as `helm install` would, and prints every problem as `file:line:column: key: message` (with a suggestion for a misspelt key, the allowed values of an enum, the format of a quantity, and what replaced a SuperSONIC 0.3 key).",
      '',
      '    npx @fastmachinelearning/supersonic validate -f values.yaml',
      '',
      'Exit status: 0 valid, 1 problems found, 2 the file cannot be read or parsed. Needs Node 24; `helm` on PATH (or `HELM=<path>`) adds the checks the templates make.',
      '',
    ].join('\n'));
    execFileSync('npm', ['pack', staging, '--pack-destination', outDir, '--silent'], { cwd: staging, encoding: 'utf8' });
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  const file = npmPackageFile(version);
  if (!existsSync(join(outDir, file))) throw new Error(`npm pack wrote no ${join(outDir, file)}`);
  return file;
}

/** The bundled `supersonic validate`, relative to dist/. */
export const VALIDATOR_FILE = 'supersonic-validate.mjs';

/**
 * generator/src/validate-cli.ts and what it imports (ajv, yaml), as one ES module for Node 24,
 * with the chart's schema, defaults and archive (for the cross-field checks, run by helm
 * template) embedded: it runs without a checkout, and the npm package's `bin` is this file
 * (Node refuses to strip types under node_modules, so the sources cannot be the bin).
 */
export function bundleValidator(outfile: string, archive: string, version: string): void {
  const embedded = {
    schema: readFileSync(join(repoRoot, CHART_DIR, 'values.schema.json'), 'utf8'),
    defaults: readFileSync(join(repoRoot, CHART_DIR, 'values.yaml'), 'utf8'),
    chartTgz: readFileSync(archive).toString('base64'),
    version,
  };
  buildSync({
    absWorkingDir: repoRoot,
    entryPoints: ['generator/src/validate-cli.ts'],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node24',
    define: { __SUPERSONIC_EMBEDDED__: JSON.stringify(embedded) },
    banner: { js: "#!/usr/bin/env node\nimport { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    legalComments: 'eof',
    logLevel: 'warning',
  });
  chmodSync(outfile, 0o755);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outDir = resolve(process.argv[2] ?? join(repoRoot, 'dist'));
  const result = packageChart(outDir, { helm: process.env.HELM ?? join(repoRoot, '.tools/bin/helm'), mergeIndex: process.env.MERGE_INDEX || undefined });
  console.log(`package: ${outDir}\n${result.files.map((file) => `  ${file}`).join('\n')}`);
}
