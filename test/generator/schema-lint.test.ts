import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { lintSchema } from '../../generator/src/schema/lint.ts';
import { loadSchema } from '../../generator/src/schema/load.ts';
import { REPO_ROOT } from '../helpers/helm.ts';
import { validSchema } from '../helpers/schema-fixtures.ts';

const lint = suite('schema/lint: authoring rules');

lint('the project schema follows every rule', () => {
  const { root } = loadSchema(join(REPO_ROOT, 'schema/root.yaml'));
  assert.equal(lintSchema(root), []);
});

lint('a minimal valid schema has no problems', () => {
  assert.equal(lintSchema(validSchema()), []);
});

lint('an object that is neither closed nor declared free-form is reported with its path', () => {
  const schema = validSchema();
  delete schema.properties!.app!.additionalProperties;
  assert.ok(lintSchema(schema).some((p) => p.startsWith('app: object does not declare additionalProperties')));
});

lint('a nested object inside array items is checked too', () => {
  const schema = validSchema();
  schema.properties!.ports = { type: 'array', default: [], description: 'Ports.', items: { type: 'object', properties: { n: { type: 'string' } } } };
  assert.ok(lintSchema(schema).some((p) => p.startsWith('ports[]: object does not declare additionalProperties')));
});

lint('a key without description or a leaf without default is reported', () => {
  const schema = validSchema();
  delete schema.properties!.replicas!.description;
  delete schema.properties!.app!.properties!.image!.default;
  const problems = lintSchema(schema);
  assert.ok(problems.includes('replicas: has no description'), problems.join('\n'));
  assert.ok(problems.includes('app.image: has no default'), problems.join('\n'));
});

lint('a default or an example that does not validate against its own node is reported', () => {
  const schema = validSchema();
  schema.properties!.replicas!.default = -1;
  schema.properties!.app!.properties!.labels!.examples = [{ a: 1 }];
  schema.properties!.app!.properties!.cpu!.default = 'lots';
  const problems = lintSchema(schema).join('\n');
  assert.match(problems, /default does not validate: replicas: must be >= 0/);
  assert.match(problems, /examples\[0\] does not validate: app\.labels\.a: must be string/);
  assert.match(problems, /default does not validate: app\.cpu: must match pattern/);
});

lint('a misspelt keyword is an error, not silently ignored', () => {
  const schema = validSchema();
  (schema.properties!.replicas as Record<string, unknown>).minimun = 0;
  assert.match(lintSchema(schema).join('\n'), /unknown keyword: "minimun"/);
});

lint('a deprecated key must say so first and have no default', () => {
  const schema = validSchema();
  schema.properties!.old = { type: 'string', deprecated: true, default: '', description: 'Use new.' };
  const problems = lintSchema(schema).join('\n');
  assert.match(problems, /old: is deprecated, so its description must start with "Deprecated"/);
  assert.match(problems, /old: is deprecated, so it must have no default/);
});

lint('keys inside a deprecated group need no default, and the group must say it is deprecated', () => {
  const schema = validSchema();
  schema.properties!.legacy = {
    type: 'object', additionalProperties: false, deprecated: true, description: 'Deprecated: use app.',
    properties: { image: { type: 'string', description: 'Old image.' } },
  };
  assert.equal(lintSchema(schema), []);
  schema.properties!.legacy.description = 'Old settings.';
  assert.match(lintSchema(schema).join('\n'), /legacy: is deprecated, so its description must start with "Deprecated"/);
});

lint('the root must declare draft-07', () => {
  const schema = validSchema();
  schema.$schema = 'https://json-schema.org/draft/2020-12/schema';
  assert.match(lintSchema(schema).join('\n'), /\$schema must be http:\/\/json-schema\.org\/draft-07\/schema#/);
});

lint('the root must be closed and declare an open global', () => {
  const schema = validSchema();
  delete schema.properties!.global;
  assert.match(lintSchema(schema).join('\n'), /global: must be declared as an open object/);
  const open = validSchema();
  open.additionalProperties = true;
  assert.match(lintSchema(open).join('\n'), /the root object must be closed/);
});

lint.run();
