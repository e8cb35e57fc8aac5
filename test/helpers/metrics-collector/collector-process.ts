/**
 * The metrics collector as the image runs it: its bundle (metrics-collector/dist/server.mjs,
 * built by webhook/bundle.ts) on Node 24, with the image's environment and the environment the
 * chart's Deployment sets. Stopped by its PID.
 */
import { startBundleProcess, type BundleProcess } from '../bundle-process.ts';

export type CollectorProcess = BundleProcess;

export interface CollectorProcessOptions {
  prometheusUrl: string;
  selector: string;
  /** More environment (QUERY_TIMEOUT_MS, PROMETHEUS_CA_FILE, ...), over the defaults. */
  env?: Record<string, string>;
  /** Wait for /readyz (default); false: return at once (a start expected to fail). */
  waitReady?: boolean;
}

export async function startCollectorProcess(options: CollectorProcessOptions): Promise<CollectorProcess> {
  return startBundleProcess('metrics-collector', {
    env: {
      PROMETHEUS_URL: options.prometheusUrl,
      SERIES_SELECTOR: options.selector,
      SHUTDOWN_DELAY_MS: '200',
      LOG_LEVEL: 'info',
      ...options.env,
    },
    waitReady: options.waitReady,
    readyTimeoutMs: 20_000,
  });
}
