/**
 * Least privilege for the dispatcher, proven as for the webhook (rbac.test.ts): every Kubernetes
 * API call in the files dispatcher/src/server.ts reaches (the shared core's too) is in the table
 * below with the permission it needs; the chart's RBAC for the dispatcher, rendered and applied
 * to the real control plane, is asked of the real authorizer with SubjectAccessReviews: each
 * call allowed where it is made (the models' namespace, or cluster-wide reads of nodes and
 * pods), the same denied in another namespace, and what it must never do denied. A grant no
 * call needs fails too.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { createNamespace, sharedCluster } from '../helpers/cluster/shared.ts';
import { REPO_ROOT, templateOrThrow } from '../helpers/helm.ts';
import { importClosure } from '../helpers/import-closure.ts';
import { parseManifests } from '../helpers/k8s/manifests.ts';
import {
  accessMismatches,
  apiCallsIn,
  applyObjects,
  deleteClusterScoped,
  rbacObjects,
  serviceAccountSubject,
  waitForGrants,
  wildcardProblems,
  type Expectation,
} from '../helpers/rbac.ts';

type Manifest = Record<string, any>;

interface Call {
  file: string;
  verb: string;
  group: string;
  resource: string;
  /** cluster: nodes and pods everywhere (what is free); models: the models' namespace only. */
  scope: 'cluster' | 'models';
  why: string;
}

const KNATIVE = 'serving.knative.dev';
const SERVICES_PATH = '/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}';

const DISPATCHER_CALLS: Record<string, Call> = {
  listNodePage: { file: 'core/src/gpu/node-pages.ts', verb: 'list', group: '', resource: 'nodes', scope: 'cluster', why: 'the node inventory lists nodes, a page at a time as plain JSON (GET /api/v1/nodes)' },
  '/api/v1/nodes': { file: 'core/src/gpu/inventory.ts', verb: 'watch', group: '', resource: 'nodes', scope: 'cluster', why: 'the node inventory watches nodes' },
  listPodForAllNamespaces: { file: 'dispatcher/src/placement/gpu-pods.ts', verb: 'list', group: '', resource: 'pods', scope: 'cluster', why: 'what GPU pods request, for what is free' },
  '/api/v1/pods': { file: 'dispatcher/src/placement/gpu-pods.ts', verb: 'watch', group: '', resource: 'pods', scope: 'cluster', why: 'GPU pods watched' },
  listNamespacedCustomObject: { file: 'dispatcher/src/knative/model-services.ts', verb: 'list', group: KNATIVE, resource: 'services', scope: 'models', why: 'the models\' Services listed' },
  [SERVICES_PATH]: { file: 'dispatcher/src/knative/model-services.ts', verb: 'watch', group: KNATIVE, resource: 'services', scope: 'models', why: 'the models\' Services watched (Ready)' },
  createNamespacedCustomObject: { file: 'dispatcher/src/knative/model-services.ts', verb: 'create', group: KNATIVE, resource: 'services', scope: 'models', why: 'a model\'s Service created' },
  patchNamespacedCustomObject: { file: 'dispatcher/src/knative/model-services.ts', verb: 'patch', group: KNATIVE, resource: 'services', scope: 'models', why: 'the last-used annotation' },
  deleteNamespacedCustomObject: { file: 'dispatcher/src/knative/model-services.ts', verb: 'delete', group: KNATIVE, resource: 'services', scope: 'models', why: 'idle clean-up' },
  createNamespacedSecret: { file: 'dispatcher/src/knative/model-services.ts', verb: 'create', group: '', resource: 'secrets', scope: 'models', why: 'a model\'s credentials Secret' },
  deleteNamespacedSecret: { file: 'dispatcher/src/knative/model-services.ts', verb: 'delete', group: '', resource: 'secrets', scope: 'models', why: 'idle clean-up of the Secret' },
};

const source = suite('RBAC: the API calls of the dispatcher\'s code');

source('every Kubernetes API call the dispatcher makes has its permission here, and every entry is still called', () => {
  const found = apiCallsIn(importClosure(join(REPO_ROOT, 'dispatcher/src/server.ts')).files);
  const problems: string[] = [];
  for (const [call, files] of found) {
    const known = DISPATCHER_CALLS[call];
    if (!known) problems.push(`${[...files].join(', ')} calls ${call}, which is not in DISPATCHER_CALLS: add the verb and resource it needs (and grant it in the chart)`);
    else if (!files.has(known.file)) problems.push(`DISPATCHER_CALLS says ${call} is in ${known.file}, but it is in ${[...files].join(', ')}`);
  }
  for (const call of Object.keys(DISPATCHER_CALLS)) if (!found.has(call)) problems.push(`DISPATCHER_CALLS lists ${call}, which the dispatcher no longer calls: remove it (and its grant)`);
  assert.equal(problems, []);
});

source.run();

const rbac = suite('RBAC: the dispatcher\'s ServiceAccount, asked of the real authorizer');

rbac('its calls allowed where it makes them, nothing else: not in another namespace, no Secret reads, no pod or node writes', async () => {
  const cluster = await sharedCluster();
  const release = `disp-${Math.random().toString(36).slice(2, 7)}`;
  const namespace = await createNamespace(cluster, 'rbac-dispatcher');
  const models = await createNamespace(cluster, 'rbac-models');
  const other = await createNamespace(cluster, 'rbac-other');
  let applied: Manifest[] = [];
  try {
    const rendered = parseManifests(
      await templateOrThrow('helm', { release, namespace: namespace.name, values: { dispatcher: { enabled: true, serviceNamespace: models.name } }, apiVersions: ['serving.knative.dev/v1'] }),
    ) as Manifest[];
    const objects = rbacObjects(rendered).filter((o) => o.metadata?.labels?.['app.kubernetes.io/component'] === 'dispatcher');
    const problems = wildcardProblems(objects);
    const account = objects.find((o) => o.kind === 'ServiceAccount');
    assert.ok(account, 'no dispatcher ServiceAccount');
    const deployment = rendered.find((o) => o.kind === 'Deployment' && o.metadata?.labels?.['app.kubernetes.io/component'] === 'dispatcher');
    assert.is(deployment?.spec.template.spec.serviceAccountName, account.metadata.name);

    // Every granted verb is one some call needs, at the scope it is granted.
    const calls = Object.values(DISPATCHER_CALLS);
    for (const role of objects.filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole')) {
      for (const rule of role.rules ?? []) for (const group of rule.apiGroups) for (const resource of rule.resources) for (const verb of rule.verbs) {
        const scope = role.kind === 'ClusterRole' ? 'cluster' : 'models';
        if (!calls.some((c) => c.group === group && c.resource === resource && c.verb === verb && c.scope === scope)) {
          problems.push(`${role.kind} ${role.metadata.name} grants ${verb} ${resource}${group ? `.${group}` : ''}, which no call in DISPATCHER_CALLS needs`);
        }
      }
      if (role.kind === 'Role') assert.is(role.metadata.namespace, models.name, 'the Role is in the models\' namespace');
    }
    applied = objects;
    await applyObjects(cluster, objects);

    const subject = serviceAccountSubject(namespace.name, account.metadata.name);
    const expectations: Expectation[] = [];
    for (const [key, call] of Object.entries(DISPATCHER_CALLS)) {
      const why = `${call.why} (${call.file}: ${key})`;
      const access = { verb: call.verb, group: call.group, resource: call.resource };
      if (call.scope === 'cluster') expectations.push({ access, allowed: true, why });
      else {
        expectations.push({ access: { ...access, namespace: models.name }, allowed: true, why });
        expectations.push({ access: { ...access, namespace: other.name }, allowed: false, why: `only in the models' namespace: ${why}` });
        expectations.push({ access: { ...access, namespace: namespace.name }, allowed: false, why: `not in the release namespace when serviceNamespace is set: ${why}` });
      }
    }
    const deny = (why: string, verb: string, group: string, resource: string, where: { namespace?: string; name?: string; subresource?: string } = {}) =>
      expectations.push({ access: { verb, group, resource, ...where }, allowed: false, why });
    for (const ns of [models.name, other.name]) {
      for (const verb of ['get', 'list', 'watch', 'update', 'patch']) deny('credentials are written once, never read back or changed', verb, '', 'secrets', { namespace: ns, ...(verb === 'list' || verb === 'watch' ? {} : { name: 'site-token' }) });
      for (const verb of ['create', 'delete']) deny('pods are Knative\'s to make', verb, '', 'pods', { namespace: ns });
      deny('no exec into model pods', 'create', '', 'pods', { namespace: ns, name: 'model-pod', subresource: 'exec' });
      for (const resource of ['configurations', 'revisions', 'routes']) deny('only Services: Knative makes the rest', 'create', KNATIVE, resource, { namespace: ns });
      deny('no ConfigMap reads (its configuration is mounted)', 'get', '', 'configmaps', { namespace: ns, name: 'config-features' });
      deny('no ServiceAccount tokens', 'create', '', 'serviceaccounts', { namespace: ns, name: 'default', subresource: 'token' });
      deny('no RBAC writes', 'create', 'rbac.authorization.k8s.io', 'rolebindings', { namespace: ns });
      deny('no wildcard grants', '*', '*', '*', { namespace: ns });
    }
    for (const verb of ['update', 'patch', 'delete']) deny('node writes are the kubelet\'s', verb, '', 'nodes', { name: 'gpu-node-1' });
    deny('no cluster-wide Secrets', 'list', '', 'secrets');
    deny('no Knative Services in every namespace', 'list', KNATIVE, 'services');
    deny('no pod evictions', 'create', '', 'pods', { namespace: other.name, name: 'p', subresource: 'eviction' });
    deny('no impersonation', 'impersonate', '', 'users');
    deny('no wildcard grants', '*', '*', '*');
    await waitForGrants(cluster, subject, expectations);
    problems.push(...(await accessMismatches(cluster, 'the dispatcher', subject, expectations)));
    assert.ok(problems.length === 0, `${problems.length} RBAC mismatches:\n${problems.join('\n')}`);
  } finally {
    const failures = await deleteClusterScoped(cluster, applied);
    await Promise.all([namespace.remove(), models.remove(), other.remove()]);
    if (failures.length) throw new Error(`cleanup failed: ${failures.join('; ')}`);
  }
});

rbac.run();
