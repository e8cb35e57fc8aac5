/**
 * Runs the uvu suites under test/ (files named *.test.ts) in this process, as `uvu test` does,
 * and ends with one plain line, "N passed, N failed", that CI and people read at a glance.
 *
 *   node test/run.ts [pattern]    pattern: a regular expression on the file path (default: every
 *                                 *.test.ts file), as uvu takes it
 *
 * uvu prints its totals itself and exposes no result, so this reads them as they are written.
 * The real control plane the suites share is started by the first that asks for it, and stopped
 * here when the run ends.
 */
import { parse } from 'uvu/parse';
import { run } from 'uvu/run';
import { stopSharedCluster } from './helpers/cluster/shared.ts';
import { TEST_DIR, TEST_PATTERN } from './helpers/test-files.ts';

const pattern = process.argv[2] ? new RegExp(process.argv[2]) : TEST_PATTERN;
const totals: Record<string, number> = {};
const write = process.stdout.write.bind(process.stdout);
process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
  // eslint-disable-next-line no-control-regex
  const text = String(chunk).replace(/\x1b\[[0-9;]*m/g, '');
  for (const match of text.matchAll(/^\s*(Total|Passed|Skipped):\s+(\d+)/gm)) totals[match[1]!] = Number(match[2]);
  return write(chunk, ...rest);
}) as typeof process.stdout.write;

let crashed: unknown;
try {
  // A narrower pattern picks among the test files, never the helpers beside them.
  const suites = (await parse(TEST_DIR, pattern)).suites.filter((suite) => TEST_PATTERN.test(suite.file));
  if (suites.length === 0) throw new Error(`no test file under ${TEST_DIR}/ matches ${pattern}`);
  await run(suites, { bail: false });
} catch (err) {
  crashed = err;
} finally {
  // The control plane the suites shared, if any started it (test/helpers/cluster/shared.ts).
  await stopSharedCluster();
}
process.stdout.write = write;

if (crashed !== undefined || totals.Total === undefined) {
  console.error(crashed instanceof Error ? crashed.stack : `the test run ended before uvu printed its totals: ${String(crashed ?? '')}`);
  console.log(`${totals.Passed ?? 0} passed, ${Math.max(1, (totals.Total ?? 0) - (totals.Passed ?? 0))} failed`);
  process.exitCode = 1;
} else {
  const failed = totals.Total - (totals.Passed ?? 0) - (totals.Skipped ?? 0);
  console.log(`${totals.Passed ?? 0} passed, ${failed} failed${totals.Skipped ? `, ${totals.Skipped} skipped` : ''}`);
  if (failed > 0) process.exitCode = 1;
}
