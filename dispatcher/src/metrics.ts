/**
 * The dispatcher's metrics: requests by model and outcome, queue depth, cold starts (create to
 * Ready, and request to first byte), upstream latency and the dispatcher's own overhead.
 * Model labels are Knative Service names, so their number is bounded by the models the
 * dispatcher runs, not by what callers send.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { createRegistry } from '#core/http/metrics-registry.ts';

export interface DispatcherMetrics {
  registry: Registry;
  requests: Counter<'model' | 'outcome'>;
  coldStartReady: Histogram<'model'>;
  coldStartFirstByte: Histogram<'model'>;
  upstreamSeconds: Histogram<'model' | 'stream'>;
  overheadSeconds: Histogram<'stream'>;
  servicesCreated: Counter<'model'>;
}

const LATENCY = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const COLD = [1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200];

export function createDispatcherMetrics(sources: { inFlight: () => number; queued: () => Record<string, number> }): DispatcherMetrics {
  const registry = createRegistry('supersonic_dispatcher_');
  const registers = [registry];
  new Gauge({
    name: 'supersonic_dispatcher_in_flight_requests',
    help: 'Requests in progress across all models.',
    registers,
    collect() {
      this.set(sources.inFlight());
    },
  });
  new Gauge({
    name: 'supersonic_dispatcher_queue_depth',
    help: 'Requests waiting for a model to become Ready, by model.',
    labelNames: ['model'],
    registers,
    collect() {
      this.reset();
      for (const [model, depth] of Object.entries(sources.queued())) this.set({ model }, depth);
    },
  });
  return {
    registry,
    requests: new Counter({ name: 'supersonic_dispatcher_requests_total', help: 'Requests by model and outcome (the HTTP status class, or the reason refused).', labelNames: ['model', 'outcome'], registers }),
    coldStartReady: new Histogram({ name: 'supersonic_dispatcher_cold_start_ready_seconds', help: 'From creating a model\'s Knative Service to Ready.', labelNames: ['model'], buckets: COLD, registers }),
    coldStartFirstByte: new Histogram({ name: 'supersonic_dispatcher_cold_start_first_byte_seconds', help: 'From a request that found its model without a Service to the first byte of its answer.', labelNames: ['model'], buckets: COLD, registers }),
    upstreamSeconds: new Histogram({ name: 'supersonic_dispatcher_upstream_seconds', help: 'Model server time, request sent to last byte.', labelNames: ['model', 'stream'], buckets: LATENCY, registers }),
    overheadSeconds: new Histogram({ name: 'supersonic_dispatcher_overhead_seconds', help: 'Time the dispatcher adds on a warm model: request received to request sent upstream.', labelNames: ['stream'], buckets: LATENCY, registers }),
    servicesCreated: new Counter({ name: 'supersonic_dispatcher_services_created_total', help: 'Knative Services this replica created.', labelNames: ['model'], registers }),
  };
}
