/**
 * The webhook as tests meet it: built with a fixed view of the cluster (test/fixtures/nodes.json,
 * a cvmfs claim in namespace cms) and the chart's default configuration plus a token issuer,
 * so every fixture gives the same answer.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { buildApp } from '../../webhook/src/app.ts';
import type { PodMutationDeps } from '../../webhook/src/admission/mutate-pod.ts';
import type { WebhookConfig } from '../../webhook/src/config.ts';
import { describeNode, type NodeLike } from '#core/gpu/node-gpus.ts';
import { createWebhookMetrics } from '../../webhook/src/metrics.ts';
import { REPO_ROOT } from './helm.ts';

export const FIXTURES = join(REPO_ROOT, 'test/fixtures/admission');
export const NODES: NodeLike[] = JSON.parse(readFileSync(join(REPO_ROOT, 'test/fixtures/nodes.json'), 'utf8'));

/** The chart's default `webhook` values, with an issuer so the auth sidecar can be injected. */
export function testConfig(): WebhookConfig {
  const values = parse(readFileSync(join(REPO_ROOT, 'chart/supersonic/values.yaml'), 'utf8')).webhook;
  values.injection.auth.issuer = 'https://cms-auth.web.cern.ch/';
  values.injection.auth.jwksUri = 'https://cms-auth.web.cern.ch/jwk';
  return { values, authSidecarBootstrap: 'static_resources: {listeners: [], clusters: []}\n' };
}

/** What mutatePod needs, with the fixed cluster: the nodes of nodes.json, a CVMFS claim in namespace cms. */
export function testDeps(config: WebhookConfig = testConfig()): PodMutationDeps {
  const nodes = NODES.map(describeNode);
  return {
    config,
    ownNamespace: 'supersonic-system',
    gpuNodes: () => nodes,
    claimExists: async (namespace, name) => namespace === 'cms' && name === config.values.injection.cvmfs.claimName,
  };
}

export function buildTestApp(config: WebhookConfig = testConfig()) {
  const metrics = createWebhookMetrics();
  const app = buildApp({ metrics, ready: () => true, deps: testDeps(config) });
  return { app, metrics };
}
