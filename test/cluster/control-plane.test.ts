/**
 * The test control plane itself (test/helpers/cluster): the real binaries at their pinned
 * versions, the CRDs installed and served, RBAC enforced, the scheduler binding pods to Node
 * objects, the controller manager running Deployments and deleting namespaces, and stop()
 * leaving no process and no file behind.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { startCluster } from '../helpers/cluster/control-plane.ts';
import { deleteNode, putNode } from '../helpers/cluster/nodes.ts';
import { createNamespace, eventually, sharedCluster } from '../helpers/cluster/shared.ts';

const plane = suite('cluster: the shared control plane');

plane('kube-apiserver and kubectl report the pinned release', async () => {
  const cluster = await sharedCluster();
  const version = await cluster.request('GET', '/version');
  assert.is(version.body.gitVersion, 'v1.36.3');
  assert.is(version.body.minor, '36');
  const kubectl = await cluster.kubectl(['version', '--output=json']);
  assert.is(kubectl.code, 0, kubectl.stderr);
  assert.is(JSON.parse(kubectl.stdout).clientVersion.gitVersion, 'v1.36.3');
});

plane('the CRDs of ../shared/crds are established and served, with their structural schemas enforced', async () => {
  const cluster = await sharedCluster();
  for (const name of ['scaledobjects.keda.sh', 'triggerauthentications.keda.sh', 'services.serving.knative.dev', 'certificates.cert-manager.io', 'servicemonitors.monitoring.coreos.com', 'prometheusrules.monitoring.coreos.com']) {
    const crd = await cluster.request('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`);
    assert.is(crd.status, 200, name);
    assert.ok(crd.body.status.conditions.some((c: any) => c.type === 'Established' && c.status === 'True'), `${name} is not Established`);
  }
  const namespace = await createNamespace(cluster, 'crd-schema');
  try {
    const bad = await cluster.request('POST', `/apis/keda.sh/v1alpha1/namespaces/${namespace.name}/scaledobjects?fieldValidation=Strict`, {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name: 'bad' },
      spec: { scaleTargetRef: { name: 'triton' }, triggers: [{ type: 'prometheus', metadata: {} }], minReplicaCount: 'zero' },
    });
    assert.is(bad.status, 422, JSON.stringify(bad.body));
    assert.match(bad.body.message, 'minReplicaCount');
  } finally {
    await namespace.remove();
  }
});

plane('RBAC is enforced: an identity with no role is denied, the admin is allowed', async () => {
  const cluster = await sharedCluster();
  assert.is((await cluster.request('GET', '/api/v1/secrets', undefined, { as: 'nobody' })).status, 403);
  assert.is((await cluster.request('GET', '/api/v1/secrets')).status, 200);
});

plane('kube-scheduler binds a pod to a Node object; kube-controller-manager gives a Deployment its ReplicaSet and deletes a namespace', async () => {
  const cluster = await sharedCluster();
  const namespace = await createNamespace(cluster, 'plane');
  const nodeName = `${namespace.name}-node`;
  try {
    await putNode(cluster, { metadata: { name: nodeName, labels: { 'plane-test': namespace.name } }, status: { allocatable: { cpu: '4', memory: '8Gi' } } });

    const pod = await cluster.request('POST', `/api/v1/namespaces/${namespace.name}/pods`, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'pinned' },
      spec: { nodeSelector: { 'plane-test': namespace.name }, containers: [{ name: 'c', image: 'busybox' }] },
    });
    assert.is(pod.status, 201, JSON.stringify(pod.body));
    const bound = await eventually(
      () => cluster.request('GET', `/api/v1/namespaces/${namespace.name}/pods/pinned`),
      (res) => Boolean(res.body.spec?.nodeName),
      'the scheduler to bind the pod',
    );
    assert.is(bound.body.spec.nodeName, nodeName);

    const deployment = await cluster.request('POST', `/apis/apps/v1/namespaces/${namespace.name}/deployments`, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: { replicas: 1, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } },
    });
    assert.is(deployment.status, 201);
    await eventually(
      () => cluster.request('GET', `/apis/apps/v1/namespaces/${namespace.name}/replicasets`),
      (res) => res.body.items?.length === 1,
      'the Deployment controller to create a ReplicaSet',
    );
  } finally {
    await deleteNode(cluster, nodeName);
    await namespace.remove();
  }
  await eventually(
    () => cluster.request('GET', `/api/v1/namespaces/${namespace.name}`),
    (res) => res.status === 404,
    'the namespace to be deleted',
    60_000,
  );
});

plane.run();

const own = suite('cluster: a cluster of its own');

own('a cluster without the optional CRDs serves none of them, and stop() leaves no process and no file', async () => {
  const cluster = await startCluster({ crds: [], controllers: false });
  const dir = cluster.dir;
  let pids: number[] = [];
  try {
    const crds = await cluster.request('GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions');
    assert.equal(crds.body.items, []);
    assert.is((await cluster.request('GET', '/apis/keda.sh/v1alpha1')).status, 404);
    pids = readFileSync(`${dir}/pids`, 'utf8').trim().split(' ').map(Number);
    assert.is(pids.length, 2, 'etcd and kube-apiserver');
  } finally {
    await cluster.stop();
  }
  assert.not.ok(existsSync(dir), `${dir} is left`);
  for (const pid of pids) {
    assert.throws(() => process.kill(pid, 0), `process ${pid} still runs`);
  }
});

own.run();
