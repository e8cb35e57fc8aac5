/** Liveness (the process answers) and readiness (it can do its job: certificate and node view loaded). */
import type { FastifyInstance } from 'fastify';

export function registerHealthRoutes(app: FastifyInstance, ready: () => boolean): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    if (ready()) return { status: 'ready' };
    reply.code(503);
    return { status: 'starting' };
  });
}
