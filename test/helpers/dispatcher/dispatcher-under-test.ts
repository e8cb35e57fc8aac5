/**
 * A dispatcher running in this process against the test control plane: the wiring
 * dispatcher/src/server.ts runs (createDispatcher: node inventory, GPU pods, the models' Knative
 * Services, placement, limits, metrics, the app), listening on 127.0.0.1. Several can run at
 * once against one namespace, as replicas of one release would.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { parse } from 'yaml';
import { mergeValues } from '#core/validate/values-validator.ts';
import type { JwtVerifier } from '../../../dispatcher/src/auth/jwt-verifier.ts';
import type { DispatcherValues } from '../../../dispatcher/src/config.ts';
import { createDispatcher } from '../../../dispatcher/src/dispatcher.ts';
import type { ModelServices } from '../../../dispatcher/src/knative/model-services.ts';
import type { DispatcherMetrics } from '../../../dispatcher/src/metrics.ts';
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
  const dispatcher = createDispatcher({
    kubeConfig,
    namespace: options.namespace,
    instance: options.instance,
    config: () => options.values,
    verifier: () => options.verifier,
    logger: pino({ level: 'silent' }),
  });
  const started = dispatcher.start();
  if (options.waitReady !== false) await started;
  const { app } = dispatcher;
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${address.port}`,
    metrics: dispatcher.metrics,
    services: dispatcher.services,
    stop: async () => {
      await app.close();
      dispatcher.stop();
    },
  };
}

/** A counter's value from the registry, summed over the label values given. */
export async function counterValue(metrics: DispatcherMetrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  return (metric?.values ?? []).filter((v) => Object.entries(labels).every(([k, value]) => v.labels[k] === value)).reduce((sum, v) => sum + Number(v.value), 0);
}
