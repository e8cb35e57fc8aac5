/**
 * The dispatcher's HTTP app: SSIS's body on any path, OpenAI-style bodies on /v1/chat/completions
 * and /v1/completions; each request is parsed, admitted within the limits, given its model's
 * Knative Service (created on the smallest free GPU share that fits when it has none, and waited
 * for), and forwarded there; the caller gets the model server's own answer, streamed through.
 * Every failure is a JSON answer with a status (and Retry-After where waiting helps); nothing a
 * request does ends the process.
 */
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { performance } from 'node:perf_hooks';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import { registerHealthRoutes } from '#core/http/health-routes.ts';
import { registerMetricsRoute } from '#core/http/metrics-route.ts';
import type { JwtVerifier } from './auth/jwt-verifier.ts';
import type { DispatcherValues } from './config.ts';
import { DispatchError } from './errors.ts';
import type { RequestLimits } from './limits.ts';
import type { DispatcherMetrics } from './metrics.ts';
import { secretNameFor, serviceNameFor } from './knative/model-name.ts';
import type { ModelObjects, ModelServices } from './knative/model-services.ts';
import { buildSecret, buildService, familyAutoscaling, familyOf } from './knative/service-spec.ts';
import type { Placer } from './placement/placer.ts';
import { forward } from './proxy/forward.ts';
import { parseRequest, type DispatchRequest } from './request/parse-request.ts';

export interface DispatcherDeps {
  config: () => DispatcherValues;
  /** Where the models' Services and Secrets live. */
  namespace: string;
  /** The release: every Service is labelled with it. */
  instance: string;
  services: ModelServices;
  placer: Placer;
  limits: RequestLimits;
  metrics: DispatcherMetrics;
  agent: http.Agent;
  logger: FastifyBaseLogger;
  /** true, false (starting, draining) or why not. */
  ready: () => boolean | string;
  /** Largest body accepted (fastify's bodyLimit, fixed at start). */
  bodyLimit: number;
  /** The gateway's token check, when it has one (auth/auth-config.ts); undefined: none. */
  verifier?: () => JwtVerifier | undefined;
}

/** A caller's own request id is kept when it looks like one; anything else gets a fresh one. */
const REQUEST_ID = /^[\w.:-]{1,128}$/;

export function buildDispatcherApp(deps: DispatcherDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.logger,
    bodyLimit: deps.bodyLimit,
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    // Streams may run for minutes; what bounds them is the model's own timeout (forward.ts).
    requestTimeout: 0,
    connectionTimeout: 0,
    return503OnClosing: true,
  });
  // The raw bytes: OpenAI bodies are forwarded as they came, and parse errors are ours to word.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  registerHealthRoutes(app, deps.ready);
  registerMetricsRoute(app, deps.metrics.registry);

  const handler = async (request: { url: string; body: unknown; id: string; log: FastifyBaseLogger; headers: Record<string, string | string[] | undefined> }, reply: FastifyReply) => {
    const received = performance.now();
    const verifier = deps.verifier?.();
    if (verifier) {
      const header = request.headers.authorization;
      const verdict = await verifier.verify(typeof header === 'string' ? header : undefined);
      if (!verdict.ok) {
        deps.metrics.requests.inc({ model: '', outcome: 'unauthorized' });
        reply.header('www-authenticate', 'Bearer');
        return sendError(reply, new DispatchError(401, verdict.message), request.id, undefined);
      }
    }
    const config = deps.config();
    const parsed = parseRequest({ path: request.url, body: request.body ?? Buffer.alloc(0) }, config.env);
    if (!parsed.ok) return sendError(reply, new DispatchError(400, parsed.error), request.id, undefined);
    const dispatch = parsed.request;
    const name = serviceNameFor(dispatch.modelId);
    let release: (() => void) | undefined;
    try {
      release = deps.limits.enter();
      const warm = deps.services.servingUrl(name);
      let coldSince: number | undefined;
      const url =
        warm ??
        (await deps.limits.queued(name, () => {
          coldSince = performance.now();
          return deps.services.ensure(name, () => modelObjects(deps, config, dispatch, name)).finally(() => deps.placer.release(name));
        }));
      const stream = dispatch.upstream.stream ? 'true' : 'false';
      const autoscaling = familyAutoscaling(config, familyOf(config, dispatch.modelId));
      if (coldSince === undefined) deps.metrics.overheadSeconds.observe({ stream }, (performance.now() - received) / 1000);
      const timings = await forward(reply, {
        baseUrl: url,
        modelId: dispatch.modelId,
        requestId: request.id,
        upstream: dispatch.upstream,
        agent: deps.agent,
        responseStartTimeoutMs: autoscaling.responseStartTimeoutSeconds * 1000,
        totalTimeoutMs: autoscaling.timeoutSeconds * 1000,
      });
      deps.metrics.requests.inc({ model: name, outcome: timings.outcome === 'ok' ? `${Math.floor(timings.status / 100)}xx` : timings.outcome });
      deps.metrics.upstreamSeconds.observe({ model: name, stream }, timings.totalMs / 1000);
      if (coldSince !== undefined && timings.firstByteMs !== undefined) {
        deps.metrics.coldStartFirstByte.observe({ model: name }, (performance.now() - coldSince - timings.totalMs + timings.firstByteMs) / 1000);
      }
    } catch (err) {
      const error = err instanceof DispatchError ? err : new DispatchError(500, `internal error: ${(err as Error)?.message ?? String(err)}`);
      if (error.status >= 500) request.log.warn({ model: dispatch.modelId, status: error.status, err: error.message }, 'request failed');
      deps.metrics.requests.inc({ model: name, outcome: String(error.status) });
      return sendError(reply, error, request.id, dispatch.modelId);
    } finally {
      release?.();
    }
  };

  app.post('/v1/chat/completions', (request, reply) => handler(request, reply));
  app.post('/v1/completions', (request, reply) => handler(request, reply));
  // SSIS accepted its body on any path.
  app.post('/*', (request, reply) => handler(request, reply));
  return app;
}

/** The Service (and Secret) of a model that has none: its share is chosen now, from what is free. */
function modelObjects(deps: DispatcherDeps, config: DispatcherValues, dispatch: DispatchRequest, name: string): ModelObjects {
  const share = deps.placer.place(name, dispatch.modelId, dispatch.gpuMemory?.text);
  const family = familyOf(config, dispatch.modelId);
  const siteSecret = config.env.siteSecret;
  // The site's credentials win: a caller's own token then never reaches the model server.
  const secretKeys = siteSecret ? (config.env.secret ?? []) : Object.keys(dispatch.secretEnv);
  const secretName = siteSecret || (secretKeys.length ? secretNameFor(dispatch.modelId) : undefined);
  const service = buildService(config, {
    name,
    namespace: deps.namespace,
    instance: deps.instance,
    modelId: dispatch.modelId,
    family,
    share,
    env: dispatch.env,
    secretKeys,
    secretName,
    labels: dispatch.labels,
    now: new Date(),
  });
  const secret = !siteSecret && secretKeys.length ? buildSecret(secretName!, deps.namespace, deps.instance, dispatch.modelId, dispatch.secretEnv) : undefined;
  return secret ? { service, secret } : { service };
}

function sendError(reply: FastifyReply, error: DispatchError, requestId: string, modelId: string | undefined) {
  if (reply.sent || reply.raw.headersSent) {
    reply.raw.destroy();
    return reply;
  }
  if (error.retryAfterSeconds !== undefined) reply.header('retry-after', String(error.retryAfterSeconds));
  reply.header('x-request-id', requestId);
  return reply.code(error.status).send({ error: error.message, ...(modelId ? { model: modelId } : {}), requestId });
}
