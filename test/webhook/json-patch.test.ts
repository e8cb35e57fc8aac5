/**
 * patchBetween against fast-json-patch: on every admission fixture's mutation and on thousands of
 * random copy-on-write edits, it gives the same operations as fast-json-patch's `compare`, and
 * fast-json-patch's `applyPatch` of it turns the original into the edited tree. The original is
 * frozen throughout, so neither the edit nor the diff can have changed it.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import fastJsonPatch, { type Operation } from 'fast-json-patch';
import { patchBetween } from '../../webhook/src/admission/json-patch.ts';
import { deepFreeze } from '#core/deep-freeze.ts';
import { pick, random } from '../helpers/random.ts';
import { FIXTURES } from '../helpers/webhook.ts';

const diff = suite('webhook: patchBetween');
const EDITS = 5_000;

/** Same operations in any order (compare emits removals first, patchBetween in key order). */
function assertSameOperations(ours: Operation[], theirs: Operation[], context: string): void {
  const key = (operations: Operation[]) => operations.map((operation) => JSON.stringify(operation)).sort();
  assert.equal(key(ours), key(theirs), context);
}

function assertApplies(before: unknown, after: unknown, operations: Operation[], context: string): void {
  const patched = fastJsonPatch.applyPatch(structuredClone(before), operations, true, false).newDocument;
  const expected = JSON.parse(JSON.stringify(after));
  // isDeepStrictEqual, not assert.equal: dequal compares a `constructor` key as the object's class.
  if (!isDeepStrictEqual(patched, expected)) assert.unreachable(`${context}: the patch gives ${JSON.stringify(patched)}, not ${JSON.stringify(expected)}`);
}

diff('an unchanged tree gives no operations, whatever its size', () => {
  const tree = deepFreeze({ a: [1, { b: 'c' }], d: { e: null } });
  assert.equal(patchBetween(tree, tree), []);
  assert.equal(patchBetween(tree, { ...tree }), []);
});

diff('keys that need escaping, and keys that are names of inherited properties', () => {
  const before = deepFreeze({ metadata: { annotations: { 'example.org/a': 'x' } } });
  const after = { metadata: { annotations: { 'example.org/a': 'y', 'b~c': 'z', constructor: 'k', toString: 't' } } };
  const operations = patchBetween(before, after);
  assert.equal(operations, [
    { op: 'replace', path: '/metadata/annotations/example.org~1a', value: 'y' },
    { op: 'add', path: '/metadata/annotations/b~0c', value: 'z' },
    { op: 'add', path: '/metadata/annotations/constructor', value: 'k' },
    { op: 'add', path: '/metadata/annotations/toString', value: 't' },
  ]);
  assertApplies(before, after, operations, 'escaped keys');
});

diff('appended list items are added in order; dropped ones are removed from the end', () => {
  const before = deepFreeze({ list: ['a', 'b', 'c'] });
  assert.equal(patchBetween(before, { list: ['a', 'b', 'c', 'd', 'e'] }), [
    { op: 'add', path: '/list/3', value: 'd' },
    { op: 'add', path: '/list/4', value: 'e' },
  ]);
  assert.equal(patchBetween(before, { list: ['a'] }), [
    { op: 'remove', path: '/list/2' },
    { op: 'remove', path: '/list/1' },
  ]);
});

diff('a key set to undefined is absent, and a list item undefined or missing is null, as in JSON', () => {
  const before = deepFreeze({ a: 1, b: 2, list: ['x', 'y'] });
  assert.equal(patchBetween(before, { a: 1, b: undefined, c: undefined, list: ['x', 'y'] }), [{ op: 'remove', path: '/b' }]);
  const after = { a: 1, b: 2, list: ['x', undefined, undefined] };
  delete after.list[2]; // a hole
  const operations = patchBetween(before, after);
  assert.equal(operations, [
    { op: 'replace', path: '/list/1', value: null },
    { op: 'add', path: '/list/2', value: null },
  ]);
  assertApplies(before, after, operations, 'undefined items');
});

diff('an enumerable property on Object.prototype is not a key of every object', () => {
  const before = deepFreeze({ metadata: { annotations: { a: '1' } } });
  const after = { metadata: { annotations: { a: '1', b: '2' } } };
  Object.defineProperty(Object.prototype, 'polluted', { value: 'x', enumerable: true, configurable: true });
  try {
    assert.equal(patchBetween(before, after), [{ op: 'add', path: '/metadata/annotations/b', value: '2' }]);
  } finally {
    delete (Object.prototype as Record<string, unknown>).polluted;
  }
});

diff('every admission fixture: the same operations as compare, on a frozen pod', () => {
  let mutated = 0;
  for (const name of readdirSync(FIXTURES)) {
    const pod = JSON.parse(readFileSync(join(FIXTURES, name, 'review.json'), 'utf8')).request.object;
    let patched: unknown;
    try {
      patched = JSON.parse(readFileSync(join(FIXTURES, name, 'patched-pod.json'), 'utf8'));
    } catch {
      continue; // not mutated
    }
    deepFreeze(pod);
    // The golden pod shares nothing with the input, so this walks every field of both.
    const operations = patchBetween(pod, patched);
    assertSameOperations(operations, fastJsonPatch.compare(pod, patched as object), name);
    assertApplies(pod, patched, operations, name);
    mutated++;
  }
  assert.ok(mutated >= 8, `only ${mutated} fixtures with a golden patched pod`);
});

const KEYS = ['a', 'b', 'c', 'a/b', 'x~y', '', 'constructor', 'toString', '0', 'nvidia.com/gpu'];
const SCALARS = [null, 0, 1, -1.5, '', 'text', true, false];

function randomValue(next: () => number, depth = 0): unknown {
  const kind = next();
  if (depth > 3 || kind < 0.5) return pick(next, SCALARS);
  if (kind < 0.75) return Array.from({ length: Math.floor(next() * 4) }, () => randomValue(next, depth + 1));
  return Object.fromEntries(Array.from({ length: Math.floor(next() * 4) }, () => [pick(next, KEYS), randomValue(next, depth + 1)]));
}

/**
 * A copy-on-write edit, as the mutations make one: changed containers are copies, unchanged
 * subtrees stay shared. Replaces, deletes, adds, appends, truncates, changes types, and now and
 * then leaves a list item undefined (which JSON, and the patch, write as null).
 */
function edit(next: () => number, value: unknown, depth = 0): unknown {
  const roll = next();
  if (roll < 0.35) return value; // shared, unchanged
  if (roll < 0.45 || typeof value !== 'object' || value === null || depth > 4) return randomValue(next, depth);
  if (Array.isArray(value)) {
    const copy = value.map((item) => (next() < 0.4 ? edit(next, item, depth + 1) : next() < 0.05 ? undefined : item));
    if (next() < 0.3) copy.length = Math.floor(next() * copy.length);
    while (next() < 0.4) copy.push(randomValue(next, depth + 1));
    return copy;
  }
  const copy: Record<string, unknown> = { ...value };
  for (const key of Object.keys(copy)) {
    const choice = next();
    if (choice < 0.15) delete copy[key];
    else if (choice < 0.5) copy[key] = edit(next, copy[key], depth + 1);
  }
  while (next() < 0.3) copy[pick(next, KEYS)] = randomValue(next, depth + 1);
  return copy;
}

diff(`${EDITS} random copy-on-write edits: the same operations as compare, and they apply`, () => {
  const next = random(7);
  for (let i = 0; i < EDITS; i++) {
    const before = deepFreeze({ root: randomValue(next), other: randomValue(next) });
    const after = edit(next, before) as object;
    if (typeof after !== 'object' || after === null || Array.isArray(after)) continue; // a patch's root stays an object
    const operations = patchBetween(before, after);
    // compare is given the edit as JSON writes it (undefined list items become null).
    assertSameOperations(operations, fastJsonPatch.compare(before, JSON.parse(JSON.stringify(after))), `edit ${i}`);
    assertApplies(before, after, operations, `edit ${i}`);
  }
});

diff.run();
