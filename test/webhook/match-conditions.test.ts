/**
 * The registration's matchConditions, on the real API server (which compiles their CEL when
 * Helm creates the registration, and evaluates it for every pod): only pods that ask for
 * something are sent to the webhook, those with one of our annotations and every pod of a
 * namespace with namespaceDefaults. So with the webhook down and `failurePolicy: Fail`, pods
 * that ask for nothing are still created in labelled namespaces, and those that ask are refused
 * (never created unmutated).
 * A cluster of its own, as in api-server.test.ts: the registration must not reach other suites'
 * namespaces. The webhook is served on 127.0.0.1:443 (test/helpers/cluster/chart-webhook.ts), so
 * this suite cannot run at the same time as api-server.test.ts.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startCluster, type Cluster } from '../helpers/cluster/control-plane.ts';
import { installChartWebhook, type ChartWebhook } from '../helpers/cluster/chart-webhook.ts';
import { gpuRequests, inferencePod } from '../helpers/cluster/test-pods.ts';
import { putNode, type NodeShape } from '../helpers/cluster/nodes.ts';
import { eventually } from '../helpers/cluster/shared.ts';
import { INJECT_LABEL, PREFIX, STATUS_ANNOTATION } from '../../webhook/src/annotations.ts';
import { NODES } from '../helpers/webhook.ts';

interface Context {
  cluster: Cluster;
  webhook: ChartWebhook;
}

const WEBHOOK_NAME = 'pods.supersonic.fastmachinelearning.org';
const MIG_1G = 'nvidia.com/mig-1g.10gb';
/** Labelled namespaces: one without defaults, one whose pods get a MIG slice by default. */
const PLAIN = 'match-plain';
const DEFAULTED = 'match-defaulted';
/** Pods that ask for nothing: no annotations, someone else's, or only the status the webhook writes. */
const NOTHING_ASKED: Record<string, string>[] = [{}, { 'example.org/other': 'x' }, { [STATUS_ANNOTATION]: 'gpu' }];

const create = (cluster: Cluster, namespace: string, body: unknown) => cluster.request('POST', `/api/v1/namespaces/${namespace}/pods`, body);
const unique = (name: string) => `${name}-${Math.random().toString(36).slice(2, 7)}`;
/** How many reviews the webhook process has answered, from its own metrics. */
const answeredTotal = async (webhook: ChartWebhook) => Object.values(await webhook.answered()).reduce((sum, n) => sum + n, 0);

const matching = suite<Context>('webhook: matchConditions on the real API server', {} as Context);

matching.before(async (context) => {
  context.cluster = await startCluster({ crds: [] });
  try {
    for (const node of NODES) await putNode(context.cluster, node as NodeShape);
    for (const name of [PLAIN, DEFAULTED]) {
      const created = await context.cluster.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { [INJECT_LABEL]: 'enabled' } } });
      if (created.status !== 201) throw new Error(`creating namespace ${name}: ${created.status} ${JSON.stringify(created.body)}`);
    }
    // Helm creates the registration: the API server compiles its CEL then, and refuses it if wrong.
    context.webhook = await installChartWebhook(context.cluster, {
      namespace: 'supersonic-system',
      release: 'supersonic',
      set: [`webhook.injection.namespaceDefaults.${DEFAULTED}.gpu-profile=1g.10gb`],
    });
  } catch (err) {
    context.webhook?.process.kill();
    await context.cluster.stop();
    throw err;
  }
});

matching.after(async (context) => {
  context.webhook?.process.kill();
  await context.cluster?.stop();
});

matching('the API server accepted the chart\'s matchConditions as they are rendered', async ({ cluster, webhook }) => {
  const stored = await cluster.request('GET', `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${webhook.configuration}`);
  const [condition] = stored.body.webhooks[0].matchConditions;
  assert.is(condition.name, 'asks-for-supersonic');
  assert.match(condition.expression, `request.namespace in ["${DEFAULTED}"]`);
});

matching('with the webhook up: pods that ask are mutated, by annotation or by their namespace\'s defaults; a pod that asks for nothing is never sent', async ({ cluster, webhook }) => {
  await eventually(() => create(cluster, PLAIN, inferencePod(unique('warm'), { [`${PREFIX}gpu-profile`]: '1g.10gb' })), (res) => res.status === 201, 'the webhook to answer');
  const asked = await create(cluster, PLAIN, inferencePod(unique('asks'), { [`${PREFIX}gpu-profile`]: '1g.10gb' }));
  assert.is(asked.status, 201, JSON.stringify(asked.body));
  assert.equal(gpuRequests(asked.body), { [MIG_1G]: '1' });
  const defaulted = await create(cluster, DEFAULTED, inferencePod(unique('by-default')));
  assert.is(defaulted.status, 201, JSON.stringify(defaulted.body));
  assert.equal(gpuRequests(defaulted.body), { [MIG_1G]: '1' }, 'the namespace default applies to a pod without annotations');

  const before = await answeredTotal(webhook);
  for (const annotations of NOTHING_ASKED) {
    const plain = await create(cluster, PLAIN, inferencePod(unique('plain'), annotations));
    assert.is(plain.status, 201, JSON.stringify(plain.body));
    assert.equal(gpuRequests(plain.body), {});
  }
  assert.is(await answeredTotal(webhook), before, 'the API server sent the webhook pods that ask for nothing');
});

matching('with the webhook down and failurePolicy Fail: pods that ask for nothing are still created; pods that ask are refused', async ({ cluster, webhook }) => {
  webhook.stopProcess();
  await webhook.process.exited;
  try {
    for (const annotations of NOTHING_ASKED) {
      const plain = await create(cluster, PLAIN, inferencePod(unique('while-down'), annotations));
      assert.is(plain.status, 201, `a pod with ${JSON.stringify(annotations)}: ${JSON.stringify(plain.body)}`);
    }
    const asks = await cluster.kubectl(['create', '-n', PLAIN, '-f', '-'], JSON.stringify(inferencePod(unique('asks-while-down'), { [`${PREFIX}cvmfs-repositories`]: 'cms.cern.ch' })));
    assert.is.not(asks.code, 0, 'a pod asking for CVMFS was created without the webhook');
    assert.match(asks.stderr, `failed calling webhook "${WEBHOOK_NAME}"`);
    const byDefault = await create(cluster, DEFAULTED, inferencePod(unique('default-while-down')));
    assert.is.not(byDefault.status, 201, 'a pod of a namespace with defaults was created without the webhook');
    assert.match(JSON.stringify(byDefault.body), `failed calling webhook \\"${WEBHOOK_NAME}\\"`);
  } finally {
    await webhook.startProcess();
  }
});

matching.run();
