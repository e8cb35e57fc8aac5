/**
 * The webhook process: configuration, Kubernetes, TLS, then HTTPS on [::]:8443 (IPv6 and IPv4; HOST, PORT); on SIGTERM,
 * readiness turns off first (so the Service stops sending), then requests in flight finish.
 * Environment (set by the chart): POD_NAME, POD_NAMESPACE, SERVICE_NAME,
 * WEBHOOK_CONFIGURATION_NAME, TLS_SECRET_NAME, TLS_SOURCE (files | self-managed), LOG_LEVEL;
 * optional CONFIG_DIR, SCHEMA_FILE, TLS_DIR, HOST, PORT, SHUTDOWN_DELAY_MS.
 * What one client may take (time, connections, bytes) follows the configuration's timeoutSeconds
 * and limits: server-limits.ts.
 */
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { pino, type Logger } from 'pino';
import { buildApp } from './app.ts';
import { ConfigError, loadConfig } from './config.ts';
import { NodeInventory } from '#core/gpu/inventory.ts';
import { createWebhookMetrics } from './metrics.ts';
import { loadKubeConfig } from '#core/kube/client.ts';
import { applySecureContext, watchCertificateFiles, type KeyAndCertificate } from '#core/tls/reload.ts';
import { claimLookup } from './claim-lookup.ts';
import { serverLimits } from './server-limits.ts';
import { onShutdownSignal } from '#core/http/graceful-shutdown.ts';
import { listenHost } from '#core/http/listen-host.ts';
import { SERVING_TLS_OPTIONS } from '#core/tls/policy.ts';

const env = (name: string, fallback?: string): string => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new ConfigError(`environment variable ${name} is not set (the chart sets it)`);
  return value;
};

/** Set once the app listens: readiness and the drain of connections read it. */
let shutdown: { draining: () => boolean } | undefined;

/** One JSON logger for start-up and for fastify, so a failing start is never silent. */
const log: Logger = pino({ level: process.env.LOG_LEVEL ?? 'info', base: { component: 'supersonic-webhook' } });

async function main(): Promise<void> {
  log.info('starting');
  const config = loadConfig(env('CONFIG_DIR', '/etc/supersonic/webhook'), env('SCHEMA_FILE', 'chart/supersonic/values.schema.json'));
  const namespace = env('POD_NAMESPACE');
  const kubeConfig = loadKubeConfig();
  const inventory = new NodeInventory({ onError: (err) => log.warn({ err }, 'node watch: retrying') });
  let certificateExpiry: number | undefined;
  const metrics = createWebhookMetrics({ nodeView: () => inventory.status(), certificateExpiry: () => certificateExpiry });
  const inventoryStarted = inventory.start(kubeConfig);

  // The first certificate, then every renewal, without a restart.
  let onCertificate: (pair: KeyAndCertificate) => void = () => {};
  const first = await firstCertificate(kubeConfig, namespace, config.values.tls, (pair) => onCertificate(pair));
  certificateExpiry = expiryOf(first.cert);

  const limits = serverLimits(config.values);
  const app = buildApp({
    https: first,
    limits,
    logger: log,
    metrics,
    // A node view stale past its bound (no list for 10 minutes and no watch) takes the replica
    // out of the Service: GPU placement from it could be wrong, and another replica may be fine.
    ready: () => (shutdown?.draining() ? false : !inventory.ready() ? false : inventory.stale() ? 'node view stale' : true),
    draining: () => shutdown?.draining() ?? false,
    deps: {
      config,
      ownNamespace: namespace,
      gpuNodes: () => inventory.nodes(),
      // Before the first node list, "no GPUs" would be a lie: GPU asks are refused as not ready yet.
      gpuNodesReady: () => inventory.ready(),
      claimExists: claimLookup(kubeConfig.makeApiClient(CoreV1Api)),
    },
  });
  onCertificate = (pair) => {
    // The same TLS policy the server started with: setSecureContext would otherwise drop it.
    applySecureContext(app.server as never, pair, SERVING_TLS_OPTIONS);
    certificateExpiry = expiryOf(pair.cert);
    app.log.info('serving certificate reloaded');
  };
  // HOST: by default every address of the pod, IPv6 and IPv4 (listen-host.ts); the tests listen on 127.0.0.1 only.
  const { host, why } = await listenHost(process.env.HOST);
  await app.listen({ host, port: Number(env('PORT', '8443')) });
  app.log.info({ limits, host, listening: why }, 'serving');
  await inventoryStarted;

  shutdown = onShutdownSignal(app, {
    delayMs: Number(env('SHUTDOWN_DELAY_MS', '5000')),
    cleanup: async () => {
      inventory.stop();
      await stopTls();
    },
  });
}

let stopTls: () => Promise<void> = async () => {};

/** When the first (leaf) certificate of a PEM chain expires, in ms since the epoch. */
function expiryOf(pem: string): number | undefined {
  try {
    return Date.parse(new X509Certificate(pem).validTo);
  } catch {
    return undefined;
  }
}

/** cert-manager's Secret mounted as files, or the webhook's own CA and certificate. */
async function firstCertificate(
  kubeConfig: ReturnType<typeof loadKubeConfig>,
  namespace: string,
  tls: { certValidityDays: number; renewBeforeDays: number },
  onChange: (pair: KeyAndCertificate) => void,
): Promise<KeyAndCertificate> {
  if (env('TLS_SOURCE', 'self-managed') === 'files') {
    const dir = env('TLS_DIR', '/etc/supersonic/tls');
    let current: KeyAndCertificate | undefined;
    const watcher = watchCertificateFiles({
      certFile: join(dir, 'tls.crt'),
      keyFile: join(dir, 'tls.key'),
      onError: (err) => log.warn({ err }, `cannot read the certificate in ${dir}; keeping the one in use`),
      onChange: (pair) => {
        const isFirst = !current;
        current = pair;
        if (!isFirst) onChange(pair);
      },
    });
    stopTls = async () => watcher.close();
    await watcher.ready;
    if (!current) throw new ConfigError(`no readable certificate in ${dir} (tls.crt, tls.key): is cert-manager's Secret mounted?`);
    return current;
  }
  // Loaded only here: with cert-manager's files, certificate generation (@peculiar/x509 and its
  // helpers) is never needed, and not loading it leaves about 5 MB less resident (make bench).
  const { SelfManagedTls } = await import('./tls/self-managed.ts');
  const selfManaged = new SelfManagedTls({
    kubeConfig,
    namespace,
    secretName: env('TLS_SECRET_NAME'),
    webhookConfigurationName: env('WEBHOOK_CONFIGURATION_NAME'),
    serviceName: env('SERVICE_NAME'),
    identity: env('POD_NAME'),
    certValidityDays: tls.certValidityDays,
    renewBeforeDays: tls.renewBeforeDays,
    onCertificate: (bundle) => onChange(bundle),
    log,
  });
  stopTls = () => selfManaged.stop();
  return selfManaged.start();
}

main().catch((err) => {
  // A bad configuration stops start-up with a clear message, not a stack trace.
  if (err instanceof ConfigError) log.fatal(err.message);
  else log.fatal({ err }, 'failed to start');
  process.exit(1);
});
