/** Liveness (the process answers) and readiness (it can do its job: certificate and node view loaded). */
import type { FastifyInstance } from 'fastify';

/** `ready` answers true, false (not yet, or shutting down) or why not (a node view gone stale, say). */
export function registerHealthRoutes(app: FastifyInstance, ready: () => boolean | string): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const state = ready();
    if (state === true) return { status: 'ready' };
    reply.code(503);
    return { status: typeof state === 'string' ? state : 'starting' };
  });
}
