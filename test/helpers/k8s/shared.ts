/**
 * Pieces every check uses: the callback a check reports problems through,
 * safe access to untyped (parsed YAML) objects, and JSON-pointer paths.
 */

/** How a check reports a problem: a JSON pointer into the object and what is wrong there. */
export type Report = (path: string, message: string) => void;

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Treats anything that is not an object as empty, so optional nested settings can be read without guards. */
export function asRecord(value: unknown): Record<string, unknown> {
  return isRecord(value) ? value : {};
}

/** Appends JSON-pointer segments, escaping "~" and "/" (annotation keys contain "/"). */
export function childPath(path: string, ...segments: (string | number)[]): string {
  return path + segments.map((segment) => `/${String(segment).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}
