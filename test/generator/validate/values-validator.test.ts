/**
 * `supersonic validate` (generator/src/validate-cli.ts) and the module it shares with the servers
 * (core/src/validate/values-validator.ts): real 0.3.1 files with one injected mistake each,
 * one test per kind of message, run as users run it (a process, its output and exit code), with
 * Helm 4 and Helm 3 for the chart's cross-field checks; and the bundle `make package` ships.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { validateValuesText } from '#core/validate/values-validator.ts';
import { quantitySpelling } from '#core/validate/quantity.ts';
import { editorSchema } from '../../../generator/src/render/values-schema.ts';
import { bundleValidator } from '../../../generator/src/package-chart.ts';
import { COMPAT_DIR } from '../../helpers/compat.ts';
import { helmPath, REPO_ROOT } from '../../helpers/helm.ts';

const CLI = join(REPO_ROOT, 'generator/src/validate-cli.ts');
const schema = JSON.parse(readFileSync(join(REPO_ROOT, 'chart/supersonic/values.schema.json'), 'utf8'));
const defaults = parse(readFileSync(join(REPO_ROOT, 'chart/supersonic/values.yaml'), 'utf8'));
const compat = (name: string) => readFileSync(join(COMPAT_DIR, name), 'utf8');
const scratch = mkdtempSync(join(tmpdir(), 'supersonic-validate-test-'));

/** `text` with `from` replaced by `to` exactly once (so the injected mistake is where the test says). */
function inject(text: string, from: string | RegExp, to: string): string {
  const replaced = text.replace(from, to);
  if (replaced === text) throw new Error(`${String(from)} is not in the file`);
  return replaced;
}

function run(file: string, extra: string[] = [], env: Record<string, string> = {}, command = [CLI]) {
  const result = spawnSync(process.execPath, [...command, 'validate', '-f', file, ...extra], { encoding: 'utf8', env: { ...process.env, HELM: helmPath('helm'), ...env } });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function write(name: string, text: string): string {
  const file = join(scratch, name);
  writeFileSync(file, text);
  return file;
}

/** 1-based line of the first line of `text` matching `pattern`. */
const lineOf = (text: string, pattern: RegExp) => text.split('\n').findIndex((l) => pattern.test(l)) + 1;

const cli = suite('supersonic validate: each kind of problem, on real 0.3.1 files');

cli('a valid file: exit 0, "valid", nothing on stderr (with Helm\'s checks run)', () => {
  const r = run(join(COMPAT_DIR, 'values-minimal.yaml'));
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /values-minimal\.yaml: valid/);
  assert.is(r.stderr, '');
});

cli('a misspelt key: file:line:column: key: unknown key, did you mean the right one', () => {
  const text = inject(compat('values-minimal-full.yaml'), /^(\s+)replicas:/m, '$1replica:');
  const file = write('typo.yaml', text);
  const r = run(file, ['--no-helm']);
  assert.is(r.code, 1);
  const line = lineOf(text, /^\s+replica:/);
  assert.match(r.stdout, `${file}:${line}:3: triton.replica: unknown key (did you mean triton.replicas?)`);
});

cli('an enum: the allowed values, and the nearest', () => {
  const text = inject(compat('values-minimal.yaml'), /^triton:\n/m, 'triton:\n  imagePullPolicy: IfNotPresnt\n');
  const r = run(write('enum.yaml', text), ['--no-helm']);
  assert.is(r.code, 1);
  assert.match(r.stdout, /enum\.yaml:\d+:20: triton\.imagePullPolicy: "IfNotPresnt" is not allowed: use one of "Always", "IfNotPresent", "Never" \(did you mean IfNotPresent\?\)/);
});

cli('a type: what was expected and what the file has', () => {
  const text = inject(compat('values-nautilus-cms.yaml'), /^  replicas: 5$/m, '  replicas: "5"');
  const r = run(write('type.yaml', text), ['--no-helm']);
  assert.is(r.code, 1);
  assert.match(r.stdout, `type.yaml:${lineOf(text, /^  replicas: "5"/)}:13: triton.replicas: expected integer, got the string "5"`);
});

cli('a quantity: 3GB → say 3G or 3Gi, at the value\'s column in a flow map', () => {
  const text = inject(compat('values-nautilus-cms.yaml'), 'limits: { cpu: 1, memory: 3G,', 'limits: { cpu: 1, memory: 3GB,');
  const r = run(write('quantity.yaml', text), ['--no-helm']);
  assert.is(r.code, 1);
  const line = lineOf(text, /memory: 3GB/);
  const column = text.split('\n')[line - 1]!.indexOf('3GB') + 1;
  assert.match(r.stdout, `quantity.yaml:${line}:${column}: triton.resources.limits.memory: "3GB" is not a Kubernetes quantity: write 3G (powers of 1000) or 3Gi (powers of 1024)`);
  assert.is(quantitySpelling('512 Mi', true), '512Mi');
  assert.is(quantitySpelling('2gib', true), '2Gi');
  assert.is(quantitySpelling('lots', true), undefined);
});

cli('a legacy 0.3 key: a warning naming what replaced it; alone, still exit 0 (Helm accepts it)', () => {
  const text = inject(compat('values-minimal.yaml'), /^triton:\n/m, 'triton:\n  name: triton\n');
  const r = run(write('legacy.yaml', text));
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /legacy\.yaml:\d+:3: warning: triton\.name: legacy key from SuperSONIC 0\.3: .*`nameOverride` or `fullnameOverride`/);
});

cli('a null that removes a required default: named as such', () => {
  const r = run(write('null.yaml', 'triton:\n  service: null\n'), ['--no-helm']);
  assert.is(r.code, 1);
  assert.match(r.stdout, /null\.yaml:2:3: triton\.service: is required, but set to null, which removes the chart's default/);
});

for (const binary of ['helm', 'helm3'] as const) {
  cli(`${binary}: a cross-field check the templates fail on, mapped to the key in the file`, () => {
    const text = `${compat('values-minimal.yaml')}\nkeda:\n  enabled: true\n  minReplicaCount: 5\n  maxReplicaCount: 2\nprometheus:\n  external:\n    enabled: true\n    url: http://prometheus:9090\n`;
    const file = write(`cross-${binary}.yaml`, text);
    const r = run(file, [], { HELM: helmPath(binary) });
    assert.is(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, `${file}:${lineOf(text, /minReplicaCount: 5/)}:3: keda.minReplicaCount: keda.minReplicaCount (5) is above keda.maxReplicaCount (2) (the chart's check, as helm install runs it)`);
  });
}

cli('without Helm: schema checks only, and a note that the cross-field checks were skipped', () => {
  const r = run(join(COMPAT_DIR, 'values-minimal.yaml'), [], { HELM: '', PATH: '/nonexistent' });
  assert.is(r.code, 0);
  assert.match(r.stderr, /helm not found.*cross-field checks were skipped/);
});

cli('YAML that does not parse: exit 2, with the line', () => {
  const text = inject(compat('values-minimal.yaml'), /^triton:\n/m, 'triton:\n  replicas: [1\n');
  const r = run(write('broken.yaml', text));
  assert.is(r.code, 2);
  assert.match(r.stderr, /broken\.yaml:\d+:\d+: invalid YAML: /);
  assert.is(r.stdout, '');
});

cli('a file that cannot be read: exit 2', () => {
  const r = run(join(scratch, 'missing.yaml'));
  assert.is(r.code, 2);
  assert.match(r.stderr, /missing\.yaml: cannot read: no such file/);
});

cli.after(() => rmSync(scratch, { recursive: true, force: true }));
cli.run();

const module = suite('values-validator: the module the servers share');

module('a section against its subschema, named with its prefix, defaults merged (as the webhook checks its ConfigMap)', () => {
  const result = validateValuesText(schema, 'injection:\n  cvmfss: {}\n', { section: ['webhook'], defaults: defaults.webhook });
  assert.equal(result.problems.map((p) => [p.line, p.column, p.key]), [[2, 3, 'webhook.injection.cvmfss']]);
  assert.match(result.problems[0]!.message, /did you mean webhook\.injection\.cvmfs\?/);
  assert.equal(validateValuesText(schema, '{}\n', { section: ['webhook'], defaults: defaults.webhook }).problems, []);
});

module('imports nothing from Node, so a browser can run it: only ajv, yaml and its own folder', () => {
  const imports = (file: string) => [...readFileSync(join(REPO_ROOT, 'core/src/validate', file), 'utf8').matchAll(/from '([^']+)'/g)].map((m) => m[1]!);
  assert.equal(imports('values-validator.ts').sort(), ['./closest-name.ts', './quantity.ts', 'ajv', 'yaml']);
  assert.equal(imports('quantity.ts'), []);
  assert.equal(imports('closest-name.ts'), []);
});

module.run();

const editor = suite('the editor schema: no required, nothing else removed');

editor('an override file alone has no error against it, but many "required" against the chart\'s schema', () => {
  const values = parse(compat('values-minimal.yaml')) as Record<string, any>;
  const ajv = () => new Ajv({ strict: false, allErrors: true, allowUnionTypes: true });
  const strict = ajv().compile(schema);
  assert.not.ok(strict(values));
  assert.ok(strict.errors!.every((e) => e.keyword === 'required'), 'the chart schema refuses it only for required keys');
  const loose = ajv().compile(editorSchema(schema));
  assert.ok(loose(values), JSON.stringify(loose.errors));
  const broken = { ...values, triton: { ...values.triton, replica: 2 } };
  assert.not.ok(loose(broken));
  assert.equal(loose.errors!.map((e) => `${e.instancePath} ${e.keyword}`), ['/triton additionalProperties']);
  assert.not.match(JSON.stringify(editorSchema(schema)), /"required":\[/);
  const withoutRequired = JSON.stringify(schema).replace(/,"required":\[[^\]]*\]/g, '').replace(/"required":\[[^\]]*\],/g, '');
  assert.is(JSON.stringify(editorSchema(schema)), withoutRequired);
});

editor.run();

const bundle = suite('dist/supersonic-validate.mjs: one file, runs outside the checkout');

bundle('bundled with the chart embedded: finds the same problems, cross-field ones included', () => {
  const dir = mkdtempSync(join(tmpdir(), 'supersonic-validate-bundle-'));
  try {
    const archive = join(dir, 'supersonic.tgz');
    spawnSync(helmPath('helm'), ['package', join(REPO_ROOT, 'chart/supersonic'), '--destination', dir], { encoding: 'utf8' });
    const [packaged] = readFileSync(join(REPO_ROOT, 'chart/supersonic/Chart.yaml'), 'utf8').match(/^version: .*$/m)!;
    writeFileSync(archive, readFileSync(join(dir, `supersonic-${packaged.slice(9).trim()}.tgz`)));
    const out = join(dir, 'supersonic-validate.mjs');
    bundleValidator(out, archive, packaged.slice(9).trim());
    const text = readFileSync(out, 'utf8');
    assert.ok(text.startsWith('#!/usr/bin/env node\n'));
    assert.not.match(text, /from ['"](?!node:)[^'"]+['"]/, 'no import but Node\'s own');
    const file = join(dir, 'v.yaml');
    writeFileSync(file, 'keda:\n  enabled: true\n  minReplicaCount: 5\n  maxReplicaCount: 2\nprometheus:\n  external: {enabled: true, url: "http://p:9090"}\ntriton:\n  replica: 1\n');
    const schemaOnly = spawnSync(process.execPath, [out, 'validate', '-f', file], { cwd: dir, encoding: 'utf8', env: { ...process.env, HELM: helmPath('helm') } });
    assert.is(schemaOnly.status, 1);
    assert.match(schemaOnly.stdout, 'v.yaml:8:3: triton.replica: unknown key (did you mean triton.replicas?)');
    writeFileSync(file, readFileSync(file, 'utf8').replace('  replica: 1', '  replicas: 1'));
    const cross = spawnSync(process.execPath, [out, 'validate', '-f', file], { cwd: dir, encoding: 'utf8', env: { ...process.env, HELM: helmPath('helm') } });
    assert.is(cross.status, 1, cross.stderr);
    assert.match(cross.stdout, 'v.yaml:3:3: keda.minReplicaCount: keda.minReplicaCount (5) is above');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

bundle.run();
