import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultsOf, describeType, resolveRef, walkValues } from '../../generator/src/schema/walk.ts';
import type { SchemaNode } from '../../generator/src/schema/types.ts';
import { validSchema } from '../helpers/schema-fixtures.ts';

/** `[dotted, kind, depth]` of every key, for compact comparisons. */
function outline(root: SchemaNode): [string, string, number][] {
  return walkValues(root).map((key) => [key.dotted, key.kind, key.depth]);
}

const walk = suite('schema/walk: walkValues');

walk('lists every key depth first, in schema order, with dotted path, kind and depth', () => {
  assert.equal(outline(validSchema()), [
    ['global', 'leaf', 0],
    ['replicas', 'leaf', 0],
    ['app', 'group', 0],
    ['app.image', 'leaf', 1],
    ['app.labels', 'leaf', 1],
    ['app.cpu', 'leaf', 1],
  ]);
});

walk('keeps the declaration order rather than sorting, and gives paths as arrays too', () => {
  const schema = validSchema();
  const { app, ...rest } = schema.properties!;
  schema.properties = { app: { ...app!, properties: { zeta: app!.properties!.cpu!, alpha: app!.properties!.image! } }, ...rest };
  const keys = walkValues(schema);
  assert.equal(keys.map((key) => key.dotted), ['app', 'app.zeta', 'app.alpha', 'global', 'replicas']);
  assert.equal(keys[1]!.path, ['app', 'zeta']);
});

walk('descends through nested groups, counting depth from 0 at the root', () => {
  const schema = validSchema();
  schema.properties!.app!.properties!.probe = {
    type: 'object',
    additionalProperties: false,
    description: 'A probe.',
    properties: { http: { type: 'object', additionalProperties: false, description: 'HTTP.', properties: { path: { type: 'string', default: '/', description: 'Path.' } } } },
  };
  assert.equal(outline(schema).slice(-3), [
    ['app.probe', 'group', 1],
    ['app.probe.http', 'group', 2],
    ['app.probe.http.path', 'leaf', 3],
  ]);
});

walk('a closed object with its own default is a leaf, and its keys are not listed', () => {
  const schema = validSchema();
  schema.properties!.resources = {
    type: 'object',
    additionalProperties: false,
    description: 'Resources.',
    default: { cpu: 1 },
    properties: { cpu: { type: 'number', description: 'CPU.' } },
  };
  const keys = walkValues(schema);
  assert.equal(outline(schema).at(-1), ['resources', 'leaf', 0]);
  assert.not.ok(keys.some((key) => key.dotted === 'resources.cpu'));
});

walk('open objects and free-form maps are leaves, even with declared properties', () => {
  const schema = validSchema();
  schema.properties!.extra = { type: 'object', additionalProperties: true, description: 'Open.', properties: { a: { type: 'string' } } };
  assert.equal(outline(schema).at(-1), ['extra', 'leaf', 0]);
  assert.equal(walkValues(schema).find((key) => key.dotted === 'app.labels')!.kind, 'leaf');
});

walk('resolves a #/definitions reference, keywords beside the $ref winning over the definition', () => {
  const schema = validSchema();
  schema.definitions!.stringMap!.description = 'From the definition.';
  const labels = walkValues(schema).find((key) => key.dotted === 'app.labels')!;
  assert.equal(labels.node, {
    type: 'object',
    additionalProperties: { type: 'string' },
    description: 'Labels.',
    default: {},
    examples: [{ a: 'b' }],
  });
  assert.is(labels.node.$ref, undefined);
});

walk('a reference to a closed definition is a group, and its keys are walked', () => {
  const schema = validSchema();
  schema.definitions!.port = {
    type: 'object',
    additionalProperties: false,
    description: 'From the definition.',
    properties: { number: { $ref: '#/definitions/portNumber', default: 80, description: 'Number.' } },
  };
  schema.definitions!.portNumber = { $ref: '#/definitions/positive', maximum: 65535 };
  schema.definitions!.positive = { type: 'integer', minimum: 1 };
  schema.properties!.http = { $ref: '#/definitions/port', description: 'HTTP port.' };
  const keys = walkValues(schema);
  assert.equal(outline(schema).slice(-2), [
    ['http', 'group', 0],
    ['http.number', 'leaf', 1],
  ]);
  assert.is(keys.at(-2)!.node.description, 'HTTP port.');
  // A chain of references is followed to the end, each level's own keywords kept.
  assert.equal(keys.at(-1)!.node, { type: 'integer', minimum: 1, maximum: 65535, default: 80, description: 'Number.' });
});

walk('an unresolvable or non-local reference throws, naming it', () => {
  const root = validSchema();
  assert.throws(() => resolveRef({ $ref: '#/definitions/nope' }, root), /unresolvable \$ref "#\/definitions\/nope"/);
  assert.throws(() => resolveRef({ $ref: '#/properties/app' }, root), /unresolvable \$ref "#\/properties\/app"/);
});

const defaults = suite('schema/walk: defaultsOf');

defaults('assembles the defaults of nested groups from their leaves, in schema order', () => {
  const schema = validSchema();
  schema.properties!.app!.properties!.probe = {
    type: 'object',
    additionalProperties: false,
    description: 'A probe.',
    properties: { path: { type: 'string', default: '/healthz', description: 'Path.' }, period: { type: 'integer', default: 10, description: 'Period.' } },
  };
  const result = defaultsOf(schema, schema);
  const expected = { global: {}, replicas: 1, app: { image: 'nginx:1', labels: {}, cpu: '500m', probe: { path: '/healthz', period: 10 } } };
  assert.equal(result, expected);
  assert.is(JSON.stringify(result), JSON.stringify(expected), 'key order follows the schema');
});

defaults('a leaf that is a closed object with a default contributes that default whole', () => {
  const schema = validSchema();
  schema.properties!.resources = {
    type: 'object',
    additionalProperties: false,
    description: 'Resources.',
    default: { cpu: 1 },
    properties: { cpu: { type: 'number', default: 99, description: 'CPU.' }, memory: { type: 'string', default: '1G', description: 'Memory.' } },
  };
  assert.equal(defaultsOf(schema, schema).resources, { cpu: 1 });
});

defaults('defaults come through references, and the default beside the $ref wins', () => {
  const schema = validSchema();
  schema.definitions!.quantity!.default = '1';
  assert.is((defaultsOf(schema, schema).app as Record<string, unknown>).cpu, '500m');
});

defaults('leaves out deprecated keys', () => {
  const schema = validSchema();
  schema.properties!.app!.properties!.name = { type: 'string', deprecated: true, description: 'Deprecated: use image.' };
  const app = defaultsOf(schema, schema).app as Record<string, unknown>;
  assert.not.ok('name' in app, JSON.stringify(app));
  assert.equal(Object.keys(app), ['image', 'labels', 'cpu']);
});

defaults('leaves out a deprecated group, though its keys have defaults', () => {
  // The lint rules require defaults on the (non-deprecated) keys of a deprecated group, so the
  // group would otherwise reappear in values.yaml with those defaults.
  const schema = validSchema();
  schema.properties!.legacy = {
    type: 'object',
    additionalProperties: false,
    deprecated: true,
    description: 'Deprecated: use app.',
    properties: { image: { type: 'string', default: 'old:1', description: 'Old image.' } },
  };
  const result = defaultsOf(schema, schema);
  assert.not.ok('legacy' in result, JSON.stringify(result));
});

const types = suite('schema/walk: describeType');
const root = validSchema();
const describe = (node: SchemaNode) => describeType(node, root);

types('a plain type is named as is, a union of types joined with "or"', () => {
  assert.is(describe({ type: 'integer', minimum: 0 }), 'integer');
  assert.is(describe({ type: 'boolean' }), 'boolean');
  assert.is(describe({ type: ['string', 'null'] }), 'string or null');
  assert.is(describe({ description: 'Anything.' }), 'any');
});

types('an enum lists its values', () => {
  assert.is(describe({ type: 'string', enum: ['Always', 'IfNotPresent', 'Never'] }), 'string (one of "Always", "IfNotPresent", "Never")');
  assert.is(describe({ enum: [1, 2] }), 'value (one of 1, 2)');
});

types('anyOf and oneOf list the distinct alternatives, through references', () => {
  assert.is(describe({ $ref: '#/definitions/quantity' }), 'number or string');
  assert.is(describe({ oneOf: [{ type: 'string', minLength: 1 }, { type: 'integer' }, { type: 'string', pattern: '^a' }] }), 'string or integer');
});

types('maps are named by their value type, closed objects and open ones as "object"', () => {
  assert.is(describe({ $ref: '#/definitions/stringMap' }), 'map of string');
  assert.is(describe({ type: 'object', additionalProperties: { $ref: '#/definitions/quantity' } }), 'map of number or string');
  assert.is(describe({ type: 'object', additionalProperties: true }), 'object');
  assert.is(describe(root.properties!.app!), 'object');
});

types('arrays are named by their item type', () => {
  const closedItem: SchemaNode = { type: 'object', additionalProperties: false, properties: { name: { type: 'string' } } };
  assert.is(describe({ type: 'array', items: closedItem }), 'array of object');
  assert.is(describe({ type: 'array', items: { type: 'object', additionalProperties: true } }), 'array of object');
  assert.is(describe({ type: 'array', items: { type: 'string' } }), 'array of string');
  assert.is(describe({ type: 'array', items: { $ref: '#/definitions/stringMap' } }), 'array of map of string');
  assert.is(describe({ type: 'array' }), 'array');
});

walk.run();
defaults.run();
types.run();
