/**
 * Every test file is really run: uvu runs nothing from a suite that never calls `.run()` and
 * still exits 0, and helpers must not be picked up as tests. `npm test` runs test/run.ts, whose
 * pattern lives in test/helpers/test-files.ts; this checks the files against it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'uvu/parse';
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { listFiles } from '../../generator/src/render/templates.ts';
import { REPO_ROOT } from '../helpers/helm.ts';
import { TEST_DIR, TEST_PATTERN } from '../helpers/test-files.ts';

const testDir = join(REPO_ROOT, 'test');
const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8'));
const testFiles = listFiles(testDir).filter((file) => file.endsWith('.test.ts'));

test('npm test runs test/run.ts, whose pattern picks every .test.ts file under test/ and nothing else', async () => {
  assert.is(pkg.scripts.test, 'node test/run.ts');
  const { suites } = await parse(join(REPO_ROOT, TEST_DIR), TEST_PATTERN);
  assert.equal(suites.map((suite) => suite.file).sort(), [...testFiles].sort());
  assert.ok(testFiles.length > 30, `only ${testFiles.length} test files found`);
});

test('every test file calls .run() on each suite it creates', () => {
  for (const file of testFiles) {
    const source = readFileSync(file, 'utf8');
    const suites = [...source.matchAll(/const (\w+) = suite(?:<[^>]*>)?\(/g)].map((m) => m[1]!);
    if (/import \{[^}]*\btest\b[^}]*\} from 'uvu'/.test(source)) suites.push('test');
    assert.ok(suites.length > 0, `${relative(REPO_ROOT, file)} creates no suite`);
    for (const name of suites) assert.ok(source.includes(`${name}.run()`), `${relative(REPO_ROOT, file)} never calls ${name}.run()`);
  }
});

test('no helper is named like a test file', () => {
  const helpers = listFiles(join(testDir, 'helpers'));
  assert.equal(helpers.filter((file) => file.endsWith('.test.ts')), []);
});

test.run();
