/**
 * The webhook's HTTP application, built apart from starting it (tests use `inject()` or listen
 * on 127.0.0.1 themselves; server.ts wires it to TLS, Kubernetes and signals).
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { allow, deny, parseReview } from './admission/review.ts';
import { replyWithReview } from './routes/review-reply.ts';
import type { PodMutationDeps } from './admission/mutate-pod.ts';
import type { WebhookMetrics } from './metrics.ts';
import { registerHealthRoutes } from './routes/health.ts';
import { registerMetricsRoute } from './routes/metrics.ts';
import { registerMutateRoute } from './routes/mutate.ts';

/** An UPDATE review carries the object twice; pods with big specs exceed fastify's 1 MiB default. */
export const BODY_LIMIT = 8 * 1024 * 1024;

export interface AppOptions {
  deps: PodMutationDeps;
  metrics: WebhookMetrics;
  /** Readiness: the certificate and the first node list are loaded, and no shutdown has begun. */
  ready: () => boolean;
  /** True once shutdown has begun: answers then close their connection, so clients reconnect elsewhere. */
  draining?: () => boolean;
  https?: { key: string; cert: string };
  /** A pino logger (the server's), or fastify's logger options; none by default. */
  logger?: FastifyServerOptions['logger'] | FastifyBaseLogger;
  /**
   * For `make bench` only: POST /baseline does what any webhook must (reads the review, answers
   * a canned "allowed" echoing its uid) and nothing else, so the benchmark can compare /mutate
   * with the cost of HTTPS, fastify and JSON alone, in the same server.
   */
  benchmarkBaseline?: boolean;
}

export function buildApp(options: AppOptions): FastifyInstance {
  const logging = isLogger(options.logger) ? { loggerInstance: options.logger } : { logger: options.logger ?? false };
  const app = Fastify({
    ...logging,
    bodyLimit: BODY_LIMIT,
    // On close, idle keep-alive connections go at once; requests in flight finish first, and a
    // request arriving on an open connection is still answered (an AdmissionReview, not a 503).
    forceCloseConnections: 'idle',
    return503OnClosing: false,
    ...(options.https ? { https: options.https } : {}),
  } as FastifyServerOptions) as unknown as FastifyInstance;

  // Bodies are read as text and parsed by the route, so malformed JSON or an odd content type
  // still gets an AdmissionReview answer rather than fastify's own 400 or 415.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));

  app.setErrorHandler((error: Error & { statusCode?: number }, request, reply) => {
    if (request.url.startsWith('/mutate')) {
      request.log.warn({ err: error }, 'admission request rejected before parsing');
      reply.code(200).send(deny('', `the webhook could not read the request: ${error.message}`, error.statusCode ?? 500));
      return;
    }
    reply.send(error);
  });

  // While draining, each answer closes its keep-alive connection, so the API server's next call
  // opens a new one, which the Service sends to another replica.
  app.addHook('onSend', async (_request, reply) => {
    if (options.draining?.()) reply.header('connection', 'close');
  });

  registerMutateRoute(app, options.deps, options.metrics);
  registerHealthRoutes(app, options.ready);
  registerMetricsRoute(app, options.metrics.registry);
  if (options.benchmarkBaseline) {
    app.post('/baseline', async (request, reply) => {
      replyWithReview(reply);
      const parsed = parseReview(request.body);
      return allow(parsed.ok ? parsed.request.uid : '');
    });
  }
  return app;
}

function isLogger(value: unknown): value is FastifyBaseLogger {
  return !!value && typeof value === 'object' && typeof (value as { child?: unknown }).child === 'function';
}
