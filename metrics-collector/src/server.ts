/**
 * The metrics collector process (the servers image's third entry point,
 * metrics-collector/dist/server.mjs): GPU metrics of the release's Triton pods, read from its
 * Prometheus, for perf_analyzer's --collect-metrics. No configuration file: the chart sets
 * everything in the environment. On SIGTERM readiness turns off, then requests finish (core).
 * Environment (set by the chart): PROMETHEUS_URL, SERIES_SELECTOR (the chart's matchers for the
 * release's Triton pods); optional PROMETHEUS_CA_FILE, HOST, PORT, LOG_LEVEL, QUERY_TIMEOUT_MS,
 * MAX_RESPONSE_BYTES, MAX_CONCURRENT_REQUESTS, SHUTDOWN_DELAY_MS.
 */
import { readFileSync } from 'node:fs';
import { pino, type Logger } from 'pino';
import { onShutdownSignal } from '#core/http/graceful-shutdown.ts';
import { listenHost } from '#core/http/listen-host.ts';
import { buildCollectorApp } from './app.ts';
import { prometheusClient } from './prometheus-client.ts';

class ConfigError extends Error {}

const env = (name: string, fallback?: string): string => {
  const value = process.env[name] || fallback;
  if (value === undefined) throw new ConfigError(`environment variable ${name} is not set (the chart sets it)`);
  return value;
};

const positive = (name: string, fallback: string): number => {
  const value = Number(env(name, fallback));
  if (!Number.isInteger(value) || value < 1) throw new ConfigError(`${name} must be a positive integer, not ${JSON.stringify(process.env[name])}`);
  return value;
};

let shutdown: { draining: () => boolean } | undefined;

const log: Logger = pino({ level: process.env.LOG_LEVEL ?? 'info', base: { component: 'supersonic-metrics-collector' } });

async function main(): Promise<void> {
  const url = env('PROMETHEUS_URL');
  const caFile = process.env.PROMETHEUS_CA_FILE;
  let ca: Buffer | undefined;
  if (caFile) {
    try {
      ca = readFileSync(caFile);
    } catch (err) {
      throw new ConfigError(`PROMETHEUS_CA_FILE ${caFile} cannot be read: ${(err as Error).message}`);
    }
  }
  let prometheus;
  try {
    prometheus = prometheusClient({ url, timeoutMs: positive('QUERY_TIMEOUT_MS', '5000'), maxBytes: positive('MAX_RESPONSE_BYTES', String(4 * 2 ** 20)), ...(ca ? { ca } : {}) });
  } catch (err) {
    throw new ConfigError(`PROMETHEUS_URL ${url}: ${(err as Error).message}`);
  }
  const selector = env('SERIES_SELECTOR');
  const { app } = buildCollectorApp({
    prometheus,
    selector,
    maxConcurrent: positive('MAX_CONCURRENT_REQUESTS', '32'),
    logger: log,
    ready: () => !(shutdown?.draining() ?? false),
  });
  const { host, why } = await listenHost(process.env.HOST);
  await app.listen({ host, port: Number(env('PORT', '8003')) });
  app.log.info({ host, listening: why, prometheus: url, selector }, 'serving');
  shutdown = onShutdownSignal(app, { delayMs: Number(env('SHUTDOWN_DELAY_MS', '5000')), cleanup: () => prometheus.close() });
}

main().catch((err) => {
  if (err instanceof ConfigError) log.fatal(err.message);
  else log.fatal({ err }, 'failed to start');
  process.exit(1);
});
