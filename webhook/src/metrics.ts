/**
 * The webhook's own metrics: answers by outcome, injections by kind, skips by reason, latency;
 * and, read when scraped (no timers), the node view's health and the serving certificate's expiry.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { OFFER_KINDS, type InventoryStatus } from '#core/gpu/inventory.ts';
import { createRegistry } from '#core/http/metrics-registry.ts';

/** What the scrape-time metrics read; each is left out when not given (tests of the routes alone). */
export interface WebhookMetricSources {
  nodeView?: () => InventoryStatus;
  /** When the serving certificate in use expires (ms since the epoch). */
  certificateExpiry?: () => number | undefined;
}

export interface WebhookMetrics {
  registry: Registry;
  requests: Counter<'outcome'>;
  injections: Counter<'kind'>;
  skips: Counter<'reason'>;
  /** Failures of our own on a pod, by what the error policy answered: denied or allowed. */
  internalErrors: Counter<'answer'>;
  duration: Histogram<'outcome'>;
}

export function createWebhookMetrics(sources: WebhookMetricSources = {}): WebhookMetrics {
  const registry = createRegistry('supersonic_webhook_');
  const { nodeView, certificateExpiry } = sources;
  if (nodeView) {
    new Gauge({
      name: 'supersonic_webhook_node_view_last_list_timestamp_seconds',
      help: 'When the node list last succeeded (Unix seconds); 0 before the first.',
      registers: [registry],
      collect() {
        this.set((nodeView().lastListAt ?? 0) / 1000);
      },
    });
    new Gauge({
      name: 'supersonic_webhook_node_view_watching',
      help: '1 while the node watch runs (the view is kept current), else 0.',
      registers: [registry],
      collect() {
        this.set(nodeView().watching ? 1 : 0);
      },
    });
    new Gauge({
      name: 'supersonic_webhook_node_view_stale',
      help: '1 when the node view is stale (no list for longer than its bound and no watch): /readyz then fails.',
      registers: [registry],
      collect() {
        this.set(nodeView().stale ? 1 : 0);
      },
    });
    new Counter({
      name: 'supersonic_webhook_node_view_watch_errors_total',
      help: 'Failures of the node list and watch, and node events skipped as malformed.',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(nodeView().errors);
      },
    });
    new Gauge({
      name: 'supersonic_webhook_node_view_nodes',
      help: 'GPU nodes in the node view, by what they give (mig, mps, whole, shared); a node giving several kinds counts under each.',
      labelNames: ['gives'],
      registers: [registry],
      collect() {
        const { nodesByKind } = nodeView();
        for (const kind of OFFER_KINDS) this.set({ gives: kind }, nodesByKind[kind]);
      },
    });
  }
  if (certificateExpiry) {
    new Gauge({
      name: 'supersonic_webhook_certificate_expiry_timestamp_seconds',
      help: 'When the serving certificate in use expires (Unix seconds).',
      registers: [registry],
      collect() {
        const expiry = certificateExpiry();
        if (expiry === undefined) this.reset();
        else this.set(expiry / 1000);
      },
    });
  }
  return {
    registry,
    internalErrors: new Counter({
      name: 'supersonic_webhook_internal_errors_total',
      help: 'Pods the webhook failed on itself, by what webhook.errorPolicy answered: denied or allowed (unchanged).',
      labelNames: ['answer'],
      registers: [registry],
    }),
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
