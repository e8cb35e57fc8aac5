/**
 * The JSON Patch (RFC 6902) that turns `before` into `after`, two JSON objects where `after` is
 * a copy-on-write edit of `before`: whatever the mutations did not change is still the same
 * object, so a subtree shared by reference is skipped without a look inside, and only the
 * changed paths are walked. Values are read as JSON would write them: a key whose value is
 * undefined is absent, and an undefined list item is null.
 *
 * It gives the operations fast-json-patch's `compare` gives, in another order (tests check the
 * two against each other, on every admission fixture and on thousands of random edits, and
 * apply ours with fast-json-patch's `applyPatch`), without `compare`'s JSON clone of every added
 * value, which was a quarter of the webhook's time per pod. Path segments are escaped with
 * fast-json-patch's own `escapePathComponent`.
 *
 * The operations' values are `after`'s own objects, not copies: serialise the patch before
 * changing either tree.
 */
import fastJsonPatch, { type Operation } from 'fast-json-patch';

const { escapePathComponent } = fastJsonPatch;

export function patchBetween(before: unknown, after: unknown): Operation[] {
  const operations: Operation[] = [];
  compareValues(before, after, '', operations);
  return operations;
}

function compareValues(before: unknown, after: unknown, path: string, operations: Operation[]): void {
  if (before === after) return;
  if (isContainer(before) && isContainer(after) && Array.isArray(before) === Array.isArray(after)) {
    if (Array.isArray(before)) compareArrays(before, after as unknown[], path, operations);
    else compareObjects(before as Record<string, unknown>, after as Record<string, unknown>, path, operations);
    return;
  }
  operations.push({ op: 'replace', path, value: after });
}

/** Items compared by index; appended items are added in order, dropped ones removed from the end. */
function compareArrays(before: unknown[], after: unknown[], path: string, operations: Operation[]): void {
  const common = Math.min(before.length, after.length);
  for (let i = 0; i < common; i++) compareValues(item(before, i), item(after, i), `${path}/${i}`, operations);
  for (let i = common; i < after.length; i++) operations.push({ op: 'add', path: `${path}/${i}`, value: item(after, i) });
  for (let i = before.length - 1; i >= after.length; i--) operations.push({ op: 'remove', path: `${path}/${i}` });
}

/** A list item as JSON writes it: a hole or undefined is null. */
function item(list: unknown[], index: number): unknown {
  return list[index] ?? null;
}

/** A key whose value is undefined is absent, as in JSON; inherited properties are not keys. */
function compareObjects(before: Record<string, unknown>, after: Record<string, unknown>, path: string, operations: Operation[]): void {
  // for-in, not Object.keys: no array per object (own keys only, should anything ever add an
  // enumerable property to Object.prototype).
  for (const key in before) {
    if (!Object.hasOwn(before, key)) continue;
    if (before[key] !== undefined && ownValue(after, key) === undefined) operations.push({ op: 'remove', path: `${path}/${escapePathComponent(key)}` });
  }
  for (const key in after) {
    if (!Object.hasOwn(after, key)) continue;
    const value = after[key];
    const previous = ownValue(before, key);
    if (value === previous || value === undefined) continue; // the common case: shared, so unchanged
    const keyPath = `${path}/${escapePathComponent(key)}`;
    if (previous === undefined) operations.push({ op: 'add', path: keyPath, value });
    else compareValues(previous, value, keyPath, operations);
  }
}

function ownValue(object: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(object, key) ? object[key] : undefined;
}

function isContainer(value: unknown): value is object {
  return typeof value === 'object' && value !== null;
}
