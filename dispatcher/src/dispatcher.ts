/**
 * The dispatcher's parts wired together: the node inventory and GPU pods (what is free), the
 * models' Knative Services, placement, limits, metrics and the HTTP app. server.ts runs it as
 * the process (configuration reload, idle clean-up, shutdown); the tests run the same wiring in
 * their own process against the test control plane.
 */
import type http from 'node:http';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { KubeConfig } from '@kubernetes/client-node';
import { NodeInventory } from '#core/gpu/inventory.ts';
import { buildDispatcherApp } from './app.ts';
import type { JwtVerifier } from './auth/jwt-verifier.ts';
import type { DispatcherValues } from './config.ts';
import { ModelServices } from './knative/model-services.ts';
import { RequestLimits } from './limits.ts';
import { createDispatcherMetrics, type DispatcherMetrics } from './metrics.ts';
import { GpuPods } from './placement/gpu-pods.ts';
import { Placer } from './placement/placer.ts';
import { createUpstreamAgent } from './proxy/forward.ts';

export interface DispatcherOptions {
  kubeConfig: KubeConfig;
  /** Where the models' Services and Secrets live. */
  namespace: string;
  /** The release: every Service is labelled with it. */
  instance: string;
  /** Read on every request: a reloaded configuration applies at once. */
  config: () => DispatcherValues;
  verifier?: () => JwtVerifier | undefined;
  logger: FastifyBaseLogger;
  /** Told about watch failures (they are retried). */
  onWatchError?: (what: string, err: unknown) => void;
  /** Readiness is off while this says so (shutting down). */
  draining?: () => boolean;
}

export interface Dispatcher {
  app: FastifyInstance;
  metrics: DispatcherMetrics;
  services: ModelServices;
  /** Starts the watches; resolves when nodes, pods and Services have been listed once. */
  start(): Promise<void>;
  /** Stops the watches and the upstream connections (after app.close()). */
  stop(): void;
}

export function createDispatcher(options: DispatcherOptions): Dispatcher {
  const { kubeConfig, namespace, instance, config } = options;
  const watchError = (what: string) => (err: unknown) => options.onWatchError?.(what, err);
  const inventory = new NodeInventory({ onError: watchError('node watch') });
  const pods = new GpuPods(kubeConfig, watchError('pod watch'));
  const limits = new RequestLimits(() => config().limits);
  const metrics = createDispatcherMetrics({ inFlight: () => limits.status().inFlight, queued: () => limits.status().queued });
  const services = new ModelServices({
    kubeConfig,
    namespace,
    instance,
    readyTimeoutMs: () => config().readyTimeoutSeconds * 1000,
    onError: watchError('Knative Services'),
    onCreated: (name) => metrics.servicesCreated.inc({ model: name }),
    onReady: (name, createdAt) => metrics.coldStartReady.observe({ model: name }, (Date.now() - createdAt) / 1000),
  });
  const agent: http.Agent = createUpstreamAgent();
  const app = buildDispatcherApp({
    config,
    namespace,
    instance,
    services,
    placer: new Placer({ inventory, pods, config }),
    limits,
    metrics,
    agent,
    logger: options.logger,
    bodyLimit: config().limits.maxBodyBytes,
    verifier: options.verifier,
    ready: () => !options.draining?.() && services.ready() && inventory.ready() && pods.ready(),
  });
  return {
    app,
    metrics,
    services,
    start: async () => {
      await Promise.all([inventory.start(kubeConfig), pods.start(), services.start()]);
    },
    stop: () => {
      inventory.stop();
      pods.stop();
      services.stop();
      agent.destroy();
    },
  };
}
