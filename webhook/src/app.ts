/**
 * The webhook's HTTP application, built apart from starting it (tests use `inject()` or listen
 * on 127.0.0.1 themselves; server.ts wires it to TLS, Kubernetes and signals).
 */
import type { IncomingMessage } from 'node:http';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { allow, deny, parseReview } from './admission/review.ts';
import { replyWithReview } from './routes/review-reply.ts';
import type { PodMutationDeps } from './admission/mutate-pod.ts';
import type { WebhookMetrics } from './metrics.ts';
import { registerHealthRoutes } from '#core/http/health-routes.ts';
import { registerMetricsRoute } from '#core/http/metrics-route.ts';
import { registerMutateRoute } from './routes/mutate.ts';
import { SERVING_TLS_OPTIONS } from '#core/tls/policy.ts';
import {
  BODY_LIMIT, BodyBudget, ConnectionGuard, createRefusals, KEEP_ALIVE_TIMEOUT_MS, Overloaded, BodyTooLarge, serverLimits, serverTimeouts, type ServerLimits,
} from './server-limits.ts';

export interface AppOptions {
  deps: PodMutationDeps;
  metrics: WebhookMetrics;
  /**
   * Readiness: the certificate and the first node list are loaded, and no shutdown has begun.
   * A string is a reason for not being ready, answered as /readyz's status.
   */
  ready: () => boolean | string;
  /** True once shutdown has begun: answers then close their connection, so clients reconnect elsewhere. */
  draining?: () => boolean;
  https?: { key: string; cert: string };
  /** Timeouts, connection cap and room for bodies (server-limits.ts); by default from the configuration. */
  limits?: ServerLimits;
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
  const limits = options.limits ?? serverLimits(options.deps.config.values);
  const timeouts = serverTimeouts(limits);
  const app = Fastify({
    ...logging,
    // The body parser below enforces it (and more); this is for any parser of fastify's own.
    bodyLimit: BODY_LIMIT,
    // Node's own timeouts (handshake, headers, whole request, idle keep-alive), which fastify
    // leaves unset or at Node's defaults: server-limits.ts says why each is what it is.
    requestTimeout: timeouts.requestTimeout,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    http: timeouts,
    // On close, idle keep-alive connections go at once; requests in flight finish first, and a
    // request arriving on an open connection is still answered (an AdmissionReview, not a 503).
    forceCloseConnections: 'idle',
    return503OnClosing: false,
    // TLS 1.2+, Mozilla's intermediate suites, no renegotiation (tls/policy.ts).
    ...(options.https ? { https: { ...SERVING_TLS_OPTIONS, ...options.https, ...timeouts } } : {}),
  } as unknown as FastifyServerOptions) as unknown as FastifyInstance;

  const refusals = createRefusals(options.metrics.registry, (figures, message) => app.log.warn({ refused: figures }, message));
  const connections = new ConnectionGuard(limits.maxConnections, limits.requestTimeoutMs, refusals);
  connections.attach(app.server);
  const bodies = new BodyBudget(limits.maxBodyBytesInFlight, refusals);
  app.addHook('onClose', (_app, done) => {
    refusals.stop();
    done();
  });
  // A connection's state for the cap, and a body's bytes held until its answer is sent.
  app.addHook('onRequest', (request, reply, done) => {
    connections.requestBegun(request.raw);
    reply.raw.once('close', () => bodies.release(request.raw));
    done();
  });
  app.addHook('preHandler', (request, _reply, done) => {
    connections.answering(request.raw);
    done();
  });
  app.addHook('onResponse', (request, _reply, done) => {
    connections.answered(request.raw);
    done();
  });

  // Bodies are read as text (within the limits) and parsed by the route, so malformed JSON or an
  // odd content type still gets an AdmissionReview answer rather than fastify's own 400 or 415.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => bodies.read(payload as IncomingMessage, done));

  app.setErrorHandler((error: Error & { statusCode?: number }, request, reply) => {
    // Too much at once: not the request's fault, and not an answer about the pod. The connection
    // closes (fastify does so after a body it did not read), and the API server's next call opens
    // another, which the Service may send to another replica.
    if (error instanceof Overloaded) {
      reply.code(503).header('retry-after', '1').send({ message: error.message });
      return;
    }
    if (request.url.startsWith('/mutate')) {
      // Refused bodies are counted and logged together (server-limits.ts), not one line each.
      if (!(error instanceof BodyTooLarge)) request.log.warn({ err: error }, 'admission request rejected before parsing');
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
