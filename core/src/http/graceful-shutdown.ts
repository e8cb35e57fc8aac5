/**
 * How both servers stop on SIGTERM (or SIGINT): readiness turns off at once (`draining()` is
 * true, so /readyz answers 503), then, after `delayMs`, so that the endpoint controller has
 * taken the pod out of its Service and no new request is sent, the server stops listening and
 * waits for every request in flight (streams too); then `cleanup` stops the watches, and the
 * process exits 0. A second signal changes nothing.
 */
import type { FastifyInstance } from 'fastify';

export interface ShutdownOptions {
  delayMs: number;
  /** Stops what runs beside the server (watches, timers, TLS), after the last request. */
  cleanup: () => void | Promise<void>;
}

export function onShutdownSignal(app: FastifyInstance, options: ShutdownOptions): { draining: () => boolean } {
  let draining = false;
  const shutdown = async (signal: string) => {
    if (draining) return;
    draining = true;
    app.log.info({ signal }, 'shutting down: readiness off, draining');
    await new Promise((resolve) => setTimeout(resolve, options.delayMs));
    // close() stops accepting and resolves when every request in flight is done.
    await app.close();
    await options.cleanup();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
  return { draining: () => draining };
}
