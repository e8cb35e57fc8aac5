/**
 * What a request can fail with, as the HTTP answer it becomes: a status, a message that says
 * what happened, and for a condition that may pass (a cold start, a full cluster, an API server
 * away) how many seconds to wait before trying again.
 */
export class DispatchError extends Error {
  readonly status: number;
  readonly retryAfterSeconds: number | undefined;

  constructor(status: number, message: string, retryAfterSeconds?: number) {
    super(message);
    this.status = status;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}
