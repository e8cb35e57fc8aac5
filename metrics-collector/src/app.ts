/**
 * The metrics collector's HTTP app. GET /metrics answers the release's Triton GPU metrics, read
 * from its Prometheus, as Prometheus text exposition, for perf_analyzer's
 * `--collect-metrics --metrics-url http://<collector>:8003/metrics` (Triton's own metrics port is
 * not reachable through Envoy). Requests that arrive while a query runs share its answer, so N
 * clients cost one query; beyond `maxConcurrent` requests waiting at once the answer is 503 with
 * Retry-After. When Prometheus is down, slow, or answers something that is not a vector, the
 * answer is a 503 (or 502) in plain words, never a hang or a crash.
 * /healthz, /readyz (core); the collector's own process metrics at /self/metrics.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { Counter, Histogram, type Registry } from 'prom-client';
import { registerHealthRoutes } from '#core/http/health-routes.ts';
import { registerMetricsRoute } from '#core/http/metrics-route.ts';
import { createRegistry } from '#core/http/metrics-registry.ts';
import { BadAnswer, parseVector, toExposition } from './exposition.ts';
import { GPU_METRICS, gpuQuery } from './gpu-metrics.ts';
import { PrometheusError, type PrometheusClient } from './prometheus-client.ts';

export const EXPOSITION_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export interface CollectorOptions {
  prometheus: PrometheusClient;
  /** The chart's PromQL matchers for the release's Triton pods (namespace, pod). */
  selector: string;
  /** Most /metrics requests waiting at once. */
  maxConcurrent: number;
  logger: FastifyBaseLogger;
  /** true, false (shutting down) or why not. */
  ready: () => boolean | string;
}

export interface Collector {
  app: FastifyInstance;
  registry: Registry;
}

export function buildCollectorApp(options: CollectorOptions): Collector {
  const app = Fastify({ loggerInstance: options.logger, return503OnClosing: true, requestTimeout: 30_000 });
  const registry = createRegistry('supersonic_metrics_collector_');
  const queries = new Counter({ name: 'supersonic_metrics_collector_queries_total', help: 'Prometheus queries, by outcome.', labelNames: ['outcome'], registers: [registry] });
  const duration = new Histogram({ name: 'supersonic_metrics_collector_query_duration_seconds', help: 'Time of a Prometheus query.', buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry] });
  const rejected = new Counter({ name: 'supersonic_metrics_collector_rejected_total', help: '/metrics requests refused beyond the concurrency cap.', registers: [registry] });

  registerHealthRoutes(app, options.ready);
  // The collector's own metrics beside, not in, the GPU page perf_analyzer reads.
  void app.register(async (scope) => registerMetricsRoute(scope, registry), { prefix: '/self' });

  const query = gpuQuery(options.selector);
  let inFlight: Promise<string> | undefined;
  let waiting = 0;

  const fetchPage = async (): Promise<string> => {
    const stop = duration.startTimer();
    try {
      const page = toExposition(GPU_METRICS, parseVector(await options.prometheus.query(query), GPU_METRICS));
      queries.inc({ outcome: 'ok' });
      return page;
    } catch (err) {
      queries.inc({ outcome: err instanceof PrometheusError ? err.failure : 'bad-answer' });
      throw err;
    } finally {
      stop();
    }
  };

  app.get('/metrics', async (request, reply) => {
    if (waiting >= options.maxConcurrent) {
      rejected.inc();
      reply.code(503).header('retry-after', '1').type('text/plain; charset=utf-8');
      return `too many /metrics requests at once (more than ${options.maxConcurrent}); try again in a second\n`;
    }
    waiting += 1;
    try {
      // One query at a time: requests that come while it runs get its answer.
      inFlight ??= fetchPage().finally(() => (inFlight = undefined));
      const page = await inFlight;
      reply.type(EXPOSITION_TYPE);
      return page;
    } catch (err) {
      reply.type('text/plain; charset=utf-8');
      if (err instanceof PrometheusError && err.failure !== 'bad-answer' && err.failure !== 'too-large') {
        // Down or slow: worth a retry later.
        request.log.warn({ failure: err.failure }, err.message);
        reply.code(503).header('retry-after', '5');
        return `GPU metrics unavailable: ${err.message}\n`;
      }
      const message = err instanceof PrometheusError ? err.message : err instanceof BadAnswer ? `Prometheus answered something that is not an instant vector: ${err.message}` : `unexpected error: ${(err as Error).message}`;
      request.log.error({ err: message }, 'bad answer from Prometheus');
      reply.code(502);
      return `GPU metrics unavailable: ${message}\n`;
    } finally {
      waiting -= 1;
    }
  });

  return { app, registry };
}
