/**
 * What the webhook adds to pod creation through the real API server (test/helpers/cluster/, the
 * control plane built from the Go module proxy): the chart installed, its registration calling
 * the real webhook process (test/helpers/cluster/chart-webhook.ts), and pods created one at a
 * time in a namespace the webhook serves and in one it does not (the registration's
 * namespaceSelector leaves the API server no call to make), alternating, in the same run. The
 * pod asks for a MIG slice, so every call through the webhook is a real mutation.
 * No scheduler or controller manager runs: they would only add noise to both sides.
 */
import { startCluster } from '../helpers/cluster/control-plane.ts';
import { installChartWebhook } from '../helpers/cluster/chart-webhook.ts';
import { putNode, type NodeShape } from '../helpers/cluster/nodes.ts';
import { createNamespace } from '../helpers/cluster/shared.ts';
import { inferencePod } from '../helpers/cluster/test-pods.ts';
import { INJECT_LABEL, PREFIX, STATUS_ANNOTATION } from '../../webhook/src/annotations.ts';
import { NODES } from '../helpers/webhook.ts';
import { log, percentile, type Check } from './report.ts';

export const API_SERVER_TARGETS = {
  addedP95Ms: 3, // p95 of pod creation with the webhook minus without, at most
};

const WARMUP_PODS = 30;
const PODS = 300;

export async function measureApiServer(): Promise<Check[]> {
  const started = Date.now();
  const cluster = await startCluster({ crds: [], controllers: false });
  let kill: (() => void) | undefined;
  try {
    for (const node of NODES) await putNode(cluster, node as NodeShape);
    const webhook = await installChartWebhook(cluster, { namespace: 'supersonic-system', release: 'supersonic' });
    kill = () => webhook.process.kill();
    const served = (await createNamespace(cluster, 'cms', { [INJECT_LABEL]: 'enabled' })).name;
    const plain = (await createNamespace(cluster, 'plain')).name;
    log(`the real API server: up in ${Date.now() - started} ms; ${WARMUP_PODS} + ${PODS} pods each way, one at a time, alternating`);
    const pod = (name: string) => inferencePod(name, { [`${PREFIX}gpu-profile`]: '1g.10gb' });
    const create = async (namespace: string, name: string): Promise<number> => {
      const begun = performance.now();
      const created = await cluster.request('POST', `/api/v1/namespaces/${namespace}/pods`, pod(name));
      const ms = performance.now() - begun;
      if (created.status !== 201) throw new Error(`creating pod ${namespace}/${name}: ${created.status} ${JSON.stringify(created.body).slice(0, 500)}`);
      const mutated = created.body.metadata?.annotations?.[STATUS_ANNOTATION] !== undefined;
      if (mutated !== (namespace === served)) throw new Error(`pod ${namespace}/${name} ${mutated ? 'was' : 'was not'} mutated`);
      return ms;
    };
    const withWebhook: number[] = [];
    const without: number[] = [];
    for (let i = 0; i < WARMUP_PODS + PODS; i++) {
      // Alternate which goes first, so neither always follows the other.
      const pair = i % 2 === 0 ? [await create(served, `p-${i}`), await create(plain, `p-${i}`)] : [await create(plain, `p-${i}`), await create(served, `p-${i}`)].reverse();
      if (i < WARMUP_PODS) continue;
      withWebhook.push(pair[0]!);
      without.push(pair[1]!);
    }
    withWebhook.sort((a, b) => a - b);
    without.sort((a, b) => a - b);
    const added = percentile(withWebhook, 0.95) - percentile(without, 0.95);
    const figures = (values: number[]) => `${percentile(values, 0.5).toFixed(2)} / ${percentile(values, 0.95).toFixed(2)} / ${percentile(values, 0.99).toFixed(2)} ms`;
    const answered = await webhook.answered();
    return [
      { figure: `pod creation through the API server, p50 / p95 / p99, without the webhook (${PODS} pods)`, value: figures(without) },
      { figure: `pod creation through the API server, p50 / p95 / p99, with the webhook (${PODS} pods)`, value: figures(withWebhook) },
      { figure: 'the webhook answered (its own metrics)', value: JSON.stringify(answered) },
      { figure: 'pod creation p95 added by the webhook', value: `${added.toFixed(2)} ms`, target: `≤ ${API_SERVER_TARGETS.addedP95Ms} ms`, pass: added <= API_SERVER_TARGETS.addedP95Ms },
    ];
  } finally {
    kill?.();
    await cluster.stop();
  }
}

if (import.meta.main) {
  const { printReport } = await import('./report.ts');
  const checks = await measureApiServer();
  printReport(checks);
  process.exitCode = checks.every((check) => check.pass !== false) ? 0 : 1;
}
