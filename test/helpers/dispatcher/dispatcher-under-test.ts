/**
 * A dispatcher running in this process against the test control plane: the same parts
 * dispatcher/src/server.ts wires together (node inventory, GPU pods, the models' Knative
 * Services, placement, limits, metrics, the app), listening on 127.0.0.1. Several can run at
 * once against one namespace, as replicas of one release would.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { parse } from 'yaml';
import { NodeInventory } from '#core/gpu/inventory.ts';
import { mergeValues } from '#core/validate/values-validator.ts';
import { buildDispatcherApp } from '../../../dispatcher/src/app.ts';
import type { JwtVerifier } from '../../../dispatcher/src/auth/jwt-verifier.ts';
import type { DispatcherValues } from '../../../dispatcher/src/config.ts';
import { ModelServices } from '../../../dispatcher/src/knative/model-services.ts';
import { RequestLimits } from '../../../dispatcher/src/limits.ts';
import { createDispatcherMetrics, type DispatcherMetrics } from '../../../dispatcher/src/metrics.ts';
import { GpuPods } from '../../../dispatcher/src/placement/gpu-pods.ts';
import { Placer } from '../../../dispatcher/src/placement/placer.ts';
import { createUpstreamAgent } from '../../../dispatcher/src/proxy/forward.ts';
import { REPO_ROOT } from '../helm.ts';

/** The chart's defaults of the `dispatcher` section, with `overrides` merged as Helm merges values. */
export function dispatcherValues(overrides: Record<string, unknown> = {}): DispatcherValues {
  const defaults = (parse(readFileSync(join(REPO_ROOT, 'chart/supersonic/values.yaml'), 'utf8')) as { dispatcher: unknown }).dispatcher;
  return mergeValues(defaults, overrides) as DispatcherValues;
}

export interface DispatcherUnderTest {
  url: string;
  metrics: DispatcherMetrics;
  services: ModelServices;
  stop(): Promise<void>;
}

export async function startDispatcher(options: { kubeconfig: string; namespace: string; instance: string; values: DispatcherValues; waitReady?: boolean; verifier?: JwtVerifier }): Promise<DispatcherUnderTest> {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(options.kubeconfig);
  const config = options.values;
  const inventory = new NodeInventory();
  const pods = new GpuPods(kubeConfig);
  const limits = new RequestLimits(() => config.limits);
  const metrics = createDispatcherMetrics({ inFlight: () => limits.status().inFlight, queued: () => limits.status().queued });
  const services = new ModelServices({
    kubeConfig,
    namespace: options.namespace,
    instance: options.instance,
    readyTimeoutMs: () => config.readyTimeoutSeconds * 1000,
    onCreated: (name) => metrics.servicesCreated.inc({ model: name }),
    onReady: (name, createdAt) => metrics.coldStartReady.observe({ model: name }, (Date.now() - createdAt) / 1000),
  });
  const agent = createUpstreamAgent();
  const app = buildDispatcherApp({
    config: () => config,
    namespace: options.namespace,
    instance: options.instance,
    services,
    placer: new Placer({ inventory, pods, config: () => config }),
    limits,
    metrics,
    agent,
    logger: pino({ level: 'silent' }),
    bodyLimit: config.limits.maxBodyBytes,
    verifier: () => options.verifier,
    ready: () => services.ready() && inventory.ready() && pods.ready(),
  });
  const started = Promise.all([inventory.start(kubeConfig), pods.start(), services.start()]);
  if (options.waitReady !== false) await started;
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${address.port}`,
    metrics,
    services,
    stop: async () => {
      inventory.stop();
      pods.stop();
      services.stop();
      await app.close();
      agent.destroy();
    },
  };
}

/** A counter's value from the registry, summed over the label values given. */
export async function counterValue(metrics: DispatcherMetrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  return (metric?.values ?? []).filter((v) => Object.entries(labels).every(([k, value]) => v.labels[k] === value)).reduce((sum, v) => sum + Number(v.value), 0);
}
