/**
 * Quoting users back, as both servers' messages do. What users send (a pod's annotations, a
 * request's model id) reaches a server before anything validates its length, so what a message
 * or log line repeats of it is cut short: no client can make an answer megabytes long.
 */

/** How much of a user's value a message repeats. */
export const ECHO_LIMIT = 64;

/** `value` as text, cut to `limit` characters and an ellipsis when longer (never inside a surrogate pair). */
export function clip(value: unknown, limit = ECHO_LIMIT): string {
  const text = typeof value === 'string' ? value : String(value);
  if (text.length <= limit) return text;
  const end = /[\uD800-\uDBFF]/.test(text[limit - 1]!) ? limit - 1 : limit;
  return `${text.slice(0, end)}…`;
}

/** A user's value as messages quote it: JSON-quoted, cut to ECHO_LIMIT characters. */
export function quote(value: unknown): string {
  return JSON.stringify(clip(value));
}

/** Up to `shown` items, each cut short, then how many more: "a, b, c and 7 more". */
export function few(items: readonly unknown[], shown = 3): string {
  const listed = items.slice(0, shown).map((item) => clip(item)).join(', ');
  return items.length > shown ? `${listed} and ${items.length - shown} more` : listed;
}

