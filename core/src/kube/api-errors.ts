/**
 * Reading @kubernetes/client-node's errors: an ApiException carries the HTTP status as `code`
 * and the API server's Status object as `body` (text).
 */

/** The HTTP status of a failed API call; undefined for a network error. */
export function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'number' ? code : undefined;
}

/** The object, or undefined when the API server answers 404. */
export async function orUndefinedOn404<T>(request: Promise<T>): Promise<T | undefined> {
  try {
    return await request;
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw err;
  }
}

/** One line instead of client-node's message, which embeds every response header. */
export function describeApiError(err: unknown): string {
  const code = statusOf(err);
  if (code === undefined) return err instanceof Error ? err.message : String(err);
  let body = (err as { body?: unknown }).body;
  try {
    if (typeof body === 'string') body = JSON.parse(body);
  } catch {}
  const message = (body as { message?: string } | undefined)?.message;
  return `HTTP ${code}${message ? `: ${message}` : ''}`;
}
