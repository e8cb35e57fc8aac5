/**
 * The webhook called by the real API server through the chart's own MutatingWebhookConfiguration
 * (test/helpers/cluster/chart-webhook.ts says how the API server reaches the process on
 * 127.0.0.1). Pods are created through the API as a controller or kubectl creates them; the
 * scheduler binds them to Node objects labelled as the NVIDIA GPU Operator labels them.
 * A cluster of its own: the chart's registration (failurePolicy Fail) must not reach the
 * namespaces of other suites, and one test restarts the API server.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type Server } from 'node:https';
import { startCluster, type Cluster } from '../helpers/cluster/control-plane.ts';
import { installChartWebhook, type ChartWebhook } from '../helpers/cluster/chart-webhook.ts';
import { gpuRequests, inferencePod } from '../helpers/cluster/test-pods.ts';
import { deleteNode, putNode, type NodeShape } from '../helpers/cluster/nodes.ts';
import { createNamespace, eventually } from '../helpers/cluster/shared.ts';
import { createCertificateAuthority, createServingCertificate, DAY_MS } from '../../webhook/src/tls/certificates.ts';
import { INJECT_LABEL, PREFIX, STATUS_ANNOTATION } from '../../webhook/src/annotations.ts';
import { freePort } from '../helpers/ports.ts';
import { NODES } from '../helpers/webhook.ts';

interface Context {
  cluster: Cluster;
  webhook: ChartWebhook;
  labelled: string;
  unlabelled: string;
}

const MIG_1G = 'nvidia.com/mig-1g.10gb';
const WEBHOOK_NAME = 'pods.supersonic.fastmachinelearning.org';

async function createPod(cluster: Cluster, namespace: string, body: unknown, dryRun = false) {
  return cluster.request('POST', `/api/v1/namespaces/${namespace}/pods${dryRun ? '?dryRun=All' : ''}`, body);
}

const e2e = suite<Context>('webhook: called by the real API server', {} as Context);

e2e.before(async (context) => {
  context.cluster = await startCluster({ crds: [] });
  try {
    for (const node of NODES) await putNode(context.cluster, node as NodeShape);
    // With a token issuer, so that pods may ask for the auth sidecar.
    context.webhook = await installChartWebhook(context.cluster, {
      namespace: 'supersonic-system',
      release: 'supersonic',
      set: ['webhook.injection.auth.issuer=https://cms-auth.web.cern.ch/', 'webhook.injection.auth.jwksUri=https://cms-auth.web.cern.ch/jwk'],
    });
    context.labelled = (await createNamespace(context.cluster, 'cms', { [INJECT_LABEL]: 'enabled' })).name;
    context.unlabelled = (await createNamespace(context.cluster, 'plain')).name;
  } catch (err) {
    context.webhook?.process.kill();
    await context.cluster.stop();
    throw err;
  }
});

e2e.after(async (context) => {
  context.webhook?.process.kill();
  await context.cluster?.stop();
});

e2e('a pod created in a labelled namespace is stored mutated, and the scheduler binds it to the node offering its MIG slice', async ({ cluster, labelled }) => {
  const created = await createPod(cluster, labelled, inferencePod('mig', { [`${PREFIX}gpu-profile`]: '1g.10gb' }));
  assert.is(created.status, 201, JSON.stringify(created.body));
  assert.equal(gpuRequests(created.body), { [MIG_1G]: '1' });
  assert.is(created.body.spec.containers[0].resources.limits[MIG_1G], '1');
  assert.is(created.body.metadata.annotations[STATUS_ANNOTATION], 'gpu');
  const bound = await eventually(
    () => cluster.request('GET', `/api/v1/namespaces/${labelled}/pods/mig`),
    (res) => Boolean(res.body.spec.nodeName),
    'the scheduler to bind the pod',
  );
  assert.is(bound.body.spec.nodeName, 'gpu-a100-mixed', 'the only node with nvidia.com/mig-1g.10gb');
  assert.ok(bound.body.status.conditions.some((c: any) => c.type === 'PodScheduled' && c.status === 'True'));
});

e2e('a whole-GPU pod lands on the node offering whole GPUs; a pod asking for more than any node has is reported Unschedulable by the scheduler', async ({ cluster, labelled }) => {
  const whole = await createPod(cluster, labelled, inferencePod('whole', { [`${PREFIX}gpu`]: '2' }));
  assert.is(whole.status, 201, JSON.stringify(whole.body));
  assert.equal(gpuRequests(whole.body), { 'nvidia.com/gpu': '2' });
  const bound = await eventually(() => cluster.request('GET', `/api/v1/namespaces/${labelled}/pods/whole`), (res) => Boolean(res.body.spec.nodeName), 'the scheduler to bind the pod');
  assert.is(bound.body.spec.nodeName, 'gpu-l40-whole');

  // Two MIG slices fit on gpu-a100-mixed (three offered, one taken above): a fourth pod of three
  // would not, and the scheduler says so rather than the webhook (the webhook sees capacity).
  for (const name of ['mig-a', 'mig-b', 'mig-c']) {
    const created = await createPod(cluster, labelled, inferencePod(name, { [`${PREFIX}gpu-profile`]: '1g.10gb' }));
    assert.is(created.status, 201, JSON.stringify(created.body));
  }
  const pods = await eventually(
    () => cluster.request('GET', `/api/v1/namespaces/${labelled}/pods`),
    (res) => res.body.items.filter((p: any) => p.metadata.name.startsWith('mig')).every((p: any) => p.status.conditions?.some((c: any) => c.type === 'PodScheduled')),
    'every MIG pod to be scheduled or reported',
  );
  const mig = pods.body.items.filter((p: any) => p.metadata.name.startsWith('mig'));
  const unschedulable = mig.filter((p: any) => p.status.conditions.some((c: any) => c.type === 'PodScheduled' && c.reason === 'Unschedulable'));
  assert.is(mig.filter((p: any) => p.spec.nodeName === 'gpu-a100-mixed').length, 3);
  assert.is(unschedulable.length, 1);
  assert.match(unschedulable[0].status.conditions.find((c: any) => c.type === 'PodScheduled').message, `Insufficient ${MIG_1G}`);
});

e2e('in a namespace without the label the same pod is stored untouched', async ({ cluster, unlabelled }) => {
  const created = await createPod(cluster, unlabelled, inferencePod('mig', { [`${PREFIX}gpu-profile`]: '1g.10gb' }));
  assert.is(created.status, 201, JSON.stringify(created.body));
  assert.equal(gpuRequests(created.body), {});
  assert.is(created.body.metadata.annotations[STATUS_ANNOTATION], undefined);
});

e2e('a refused pod gives kubectl the webhook\'s own message', async ({ cluster, labelled }) => {
  const refused = await cluster.kubectl(['create', '-n', labelled, '-f', '-'], JSON.stringify(inferencePod('too-big', { [`${PREFIX}gpu-profile`]: '7g.80gb' })));
  assert.is.not(refused.code, 0);
  assert.match(refused.stderr, `admission webhook "${WEBHOOK_NAME}" denied the request: no node offers MIG profile 7g.80gb`);
  assert.is((await cluster.request('GET', `/api/v1/namespaces/${labelled}/pods/too-big`)).status, 404);
});

e2e('Node objects created, relabelled and deleted through the API drive the webhook\'s view', async ({ cluster, labelled }) => {
  const ask = inferencePod('twog', { [`${PREFIX}gpu-profile`]: '2g.20gb' });
  const answer = () => createPod(cluster, labelled, ask, true);
  const accepted = (res: { status: number }) => res.status === 201;
  const refused = (res: { status: number; body: any }) => res.status === 403 && String(res.body.message).includes('no node offers MIG profile 2g.20gb');
  assert.ok(refused(await answer()), 'no node offers 2g.20gb yet');

  const labels = { 'nvidia.com/gpu.product': 'NVIDIA-A100-SXM4-80GB', 'nvidia.com/gpu.count': '1', 'nvidia.com/mig.strategy': 'mixed', 'nvidia.com/mig.capable': 'true', 'nvidia.com/gpu.sharing-strategy': 'none' };
  const node = { metadata: { name: 'gpu-a100-new', labels }, status: { allocatable: { cpu: '64', memory: '503Gi', 'nvidia.com/mig-2g.20gb': '2' } } };
  try {
    await putNode(cluster, node);
    const mutated = await eventually(answer, accepted, 'the webhook to see the new node');
    assert.equal(gpuRequests(mutated.body), { 'nvidia.com/mig-2g.20gb': '1' });

    // Time-sliced slices are no MIG guarantee: relabelled so, the node offers no 2g.20gb slice.
    await putNode(cluster, { ...node, metadata: { ...node.metadata, labels: { ...labels, 'nvidia.com/gpu.sharing-strategy': 'time-slicing' } } });
    await eventually(answer, refused, 'the webhook to see the relabelled node');
    await putNode(cluster, node);
    await eventually(answer, accepted, 'the webhook to see the label set back');
  } finally {
    await deleteNode(cluster, node.metadata.name);
  }
  await eventually(answer, refused, 'the webhook to see the node deleted');
});

e2e('after the API server restarts, the webhook watches again and follows new nodes', async ({ cluster, labelled }) => {
  await cluster.restartApiServer();
  const ask = inferencePod('threeg', { [`${PREFIX}gpu-profile`]: '3g.20gb' });
  const node = { metadata: { name: 'gpu-a30-after-restart', labels: { 'nvidia.com/gpu.product': 'NVIDIA-A30', 'nvidia.com/mig.strategy': 'mixed' } }, status: { allocatable: { 'nvidia.com/mig-3g.20gb': '1' } } };
  // The node exists only after the restart, so only a watch (or re-list) made since sees it.
  await putNode(cluster, node);
  try {
    const mutated = await eventually(() => createPod(cluster, labelled, ask, true), (res) => res.status === 201, 'the webhook to see a node created after the restart', 60_000);
    assert.equal(gpuRequests(mutated.body), { 'nvidia.com/mig-3g.20gb': '1' });
  } finally {
    await deleteNode(cluster, node.metadata.name);
  }
});

/**
 * A trivial webhook that labels every pod of `namespace`, registered by URL after ours (webhooks
 * run in the order of their configurations' names), for the time `run` takes: the pod changes
 * after ours ran, so the API server calls ours again (reinvocationPolicy: IfNeeded). Gives the
 * number of calls it got.
 */
async function withLabeller(cluster: Cluster, namespace: string, run: () => Promise<void>): Promise<number> {
  const authority = await createCertificateAuthority();
  const serving = await createServingCertificate(authority, { dnsNames: ['localhost'], validityMs: DAY_MS });
  let calls = 0;
  const server: Server = createServer({ key: serving.key, cert: serving.cert }, (req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      calls++;
      const review = JSON.parse(body);
      const patch = review.request.object.metadata.labels
        ? [{ op: 'add', path: '/metadata/labels/trivial-webhook', value: 'was-here' }]
        : [{ op: 'add', path: '/metadata/labels', value: { 'trivial-webhook': 'was-here' } }];
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: review.request.uid, allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') } }));
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const name = 'zz-trivial-labeller';
  try {
    const registered = await cluster.request('POST', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations', {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name },
      webhooks: [{
        name: 'labeller.test.local',
        admissionReviewVersions: ['v1'],
        sideEffects: 'None',
        clientConfig: { url: `https://localhost:${port}/`, caBundle: Buffer.from(authority.cert).toString('base64') },
        rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }],
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } },
      }],
    });
    assert.is(registered.status, 201, JSON.stringify(registered.body));
    await run();
    return calls;
  } finally {
    await cluster.request('DELETE', `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${name}`);
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

const through = (cluster: Cluster, namespace: string, body: unknown) =>
  eventually(
    () => createPod(cluster, namespace, body),
    (res) => res.status === 201 && res.body.metadata.labels?.['trivial-webhook'] === 'was-here',
    'a pod through both webhooks',
  );

e2e('with a second mutating webhook after ours, reinvocation gives no second change', async ({ cluster, labelled, webhook }) => {
  let before = { total: 0, unchanged: 0 };
  let created: Awaited<ReturnType<typeof createPod>> | undefined;
  const calls = await withLabeller(cluster, labelled, async () => {
    before = await webhookCalls(webhook);
    created = await through(cluster, labelled, inferencePod(`twice-${Math.random().toString(36).slice(2, 6)}`, { [`${PREFIX}gpu-profile`]: '1g.10gb' }));
  });
  assert.equal(gpuRequests(created!.body), { [MIG_1G]: '1' }, 'the request is there once');
  assert.is(created!.body.spec.containers[0].resources.limits[MIG_1G], '1');
  assert.is(created!.body.metadata.annotations[STATUS_ANNOTATION], 'gpu');
  assert.ok(calls >= 1);
  const after = await webhookCalls(webhook);
  assert.ok(after.total - before.total >= 2, `the API server called ours ${after.total - before.total} times, not twice (first call and reinvocation)`);
  assert.ok(after.unchanged - before.unchanged >= 1, 'the reinvocation changed nothing');
});

e2e('CVMFS in every container (init containers and native sidecars too) and the auth sidecar: once each after reinvocation', async ({ cluster, labelled, webhook }) => {
  const claim = await cluster.request('POST', `/api/v1/namespaces/${labelled}/persistentvolumeclaims`, {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: 'cvmfs' },
    spec: { accessModes: ['ReadOnlyMany'], storageClassName: 'cvmfs', resources: { requests: { storage: '1' } } },
  });
  assert.ok([201, 409].includes(claim.status), JSON.stringify(claim.body));
  const body: any = inferencePod(`cvmfs-${Math.random().toString(36).slice(2, 6)}`, { [`${PREFIX}cvmfs-repositories`]: 'cms.cern.ch', [`${PREFIX}auth`]: 'enabled' });
  body.spec.initContainers = [
    { name: 'fetch-models', image: 'busybox:1.36', command: ['ls', '/cvmfs/cms.cern.ch'] },
    { name: 'log-shipper', image: 'fluent/fluent-bit:3.2', restartPolicy: 'Always' },
  ];
  let before = { total: 0, unchanged: 0 };
  let created: Awaited<ReturnType<typeof createPod>> | undefined;
  await withLabeller(cluster, labelled, async () => {
    before = await webhookCalls(webhook);
    created = await through(cluster, labelled, body);
  });
  const stored = created!.body;
  const cvmfs = (container: any) => (container.volumeMounts ?? []).filter((m: any) => m.name === 'supersonic-cvmfs').map((m: any) => m.mountPath);
  assert.equal(stored.spec.containers.map(cvmfs), [['/cvmfs/cms.cern.ch']]);
  assert.equal(stored.spec.initContainers.map((c: any) => c.name), ['fetch-models', 'log-shipper', 'supersonic-auth']);
  assert.equal(stored.spec.initContainers.map(cvmfs), [['/cvmfs/cms.cern.ch'], ['/cvmfs/cms.cern.ch'], []]);
  assert.is(stored.spec.volumes.filter((v: any) => v.name === 'supersonic-cvmfs').length, 1);
  assert.is(stored.metadata.annotations[STATUS_ANNOTATION], 'auth,cvmfs');
  const after = await webhookCalls(webhook);
  assert.ok(after.total - before.total >= 2, `the API server called ours ${after.total - before.total} times, not twice (first call and reinvocation)`);
  assert.ok(after.unchanged - before.unchanged >= 1, 'the reinvocation changed nothing, on the pod as the API server defaulted it');
});

e2e('failurePolicy: Fail refuses pods while the webhook is down; Ignore (after helm upgrade) lets them through unmutated', async ({ cluster, labelled, webhook }) => {
  webhook.stopProcess();
  await webhook.process.exited;
  try {
    const refused = await cluster.kubectl(['create', '-n', labelled, '-f', '-'], JSON.stringify(inferencePod('while-down', { [`${PREFIX}gpu-profile`]: '1g.10gb' })));
    assert.is.not(refused.code, 0);
    assert.match(refused.stderr, `failed calling webhook "${WEBHOOK_NAME}"`);

    const upgraded = await webhook.upgrade(['webhook.failurePolicy=Ignore']);
    assert.is(upgraded.code, 0, upgraded.stderr);
    const allowed = await eventually(
      () => createPod(cluster, labelled, inferencePod(`ignored-${Math.random().toString(36).slice(2, 6)}`, { [`${PREFIX}gpu-profile`]: '1g.10gb' })),
      (res) => res.status === 201,
      'the API server to use failurePolicy Ignore',
    );
    assert.equal(gpuRequests(allowed.body), {}, 'stored as submitted');
  } finally {
    await webhook.startProcess();
  }
});

e2e('helm uninstall leaves no Secret or Lease the webhook created: they belong to its registration, and garbage collection follows it', async ({ cluster, webhook }) => {
  const ns = webhook.namespace;
  const tlsSecret = await cluster.request('GET', `/api/v1/namespaces/${ns}/secrets?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dsupersonic-webhook`);
  assert.is(tlsSecret.body.items.length, 1, 'the webhook wrote its TLS Secret');
  const leases = await cluster.request('GET', `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`);
  assert.is(leases.body.items.length, 1, 'and its Lease');
  for (const object of [tlsSecret.body.items[0], leases.body.items[0]]) {
    assert.equal(object.metadata.ownerReferences?.map((o: any) => `${o.kind}/${o.name}`), [`MutatingWebhookConfiguration/${webhook.configuration}`], object.metadata.name);
  }
  await webhook.remove();
  await eventually(
    async () => [
      ...(await cluster.request('GET', `/api/v1/namespaces/${ns}/secrets?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dsupersonic-webhook`)).body.items,
      ...(await cluster.request('GET', `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`)).body.items,
    ].map((o: any) => `${o.kind ?? ''}${o.metadata.name}`),
    (left) => left.length === 0,
    'garbage collection to delete the Secret and the Lease',
    60_000,
  );
});

e2e.run();

/** How often the API server called the webhook, from the process's own metrics. */
async function webhookCalls(webhook: ChartWebhook): Promise<{ total: number; unchanged: number }> {
  const answered = await webhook.answered();
  return { total: Object.values(answered).reduce((sum, n) => sum + n, 0), unchanged: (answered.unchanged ?? 0) + (answered.skipped ?? 0) };
}
