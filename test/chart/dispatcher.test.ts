/**
 * The Knative dispatcher's objects in the chart: rendered only where the cluster serves Knative
 * Serving (and refused with what to do where it does not), least-privilege RBAC in the models'
 * namespace, its configuration (the whole `dispatcher` section, valid against the chart's own
 * schema), and a Deployment that reloads that configuration instead of restarting.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { template, templateOrThrow, CHART_DIR } from '../helpers/helm.ts';
import { parseManifests } from '../helpers/k8s/manifests.ts';

type Manifest = Record<string, any>;
const dispatcher = suite('dispatcher in the chart');
const KNATIVE = 'serving.knative.dev/v1';
const SCHEMA = JSON.parse(readFileSync(join(CHART_DIR, 'values.schema.json'), 'utf8'));

async function render(values: Record<string, unknown> = {}, options: { namespace?: string; release?: string } = {}): Promise<Manifest[]> {
  const text = await templateOrThrow('helm', { ...options, values: { dispatcher: { enabled: true, ...values } }, apiVersions: [KNATIVE] });
  return parseManifests(text) as Manifest[];
}
const ofDispatcher = (objects: Manifest[]) => objects.filter((o) => o.metadata?.labels?.['app.kubernetes.io/component'] === 'dispatcher');
const one = (objects: Manifest[], kind: string) => ofDispatcher(objects).find((o) => o.kind === kind)!;
const container = (objects: Manifest[]) => one(objects, 'Deployment').spec.template.spec.containers[0];
const env = (objects: Manifest[]) => Object.fromEntries(container(objects).env.map((e: Manifest) => [e.name, e.value ?? e.valueFrom]));

dispatcher('off by default: no dispatcher objects, with or without Knative', async () => {
  for (const apiVersions of [[], [KNATIVE]]) {
    const objects = parseManifests(await templateOrThrow('helm', { apiVersions })) as Manifest[];
    assert.equal(ofDispatcher(objects), []);
  }
});

dispatcher('enabled where the cluster serves Knative Serving: Deployment, Service, ConfigMap, RBAC, PDB', async () => {
  const kinds = ofDispatcher(await render()).map((o) => `${o.kind}/${o.metadata.name}`).sort();
  assert.equal(kinds, [
    'ClusterRole/cms-supersonic-dispatcher',
    'ClusterRoleBinding/cms-supersonic-dispatcher',
    'ConfigMap/supersonic-dispatcher',
    'Deployment/supersonic-dispatcher',
    'PodDisruptionBudget/supersonic-dispatcher',
    'Role/cms-supersonic-dispatcher',
    'RoleBinding/cms-supersonic-dispatcher',
    'Service/supersonic-dispatcher',
    'ServiceAccount/supersonic-dispatcher',
  ]);
});

dispatcher('enabled without Knative Serving: the render fails, naming the key and what to install', async () => {
  for (const binary of ['helm', 'helm3'] as const) {
    const result = await template(binary, { values: { dispatcher: { enabled: true } } });
    assert.is.not(result.code, 0, `${binary} rendered the dispatcher without Knative`);
    assert.match(result.stderr, /dispatcher\.enabled is true, but the cluster does not serve serving\.knative\.dev\/v1/);
    assert.match(result.stderr, /Knative Serving must be installed/);
    assert.match(result.stderr, /--api-versions serving\.knative\.dev\/v1/);
  }
});

dispatcher('the Deployment: the servers image (by digest when given), its entry point, env, probes, restricted security, drain time', async () => {
  const objects = await render({ port: 9090, logLevel: 'debug', autoscaling: { timeoutSeconds: 900 } }, { release: 'atlas', namespace: 'atlas-ns' });
  const deployment = one(objects, 'Deployment');
  const pod = deployment.spec.template.spec;
  const main = container(objects);
  assert.match(main.image, /^ghcr\.io\/fastmachinelearning\/supersonic-servers:\d+\.\d+\.\d+$/);
  assert.equal(main.args, ['dispatcher/dist/server.mjs']);
  assert.equal(env(objects), {
    POD_NAME: { fieldRef: { fieldPath: 'metadata.name' } },
    POD_NAMESPACE: { fieldRef: { fieldPath: 'metadata.namespace' } },
    RELEASE_NAME: 'atlas',
    SERVICE_NAMESPACE: 'atlas-ns',
    CONFIG_DIR: '/etc/supersonic/dispatcher',
    LOG_LEVEL: 'debug',
    PORT: '9090',
  });
  assert.equal(main.ports, [{ name: 'http', containerPort: 9090, protocol: 'TCP' }]);
  assert.equal([main.readinessProbe.httpGet.path, main.livenessProbe.httpGet.path], ['/readyz', '/healthz']);
  assert.equal([main.readinessProbe.httpGet.port, main.livenessProbe.httpGet.port], ['http', 'http']);
  assert.is(pod.terminationGracePeriodSeconds, 930, 'the longest request (autoscaling.timeoutSeconds) plus 30 s');
  assert.is(pod.serviceAccountName, 'atlas-dispatcher');
  assert.equal(pod.securityContext, { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } });
  assert.equal(main.securityContext, { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true });
  assert.ok(pod.affinity.podAntiAffinity, 'replicas prefer different nodes');
  assert.is(deployment.spec.replicas, 2);
  const digest = `sha256:${'ab'.repeat(32)}`;
  assert.is(container(await render({ image: 'mirror.example.org/servers:0.4.0', imageDigest: digest })).image, `mirror.example.org/servers:0.4.0@${digest}`);
});

dispatcher('the configuration is mounted as a directory (no subPath) and no checksum restarts the pods: the dispatcher reloads it', async () => {
  const objects = await render();
  const deployment = one(objects, 'Deployment');
  assert.equal(container(objects).volumeMounts, [{ name: 'config', mountPath: '/etc/supersonic/dispatcher', readOnly: true }]);
  assert.equal(deployment.spec.template.spec.volumes, [{ name: 'config', configMap: { name: 'supersonic-dispatcher' } }]);
  assert.is(deployment.spec.template.metadata.annotations, undefined);
  const before = JSON.stringify(deployment.spec.template);
  const after = JSON.stringify(one(await render({ readyTimeoutSeconds: 900, gpuResources: ['nvidia.com/mig-1g.10gb'] }), 'Deployment').spec.template);
  assert.is(after, before, 'a configuration change leaves the pod template as it is');
});

dispatcher('the ConfigMap holds the whole dispatcher section as dispatcher.yaml, valid against the schema of the chart', async () => {
  const values = { serviceNamespace: 'models', gpuResources: ['nvidia.com/mig-3g.40gb'], models: { 'meta-llama/Llama-3.1-8B-Instruct': { family: 'vllm', gpuMemory: '20Gi' } } };
  const configMap = one(await render(values), 'ConfigMap');
  assert.equal(Object.keys(configMap.data), ['dispatcher.yaml']);
  const section = parse(configMap.data['dispatcher.yaml']);
  assert.is(section.serviceNamespace, 'models');
  assert.equal(section.gpuResources, ['nvidia.com/mig-3g.40gb']);
  assert.equal(section.models, values.models);
  assert.equal(Object.keys(section).sort(), Object.keys(SCHEMA.properties.dispatcher.properties).sort(), 'every key of the section, defaults included');
  assert.is(section.autoscaling.timeoutSeconds, 600, 'the group defaults are in, not an empty map');
  const ajv = new Ajv({ strict: false, allErrors: true, allowUnionTypes: true });
  const validate = ajv.compile({ ...SCHEMA.properties.dispatcher, definitions: SCHEMA.definitions });
  assert.ok(validate(section), JSON.stringify(validate.errors));
});

dispatcher('RBAC: exactly the verbs the dispatcher needs, no wildcard; models in their namespace, nodes and pods read cluster-wide', async () => {
  const objects = await render();
  for (const role of ofDispatcher(objects).filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole')) {
    for (const rule of role.rules) {
      for (const field of ['apiGroups', 'resources', 'verbs']) assert.not.ok(rule[field].includes('*'), `wildcard in ${JSON.stringify(rule)}`);
    }
  }
  const rules = (kind: string) =>
    one(objects, kind).rules.flatMap((r: Manifest) => r.apiGroups.flatMap((g: string) => r.resources.map((res: string) => `${g || 'core'}/${res}: ${[...r.verbs].sort().join(',')}`))).sort();
  assert.equal(rules('Role'), ['core/secrets: create,delete', 'serving.knative.dev/services: create,delete,list,patch,watch']);
  assert.equal(rules('ClusterRole'), ['core/nodes: list,watch', 'core/pods: list,watch']);
  for (const kind of ['RoleBinding', 'ClusterRoleBinding']) {
    const binding = one(objects, kind);
    assert.equal(binding.subjects, [{ kind: 'ServiceAccount', name: 'supersonic-dispatcher', namespace: 'cms' }]);
    assert.is(binding.roleRef.name, one(objects, kind.replace('Binding', '')).metadata.name);
  }
});

dispatcher('serviceNamespace: the Role, its binding and SERVICE_NAMESPACE are there; everything else stays in the release namespace', async () => {
  const objects = await render({ serviceNamespace: 'models' });
  assert.is(one(objects, 'Role').metadata.namespace, 'models');
  assert.is(one(objects, 'RoleBinding').metadata.namespace, 'models');
  assert.is(one(objects, 'RoleBinding').subjects[0].namespace, 'cms');
  assert.is(env(objects).SERVICE_NAMESPACE, 'models');
  for (const kind of ['Deployment', 'Service', 'ConfigMap', 'ServiceAccount', 'PodDisruptionBudget']) assert.is(one(objects, kind).metadata.namespace, 'cms', kind);
  // Without it, the release namespace.
  const defaults = await render();
  assert.is(one(defaults, 'Role').metadata.namespace, 'cms');
  assert.is(env(defaults).SERVICE_NAMESPACE, 'cms');
});

dispatcher('two releases of one name in two namespaces sharing a models namespace get distinct Roles and ClusterRoles', async () => {
  const a = await render({ serviceNamespace: 'models' }, { namespace: 'cms' });
  const b = await render({ serviceNamespace: 'models' }, { namespace: 'atlas' });
  for (const kind of ['Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding']) assert.is.not(one(a, kind).metadata.name, one(b, kind).metadata.name, kind);
});

dispatcher('the Service: ClusterIP on dispatcher.port, named http, selecting only the dispatcher pods', async () => {
  const service = one(await render({ port: 80 }), 'Service');
  assert.is(service.spec.type, 'ClusterIP');
  assert.equal(service.spec.ports, [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }]);
  assert.equal(service.spec.selector, { 'app.kubernetes.io/name': 'supersonic', 'app.kubernetes.io/instance': 'supersonic', 'app.kubernetes.io/component': 'dispatcher' });
});

dispatcher('a PodDisruptionBudget only with more than one replica', async () => {
  assert.is(one(await render({ replicas: 3 }), 'PodDisruptionBudget').spec.maxUnavailable, 1);
  assert.not.ok(one(await render({ replicas: 1 }), 'PodDisruptionBudget'));
});

dispatcher('the NetworkPolicy: off by default; on, the dispatcher port from the given peers, else from the release namespace only', async () => {
  assert.not.ok(one(await render(), 'NetworkPolicy'));
  const sameNamespace = one(await render({ networkPolicy: { enabled: true } }), 'NetworkPolicy');
  assert.equal(sameNamespace.spec.policyTypes, ['Ingress']);
  assert.equal(sameNamespace.spec.ingress, [{ ports: [{ port: 'http', protocol: 'TCP' }], from: [{ podSelector: {} }] }]);
  const peers = [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'cms-jobs' } } }];
  const given = one(await render({ networkPolicy: { enabled: true, from: peers } }), 'NetworkPolicy');
  assert.equal(given.spec.ingress[0].from, peers);
  assert.equal(given.spec.podSelector.matchLabels['app.kubernetes.io/component'], 'dispatcher');
});

dispatcher('a typo in the dispatcher section fails the install, naming the key', async () => {
  const result = await template('helm', { values: { dispatcher: { enabled: true, autoscaling: { maxScal: 2 } } }, apiVersions: [KNATIVE] });
  assert.is.not(result.code, 0);
  assert.match(result.stderr, /maxScal/);
});

dispatcher('with the gateway checking tokens, the dispatcher gets the same settings (auth.yaml) and the issuer\'s CA', async () => {
  const auth = { enabled: true, jwt_issuer: 'https://kc.example.org/realms/cms', jwt_remote_jwks_uri: 'https://kc.example.org/realms/cms/certs', audiences: ['supersonic'] };
  const plain = await render();
  assert.not.ok('auth.yaml' in one(plain, 'ConfigMap').data, 'no token check without envoy.auth');
  const text = await templateOrThrow('helm', { values: { dispatcher: { enabled: true }, envoy: { auth: { ...auth, caBundle: { configMap: 'kc-ca', secret: '', key: 'ca.crt' } } } }, apiVersions: [KNATIVE] });
  const objects = parseManifests(text) as Manifest[];
  assert.equal(parse(one(objects, 'ConfigMap').data['auth.yaml']), { issuer: auth.jwt_issuer, jwksUri: auth.jwt_remote_jwks_uri, audiences: ['supersonic'], caFile: '/etc/supersonic/dispatcher-ca/ca.crt' });
  const pod = one(objects, 'Deployment').spec.template.spec;
  assert.ok(pod.volumes.some((v: Manifest) => v.name === 'jwks-ca' && v.configMap?.name === 'kc-ca' && v.configMap.items[0].path === 'ca.crt'));
  assert.ok(container(objects).volumeMounts.some((m: Manifest) => m.name === 'jwks-ca' && m.mountPath === '/etc/supersonic/dispatcher-ca'));
});

dispatcher.run();
