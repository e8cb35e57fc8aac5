/** The webhook's own metrics: answers by outcome, injections by kind, skips by reason, latency. */
import { Counter, Histogram, type Registry } from 'prom-client';
import { createRegistry } from './shared/metrics.ts';

export interface WebhookMetrics {
  registry: Registry;
  requests: Counter<'outcome'>;
  injections: Counter<'kind'>;
  skips: Counter<'reason'>;
  duration: Histogram<'outcome'>;
}

export function createWebhookMetrics(): WebhookMetrics {
  const registry = createRegistry('supersonic_webhook_');
  return {
    registry,
    requests: new Counter({
      name: 'supersonic_webhook_requests_total',
      help: 'Admission requests answered, by outcome: mutated, unchanged, skipped, denied, invalid, error.',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    injections: new Counter({
      name: 'supersonic_webhook_injections_total',
      help: 'Pods mutated, by what was injected: gpu, cvmfs, auth.',
      labelNames: ['kind'],
      registers: [registry],
    }),
    skips: new Counter({
      name: 'supersonic_webhook_skips_total',
      help: 'Pods passed through untouched, by reason.',
      labelNames: ['reason'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'supersonic_webhook_request_duration_seconds',
      help: 'Time to answer an admission request inside the webhook, from parsed body to answer.',
      labelNames: ['outcome'],
      // Sub-millisecond buckets: the work takes tens of microseconds, and the API server's own
      // histogram starts at 5 ms.
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1],
      registers: [registry],
    }),
  };
}
