/** The webhook's objects in the chart: registration, RBAC, TLS wiring and its configuration. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { template, templateOrThrow, CHART_DIR } from '../helpers/helm.ts';
import { parseManifests } from '../helpers/k8s/manifests.ts';
import { ConfigError, loadConfig } from '../../webhook/src/config.ts';
import { IMAGE_ENTRY } from '../../webhook/bundle.ts';

type Manifest = Record<string, any>;
const webhook = suite('webhook in the chart');
const SCHEMA = join(CHART_DIR, 'values.schema.json');

async function render(values: Record<string, unknown>, apiVersions: string[] = []): Promise<Manifest[]> {
  const text = await templateOrThrow('helm', { namespace: 'supersonic-system', values: { webhook: { enabled: true, ...values } }, apiVersions });
  return parseManifests(text) as Manifest[];
}
/** The webhook's object of a kind (Envoy and Triton have Deployments and ConfigMaps too). */
const one = (objects: Manifest[], kind: string) =>
  objects.find((o) => o.kind === kind && o.metadata?.labels?.['app.kubernetes.io/component'] === 'webhook')!;

webhook('the image by tag, and by digest when one is given (mirrors move tags, not digests)', async () => {
  const image = (objects: Manifest[]) => one(objects, 'Deployment').spec.template.spec.containers[0].image;
  assert.match(image(await render({})), /^ghcr\.io\/fastmachinelearning\/supersonic-servers:\d+\.\d+\.\d+$/);
  const digest = `sha256:${'ab'.repeat(32)}`;
  assert.is(image(await render({ image: 'mirror.example.org/servers:0.4.0', imageDigest: digest })), `mirror.example.org/servers:0.4.0@${digest}`);
  const refused = await template('helm', { values: { webhook: { enabled: true, imageDigest: 'latest' } } });
  assert.is.not(refused.code, 0, 'a digest that is not one is refused');
});

webhook('off by default: no webhook objects at all', async () => {
  const objects = parseManifests(await templateOrThrow('helm', {})) as Manifest[];
  assert.equal(objects.filter((o) => o.metadata?.labels?.['app.kubernetes.io/component'] === 'webhook'), []);
});

webhook('the registration: labelled namespaces only, never its own or the system ones, opt-out label, no side effects, no empty caBundle', async () => {
  const configuration = one(await render({ failurePolicy: 'Ignore', timeoutSeconds: 7 }), 'MutatingWebhookConfiguration');
  const [hook] = configuration.webhooks;
  assert.equal(hook.namespaceSelector.matchLabels, { 'supersonic.fastmachinelearning.org/inject': 'enabled' });
  assert.equal(hook.namespaceSelector.matchExpressions[0].values, ['supersonic-system', 'kube-system', 'kube-public', 'kube-node-lease']);
  assert.equal(hook.objectSelector.matchExpressions, [{ key: 'supersonic.fastmachinelearning.org/inject', operator: 'NotIn', values: ['disabled'] }]);
  assert.equal([hook.failurePolicy, hook.timeoutSeconds, hook.sideEffects, hook.reinvocationPolicy], ['Ignore', 7, 'None', 'IfNeeded']);
  assert.equal(hook.rules, [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' }]);
  assert.not.ok('caBundle' in hook.clientConfig, 'caBundle rendered');
  assert.is(configuration.metadata.name, 'supersonic-system-supersonic-webhook');
});

webhook('TLS: cert-manager when the cluster serves it (CA injected by annotation), self-managed otherwise', async () => {
  const withCertManager = await render({}, ['cert-manager.io/v1']);
  assert.is(one(withCertManager, 'MutatingWebhookConfiguration').metadata.annotations['cert-manager.io/inject-ca-from'], 'supersonic-system/supersonic-webhook');
  assert.ok(withCertManager.some((o) => o.kind === 'Certificate' && o.metadata.name === 'supersonic-webhook'));
  const env = (objects: Manifest[]) => Object.fromEntries(one(objects, 'Deployment').spec.template.spec.containers[0].env.filter((e: Manifest) => 'value' in e).map((e: Manifest) => [e.name, e.value]));
  assert.is(env(withCertManager).TLS_SOURCE, 'files');
  const selfManaged = await render({});
  assert.is(env(selfManaged).TLS_SOURCE, 'self-managed');
  assert.not.ok(selfManaged.some((o) => o.kind === 'Certificate'));
  assert.is(one(selfManaged, 'MutatingWebhookConfiguration').metadata.annotations, undefined);
});

webhook('tls.mode certManager on a cluster without cert-manager fails with what to do', async () => {
  const result = await template('helm', { values: { webhook: { enabled: true, tls: { mode: 'certManager' } } } });
  assert.is.not(result.code, 0);
  assert.match(result.stderr, /webhook\.tls\.mode is certManager, but the cluster does not serve cert-manager\.io\/v1/);
});

webhook('RBAC is least privilege: no wildcards, writes only to its own Secret, Lease and registration', async () => {
  const objects = await render({});
  const rules = objects.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role').flatMap((o) => o.rules);
  for (const rule of rules) {
    for (const field of ['apiGroups', 'resources', 'verbs']) assert.not.ok(rule[field].includes('*'), `wildcard in ${JSON.stringify(rule)}`);
  }
  const writes = rules.filter((r) => r.verbs.some((v: string) => ['update', 'patch'].includes(v)));
  for (const rule of writes) assert.ok(rule.resourceNames?.length, `write without resourceNames: ${JSON.stringify(rule)}`);
  const clusterRole = one(objects, 'ClusterRole');
  assert.equal(clusterRole.rules.map((r: Manifest) => r.resources[0]), ['nodes', 'persistentvolumeclaims', 'mutatingwebhookconfigurations']);
});

webhook('two replicas with a PodDisruptionBudget, and its pods opt out of themselves', async () => {
  const objects = await render({});
  const deployment = one(objects, 'Deployment');
  assert.is(deployment.spec.replicas, 2);
  assert.is(one(objects, 'PodDisruptionBudget').spec.maxUnavailable, 1);
  assert.is(deployment.spec.template.metadata.labels['supersonic.fastmachinelearning.org/inject'], 'disabled');
});

webhook('priorityClassName: the cluster default unless set, then on the webhook pods', async () => {
  assert.not.ok('priorityClassName' in one(await render({}), 'Deployment').spec.template.spec);
  const set = one(await render({ priorityClassName: 'system-cluster-critical' }), 'Deployment');
  assert.is(set.spec.template.spec.priorityClassName, 'system-cluster-critical');
});

webhook('the container runs the webhook bundle the image holds (the Dockerfile\'s CMD, test/webhook/image-contents)', async () => {
  const container = one(await render({}), 'Deployment').spec.template.spec.containers[0];
  assert.is(container.command, undefined, 'the image\'s ENTRYPOINT (node) must stay');
  assert.equal(container.args, [IMAGE_ENTRY]);
});

webhook('the rendered configuration is accepted by the webhook at start; a bad one stops it with the key named', async () => {
  const objects = await render({ injection: { cvmfs: { source: 'hostPath', hostPath: '/var/cvmfs' } } });
  const configMap = one(objects, 'ConfigMap');
  const dir = mkdtempSync(join(tmpdir(), 'webhook-config-'));
  writeFileSync(join(dir, 'webhook.yaml'), configMap.data['webhook.yaml']);
  const config = loadConfig(dir, SCHEMA);
  assert.is(config.values.injection.cvmfs.hostPath, '/var/cvmfs');
  writeFileSync(join(dir, 'webhook.yaml'), configMap.data['webhook.yaml'].replace('source: hostPath', 'source: nfs'));
  assert.throws(() => loadConfig(dir, SCHEMA), (err: Error) => err instanceof ConfigError && /webhook\.yaml:\d+:\d+: webhook\.injection\.cvmfs\.source: "nfs" is not allowed: use one of "pvc", "hostPath"/.test(err.message));
});

webhook('the PrometheusRule appears only when the cluster serves monitoring.coreos.com/v1', async () => {
  assert.not.ok((await render({})).some((o) => o.kind === 'PrometheusRule'));
  const rule = one(await render({}, ['monitoring.coreos.com/v1']), 'PrometheusRule');
  const alerts = rule.spec.groups[0].rules.map((r: Manifest) => r.alert);
  assert.ok((await render({}, ['monitoring.coreos.com/v1'])).some((o) => o.kind === 'ServiceMonitor'), 'no ServiceMonitor, so the webhook errors alert has no data');
  assert.equal(alerts, [
    'SuperSONICWebhookFailingOpen', 'SuperSONICWebhookCallsFailing', 'SuperSONICWebhookErrors', 'SuperSONICWebhookSlow',
    'SuperSONICWebhookNodeViewStale', 'SuperSONICWebhookCertificateExpiring',
  ]);
});

webhook.run();
