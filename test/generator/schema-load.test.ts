import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { loadSchema } from '../../generator/src/schema/load.ts';
import { writeSchemaFiles } from '../helpers/schema-fixtures.ts';

const load = suite('schema/load: bundling the YAML schema files');
const chart = { name: 'x', version: '0.1.0' };

load('replaces a file $ref with the file, keeping keywords written beside the reference', () => {
  const dir = writeSchemaFiles({
    'root.yaml': { 'x-chart': chart, type: 'object', properties: { app: { $ref: 'app.yaml', description: 'Beside the ref.' } } },
    'app.yaml': { type: 'object', description: 'In the file.', properties: { port: { type: 'integer' } } },
  });
  const { root, chart: meta } = loadSchema(join(dir, 'root.yaml'));
  assert.equal(root.properties?.app, { type: 'object', description: 'Beside the ref.', properties: { port: { type: 'integer' } } });
  assert.equal(meta, chart);
});

load('${chartVersion} and ${appVersion} in any string become x-chart\'s versions; an unknown placeholder is refused where it is', () => {
  const versioned = { name: 'x', version: '1.2.3', appVersion: '26.04' };
  const dir = writeSchemaFiles({
    'root.yaml': { 'x-chart': versioned, type: 'object', properties: { image: { type: 'string', default: 'registry/servers:${chartVersion}', examples: ['triton:${appVersion}-py3'] } } },
  });
  const { root } = loadSchema(join(dir, 'root.yaml'));
  assert.is(root.properties?.image?.default, 'registry/servers:1.2.3');
  assert.equal(root.properties?.image?.examples, ['triton:26.04-py3']);
  const bad = writeSchemaFiles({ 'root.yaml': { 'x-chart': versioned, properties: { image: { default: 'a:${version}' } } } });
  assert.throws(() => loadSchema(join(bad, 'root.yaml')), /#\/properties\/image\/default: unknown placeholder \$\{version\}/);
});

load('keeps #/definitions references for the published schema', () => {
  const dir = writeSchemaFiles({
    'root.yaml': { 'x-chart': chart, properties: { a: { $ref: '#/definitions/b' } }, definitions: { $ref: 'defs.yaml' } },
    'defs.yaml': { b: { type: 'string' } },
  });
  const { root } = loadSchema(join(dir, 'root.yaml'));
  assert.equal(root.properties?.a, { $ref: '#/definitions/b' });
  assert.equal(root.definitions, { b: { type: 'string' } });
});

load('refuses a remote $ref, naming the file and location', () => {
  const dir = writeSchemaFiles({ 'root.yaml': { 'x-chart': chart, properties: { a: { $ref: 'https://example.org/s.json' } } } });
  assert.throws(() => loadSchema(join(dir, 'root.yaml')), /root\.yaml at #\/properties\/a: remote \$ref "https:\/\/example\.org\/s\.json" is not allowed/);
});

load('reports a missing referenced file and a reference loop', () => {
  const missing = writeSchemaFiles({ 'root.yaml': { 'x-chart': chart, properties: { a: { $ref: 'nope.yaml' } } } });
  assert.throws(() => loadSchema(join(missing, 'root.yaml')), /cannot read referenced file .*nope\.yaml/);
  const loop = writeSchemaFiles({
    'root.yaml': { 'x-chart': chart, properties: { a: { $ref: 'a.yaml' } } },
    'a.yaml': { properties: { b: { $ref: 'root.yaml' } } },
  });
  assert.throws(() => loadSchema(join(loop, 'root.yaml')), /loop: .*root\.yaml -> .*a\.yaml -> .*root\.yaml/);
});

load('reports invalid YAML with its position, and a root without x-chart', () => {
  const bad = writeSchemaFiles({ 'root.yaml': 'a: {b: c: d}\n' });
  assert.throws(() => loadSchema(join(bad, 'root.yaml')), /root\.yaml: invalid YAML: .*line 1/);
  const noChart = writeSchemaFiles({ 'root.yaml': { type: 'object' } });
  assert.throws(() => loadSchema(join(noChart, 'root.yaml')), /needs an `x-chart` map/);
});

load.run();
