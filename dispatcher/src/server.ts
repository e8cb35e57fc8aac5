/**
 * The dispatcher process: configuration, Kubernetes (nodes, GPU pods, the models' Knative
 * Services), then HTTP on PORT (plain HTTP inside the cluster; the gateway or a NetworkPolicy
 * decides who reaches it). On SIGTERM readiness turns off first, then requests in flight finish,
 * streams included, before the process ends.
 * Environment (set by the chart): POD_NAMESPACE, RELEASE_NAME, SERVICE_NAMESPACE, LOG_LEVEL;
 * optional CONFIG_DIR, SCHEMA_FILE, HOST, PORT, SHUTDOWN_DELAY_MS.
 * When the gateway checks tokens, so does the dispatcher: auth.yaml in the ConfigMap
 * (auth/auth-config.ts); a request without a valid token gets 401.
 * The ConfigMap is watched: a changed, valid configuration applies to the next request; an
 * invalid one is logged and the one in use stays.
 */
import { watch } from 'node:fs';
import { pino, type Logger } from 'pino';
import { onShutdownSignal } from '#core/http/graceful-shutdown.ts';
import { listenHost } from '#core/http/listen-host.ts';
import { loadKubeConfig } from '#core/kube/client.ts';
import { loadAuthSettings } from './auth/auth-config.ts';
import { createDispatcher } from './dispatcher.ts';
import { JwtVerifier } from './auth/jwt-verifier.ts';
import { ConfigError, loadDispatcherConfig, type DispatcherValues } from './config.ts';
import { sweepIdleModels } from './knative/idle-sweep.ts';

const env = (name: string, fallback?: string): string => {
  const value = process.env[name] || fallback;
  if (value === undefined) throw new ConfigError(`environment variable ${name} is not set (the chart sets it)`);
  return value;
};

/** Set once the app listens: readiness reads it. */
let shutdown: { draining: () => boolean } | undefined;

const log: Logger = pino({ level: process.env.LOG_LEVEL ?? 'info', base: { component: 'supersonic-dispatcher' } });

async function main(): Promise<void> {
  const configDir = env('CONFIG_DIR', '/etc/supersonic/dispatcher');
  const schemaFile = env('SCHEMA_FILE', 'chart/supersonic/values.schema.json');
  const first = loadDispatcherConfig(configDir, schemaFile);
  for (const warning of first.warnings) log.warn(warning);
  let config: DispatcherValues = first.values;
  // The gateway's token settings, when it checks tokens; rebuilt only when they change.
  let authSettings = loadAuthSettings(configDir);
  let verifier = authSettings ? new JwtVerifier(authSettings) : undefined;
  log.info({ tokens: authSettings ? `checked (issuer ${authSettings.issuer})` : 'not checked (no auth.yaml)' }, 'caller authentication');
  // The models' namespace; the release's when the chart sets none (it always sets it).
  const namespace = process.env.SERVICE_NAMESPACE || env('POD_NAMESPACE');
  const instance = env('RELEASE_NAME');
  const kubeConfig = loadKubeConfig();

  const dispatcher = createDispatcher({
    kubeConfig,
    namespace,
    instance,
    config: () => config,
    verifier: () => verifier,
    logger: log,
    onWatchError: (what, err) => log.warn({ err }, `${what}: retrying`),
    draining: () => shutdown?.draining() ?? false,
  });
  const { app, services } = dispatcher;

  // The kubelet swaps the ConfigMap's files through a symlink: watching the folder sees it.
  const watcher = watch(configDir, () => {
    try {
      const next = loadDispatcherConfig(configDir, schemaFile);
      const nextAuth = loadAuthSettings(configDir);
      if (JSON.stringify(nextAuth) !== JSON.stringify(authSettings)) {
        authSettings = nextAuth;
        verifier = nextAuth ? new JwtVerifier(nextAuth) : undefined;
        log.info({ tokens: nextAuth ? `checked (issuer ${nextAuth.issuer})` : 'not checked' }, 'caller authentication reloaded');
      }
      if (JSON.stringify(next.values) === JSON.stringify(config)) return;
      config = next.values;
      log.info('configuration reloaded');
    } catch (err) {
      log.error({ err: (err as Error).message }, 'new configuration refused; keeping the one in use');
    }
  });

  const started = dispatcher.start();
  const sweep = setInterval(() => {
    void sweepIdleModels(services, config.idleDeleteAfterMinutes * 60_000, Date.now()).then(
      (removed) => removed.length && log.info({ removed }, 'removed idle models'),
      (err) => log.warn({ err: (err as Error).message }, 'idle clean-up failed; trying again later'),
    );
  }, 60_000);
  sweep.unref();

  const { host, why } = await listenHost(process.env.HOST);
  await app.listen({ host, port: Number(env('PORT', '8080')) });
  app.log.info({ host, listening: why, namespace, instance }, 'serving');
  await started;

  shutdown = onShutdownSignal(app, {
    delayMs: Number(env('SHUTDOWN_DELAY_MS', '5000')),
    cleanup: () => {
      watcher.close();
      clearInterval(sweep);
      dispatcher.stop();
    },
  });
}

main().catch((err) => {
  if (err instanceof ConfigError) log.fatal(err.message);
  else log.fatal({ err }, 'failed to start');
  process.exit(1);
});
