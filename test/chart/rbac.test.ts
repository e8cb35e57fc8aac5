/**
 * Least privilege, proven (issue 9 point 5): the chart's ServiceAccounts and RBAC, rendered with
 * `helm template` and applied to the real control plane (test/helpers/cluster), asked of the real
 * RBAC authorizer with SubjectAccessReviews. Each ServiceAccount must be allowed every call its
 * code makes (the calls are read from every file webhook/src/server.ts reaches, the shared
 * core's too, so a new API call fails here until its permission is checked) and denied everything else that matters: other Secrets, pods, other
 * webhook registrations, cluster-wide writes, RBAC escalation, token minting, impersonation,
 * and all of it in other namespaces. The webhook is checked in both TLS modes; Envoy and Triton
 * run with no ServiceAccount token at all.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { Cluster } from '../helpers/cluster/control-plane.ts';
import { createNamespace, sharedCluster, type TestNamespace } from '../helpers/cluster/shared.ts';
import { REPO_ROOT, templateOrThrow } from '../helpers/helm.ts';
import { parseManifests } from '../helpers/k8s/manifests.ts';
import { importClosure } from '../helpers/import-closure.ts';
import {
  accessMismatches,
  applyObjects,
  deleteClusterScoped,
  describeAccess,
  rbacObjects,
  serviceAccountSubject,
  waitForGrants,
  wildcardProblems,
  type Access,
  type Expectation,
  type Subject,
  apiCallsIn,
} from '../helpers/rbac.ts';

type Manifest = Record<string, any>;
type TlsSource = 'self-managed' | 'files';

/** The webhook's entry point: the calls are searched in every file it reaches, the shared core's too. */
const WEBHOOK_ENTRY = join(REPO_ROOT, 'webhook/src/server.ts');

/** The names the webhook process is given (its Deployment's environment and ConfigMap), and where it runs. */
interface Names {
  namespace: string;
  /** A namespace that is not the release's. */
  other: string;
  serviceAccount: string;
  tlsSource: TlsSource;
  tlsSecret: string;
  /** SelfManagedTls' leaseName defaults to the Service name, and server.ts sets none. */
  lease: string;
  configuration: string;
  claim: string;
  configMap: string;
  deployment: string;
  roles: string[];
  clusterRoles: string[];
}

/**
^ * Every Kubernetes API call of the webhook (its own code and the shared core's), by client-node method name (or, for a Watch, the
 * path it watches), with the permission it needs. The first test checks this table against the
 * source, both ways.
 *   cluster: a cluster-scoped object; release-namespace: only the webhook's own namespace (the
 *   test also asks for the same in another namespace, which must be denied); any-namespace: the
 *   namespace of a pod being admitted, so every namespace.
 */
interface Call {
  file: string;
  /** Made only with TLS_SOURCE=self-managed (server.ts loads tls/self-managed.ts only then). */
  selfManagedOnly: boolean;
  verb: string;
  group: string;
  resource: string;
  scope: 'cluster' | 'release-namespace' | 'any-namespace';
  name?: (n: Names) => string;
  why: string;
}

const WEBHOOK_CALLS: Record<string, Call> = {
  listNodePage: { file: 'core/src/gpu/node-pages.ts', selfManagedOnly: false, verb: 'list', group: '', resource: 'nodes', scope: 'cluster', why: 'the GPU inventory lists nodes, a page at a time as plain JSON (GET /api/v1/nodes)' },
  '/api/v1/nodes': { file: 'core/src/gpu/inventory.ts', selfManagedOnly: false, verb: 'watch', group: '', resource: 'nodes', scope: 'cluster', why: 'the GPU inventory watches nodes' },
  readNamespacedPersistentVolumeClaim: {
    file: 'webhook/src/claim-lookup.ts', selfManagedOnly: false, verb: 'get', group: '', resource: 'persistentvolumeclaims', scope: 'any-namespace', name: (n) => n.claim,
    why: 'the CVMFS claim lookup reads the claim in the admitted pod\'s namespace',
  },
  readNamespacedSecret: { file: 'webhook/src/tls/self-managed.ts', selfManagedOnly: true, verb: 'get', group: '', resource: 'secrets', scope: 'release-namespace', name: (n) => n.tlsSecret, why: 'self-managed TLS reads its Secret' },
  '/api/v1/namespaces/${namespace}/secrets': {
    file: 'webhook/src/tls/self-managed.ts', selfManagedOnly: true, verb: 'watch', group: '', resource: 'secrets', scope: 'release-namespace', name: (n) => n.tlsSecret,
    why: 'self-managed TLS watches its Secret (fieldSelector metadata.name=<its Secret>, which the API server authorizes as that name)',
  },
  replaceNamespacedSecret: { file: 'webhook/src/tls/self-managed.ts', selfManagedOnly: true, verb: 'update', group: '', resource: 'secrets', scope: 'release-namespace', name: (n) => n.tlsSecret, why: 'self-managed TLS renews its Secret' },
  createNamespacedSecret: { file: 'webhook/src/tls/self-managed.ts', selfManagedOnly: true, verb: 'create', group: '', resource: 'secrets', scope: 'release-namespace', why: 'self-managed TLS creates its Secret the first time (a create names no object to RBAC)' },
  readNamespacedLease: { file: 'webhook/src/tls/lease.ts', selfManagedOnly: true, verb: 'get', group: 'coordination.k8s.io', resource: 'leases', scope: 'release-namespace', name: (n) => n.lease, why: 'the TLS writer Lease is read' },
  replaceNamespacedLease: { file: 'webhook/src/tls/lease.ts', selfManagedOnly: true, verb: 'update', group: 'coordination.k8s.io', resource: 'leases', scope: 'release-namespace', name: (n) => n.lease, why: 'the TLS writer Lease is renewed and released' },
  createNamespacedLease: { file: 'webhook/src/tls/lease.ts', selfManagedOnly: true, verb: 'create', group: 'coordination.k8s.io', resource: 'leases', scope: 'release-namespace', why: 'the TLS writer Lease is created the first time' },
  readMutatingWebhookConfiguration: {
    file: 'webhook/src/tls/self-managed.ts', selfManagedOnly: true, verb: 'get', group: 'admissionregistration.k8s.io', resource: 'mutatingwebhookconfigurations', scope: 'cluster', name: (n) => n.configuration,
    why: 'self-managed TLS reads its own registration\'s caBundle',
  },
  patchMutatingWebhookConfiguration: {
    file: 'webhook/src/tls/self-managed.ts', selfManagedOnly: true, verb: 'patch', group: 'admissionregistration.k8s.io', resource: 'mutatingwebhookconfigurations', scope: 'cluster', name: (n) => n.configuration,
    why: 'self-managed TLS writes the caBundle of its own registration',
  },
};

/**
 * Grants the chart makes beyond what the code calls, each with why it is tolerated for now. A
 * grant not listed here and not needed by WEBHOOK_CALLS fails the test; an entry here that the
 * chart no longer grants fails it too, so the list only shrinks.
 */
/** Grants the chart may hold beyond what the code calls, each with its reason. None today. */
const TOLERATED_EXCESS: Record<string, string> = {};

const ALL_VERBS = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'];

// ---- the calls in the source ---------------------------------------------------------------

// ---- rendering, and the names in the render ------------------------------------------------

interface Mode {
  label: string;
  tlsSource: TlsSource;
  values: Record<string, unknown>;
  apiVersions: string[];
}

const SELF_MANAGED: Mode = { label: 'webhook (self-managed TLS)', tlsSource: 'self-managed', values: { webhook: { enabled: true } }, apiVersions: ['monitoring.coreos.com/v1'] };
const CERT_MANAGER: Mode = {
  label: 'webhook (cert-manager TLS)',
  tlsSource: 'files',
  values: { webhook: { enabled: true, tls: { mode: 'certManager' } } },
  apiVersions: ['cert-manager.io/v1', 'monitoring.coreos.com/v1'],
};

const componentOf = (o: Manifest) => o.metadata?.labels?.['app.kubernetes.io/component'];
const podSpecOf = (o: Manifest): Manifest | undefined => o.spec?.jobTemplate?.spec?.template?.spec ?? o.spec?.template?.spec;

function webhookNames(objects: Manifest[], namespace: string, other: string): Names {
  const deployment = objects.find((o) => o.kind === 'Deployment' && componentOf(o) === 'webhook');
  assert.ok(deployment, 'no webhook Deployment in the render');
  const pod = podSpecOf(deployment)!;
  const container = pod.containers.find((c: Manifest) => c.name === 'webhook') ?? pod.containers[0];
  const env = (name: string): string => {
    const entry = (container.env ?? []).find((e: Manifest) => e.name === name);
    assert.ok(entry && typeof entry.value === 'string', `the webhook container sets no ${name}`);
    return entry.value;
  };
  const podNamespace = (container.env ?? []).find((e: Manifest) => e.name === 'POD_NAMESPACE');
  assert.is(podNamespace?.valueFrom?.fieldRef?.fieldPath, 'metadata.namespace', 'POD_NAMESPACE is the pod\'s namespace (the Secret and Lease live there)');
  const configMap = objects.find((o) => o.kind === 'ConfigMap' && componentOf(o) === 'webhook');
  assert.ok(configMap, 'no webhook ConfigMap in the render');
  const config = parse(configMap.data['webhook.yaml']);
  return {
    namespace,
    other,
    serviceAccount: pod.serviceAccountName,
    tlsSource: env('TLS_SOURCE') as TlsSource,
    tlsSecret: env('TLS_SECRET_NAME'),
    lease: env('SERVICE_NAME'),
    configuration: env('WEBHOOK_CONFIGURATION_NAME'),
    claim: config.injection.cvmfs.claimName,
    configMap: configMap.metadata.name,
    deployment: deployment.metadata.name,
    roles: objects.filter((o) => o.kind === 'Role').map((o) => o.metadata.name),
    clusterRoles: objects.filter((o) => o.kind === 'ClusterRole').map((o) => o.metadata.name),
  };
}

/**
 * What the render itself must show: every ServiceAccount is one this test has expectations for,
 * every pod either runs as one of them or mounts no token, every binding binds only them, and
 * to the chart's own roles.
 */
function renderProblems(objects: Manifest[], names: Names): string[] {
  const problems = wildcardProblems(objects);
  const accounts = objects.filter((o) => o.kind === 'ServiceAccount').map((o) => o.metadata.name as string);
  for (const account of accounts) {
    if (account !== names.serviceAccount) problems.push(`ServiceAccount ${account} has no least-privilege expectations in test/chart/rbac.test.ts: add them`);
  }
  for (const o of objects) {
    const pod = podSpecOf(o);
    if (!pod) continue;
    const where = `${o.kind} ${o.metadata.name} (component ${componentOf(o)})`;
    if (pod.serviceAccountName) {
      if (!accounts.includes(pod.serviceAccountName)) problems.push(`${where} runs as ServiceAccount ${pod.serviceAccountName}, which the chart does not create`);
    } else if (pod.automountServiceAccountToken !== false) {
      problems.push(`${where} runs as the namespace's default ServiceAccount with its token mounted; set automountServiceAccountToken: false or give it a ServiceAccount of its own`);
    }
  }
  const roles = new Set(objects.filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole').map((o) => `${o.kind}/${o.metadata.name}`));
  for (const binding of objects.filter((o) => o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding')) {
    const where = `${binding.kind} ${binding.metadata.name}`;
    if (!roles.has(`${binding.roleRef.kind}/${binding.roleRef.name}`)) problems.push(`${where} binds ${binding.roleRef.kind} ${binding.roleRef.name}, which is not one of the chart's own roles`);
    for (const subject of binding.subjects ?? []) {
      if (subject.kind !== 'ServiceAccount' || subject.namespace !== names.namespace || !accounts.includes(subject.name)) {
        problems.push(`${where} binds ${subject.kind} ${subject.namespace ? `${subject.namespace}/` : ''}${subject.name}, not a ServiceAccount of the release`);
      }
    }
  }
  return problems;
}

// ---- expectations --------------------------------------------------------------------------

function callAccess(call: Call, names: Names, namespace?: string): Access {
  const access: Access = { verb: call.verb, group: call.group, resource: call.resource };
  if (namespace) access.namespace = namespace;
  if (call.name) access.name = call.name(names);
  return access;
}

/** The calls of this TLS mode, allowed where the code makes them; their copies in another namespace, denied. */
function callExpectations(names: Names): Expectation[] {
  const expectations: Expectation[] = [];
  for (const [key, call] of Object.entries(WEBHOOK_CALLS)) {
    const used = !call.selfManagedOnly || names.tlsSource === 'self-managed';
    const why = `${call.why} (${call.file}: ${key})`;
    const denyWhy = `only with TLS_SOURCE=self-managed: ${why}`;
    if (call.scope === 'cluster') {
      expectations.push({ access: callAccess(call, names), allowed: used, why: used ? why : denyWhy });
      continue;
    }
    expectations.push({ access: callAccess(call, names, names.namespace), allowed: used, why: used ? why : denyWhy });
    if (call.scope === 'any-namespace') expectations.push({ access: callAccess(call, names, names.other), allowed: used, why: used ? why : denyWhy });
    else expectations.push({ access: callAccess(call, names, names.other), allowed: false, why: `only in its own namespace: ${why}` });
  }
  return expectations;
}

/** What the webhook must never be allowed, in its own namespace and in another, in either TLS mode. */
function forbidden(names: Names): Expectation[] {
  const list: Expectation[] = [];
  const deny = (why: string, verb: string, group: string, resource: string, where: { namespace?: string; name?: string; subresource?: string } = {}) => {
    const access: Access = { verb, group, resource };
    if (where.subresource) access.subresource = where.subresource;
    if (where.namespace) access.namespace = where.namespace;
    if (where.name !== undefined) access.name = where.name;
    list.push({ access, allowed: false, why });
  };
  const own = names.namespace;
  const both = [own, names.other];

  for (const namespace of both) {
    // Secrets: nothing but its own, and never a list or watch of them all.
    for (const verb of ['list', 'watch', 'deletecollection']) deny('no reading or deleting of Secrets in bulk', verb, '', 'secrets', { namespace });
    for (const verb of ['get', 'watch', 'update', 'patch', 'delete']) deny('other Secrets are not its business', verb, '', 'secrets', { namespace, name: 'another-secret' });
    for (const verb of ['patch', 'delete']) deny('its own Secret is only read, watched, created and updated', verb, '', 'secrets', { namespace, name: names.tlsSecret });
    // Pods: it mutates them in admission, never through the API.
    for (const verb of ['create', 'list', 'watch']) deny('the webhook makes no pod API calls', verb, '', 'pods', { namespace });
    for (const verb of ['get', 'update', 'patch', 'delete']) deny('the webhook makes no pod API calls', verb, '', 'pods', { namespace, name: 'someone-elses-pod' });
    deny('no exec into pods', 'create', '', 'pods', { namespace, name: 'someone-elses-pod', subresource: 'exec' });
    deny('no evictions', 'create', '', 'pods', { namespace, name: 'someone-elses-pod', subresource: 'eviction' });
    deny('no ephemeral containers', 'patch', '', 'pods', { namespace, name: 'someone-elses-pod', subresource: 'ephemeralcontainers' });
    // Workloads, configuration and events.
    deny('no workload writes', 'create', 'apps', 'deployments', { namespace });
    for (const verb of ['update', 'patch']) deny('it cannot change its own or any Deployment', verb, 'apps', 'deployments', { namespace, name: names.deployment });
    for (const verb of ['get', 'list', 'update', 'patch']) deny('its configuration is mounted, never read through the API', verb, '', 'configmaps', { namespace, name: verb === 'list' ? undefined : names.configMap });
    deny('it records no events', 'create', '', 'events', { namespace });
    // PVCs: get of the CVMFS claim only.
    for (const verb of ['create', 'list', 'watch', 'deletecollection']) deny('PVCs are only looked up by name', verb, '', 'persistentvolumeclaims', { namespace });
    for (const verb of ['update', 'patch', 'delete']) deny('PVCs are only looked up by name', verb, '', 'persistentvolumeclaims', { namespace, name: names.claim });
    // Leases: only its own, never deleted.
    for (const verb of ['list', 'watch']) deny('no bulk reading of Leases', verb, 'coordination.k8s.io', 'leases', { namespace });
    for (const verb of ['get', 'update', 'patch', 'delete']) deny('other Leases (leader election of other controllers) are not its business', verb, 'coordination.k8s.io', 'leases', { namespace, name: 'kube-controller-manager' });
    for (const verb of ['patch', 'delete']) deny('its own Lease is only read, created and updated', verb, 'coordination.k8s.io', 'leases', { namespace, name: names.lease });
    // Tokens, ServiceAccounts and namespaced RBAC.
    deny('no minting of ServiceAccount tokens', 'create', '', 'serviceaccounts', { namespace, name: names.serviceAccount, subresource: 'token' });
    deny('no minting of ServiceAccount tokens', 'create', '', 'serviceaccounts', { namespace, name: 'default', subresource: 'token' });
    deny('no ServiceAccount writes', 'create', '', 'serviceaccounts', { namespace });
    deny('no impersonating ServiceAccounts', 'impersonate', '', 'serviceaccounts', { namespace, name: 'default' });
    for (const resource of ['roles', 'rolebindings']) deny('no RBAC writes', 'create', 'rbac.authorization.k8s.io', resource, { namespace });
    for (const verb of ['update', 'patch', 'escalate', 'bind']) for (const name of names.roles) deny('it cannot widen its own Role', verb, 'rbac.authorization.k8s.io', 'roles', { namespace, name });
    for (const verb of ['update', 'patch']) for (const name of names.roles) deny('it cannot rebind its own Role', verb, 'rbac.authorization.k8s.io', 'rolebindings', { namespace, name });
    deny('no certificates of its own choosing', 'create', 'cert-manager.io', 'certificates', { namespace });
    deny('no certificates of its own choosing', 'create', 'cert-manager.io', 'issuers', { namespace });
    // Wildcards, asked as such.
    deny('no wildcard grants', '*', '*', '*', { namespace });
    deny('no wildcard grants', '*', '', 'secrets', { namespace });
    deny('no wildcard grants', 'get', '', '*', { namespace });
  }

  // Registrations: its own MutatingWebhookConfiguration, get and patch only.
  for (const verb of ['get', 'update', 'patch', 'delete']) deny('other webhooks\' registrations are not its business', verb, 'admissionregistration.k8s.io', 'mutatingwebhookconfigurations', { name: 'another-webhook' });
  for (const verb of ['list', 'watch', 'create', 'deletecollection']) deny('no listing or creating of registrations', verb, 'admissionregistration.k8s.io', 'mutatingwebhookconfigurations');
  for (const verb of ['update', 'delete']) deny('its own registration is only read and patched', verb, 'admissionregistration.k8s.io', 'mutatingwebhookconfigurations', { name: names.configuration });
  for (const name of [names.configuration, 'another-webhook']) {
    for (const verb of ['get', 'update', 'patch', 'delete']) deny('no ValidatingWebhookConfiguration access', verb, 'admissionregistration.k8s.io', 'validatingwebhookconfigurations', { name });
  }
  for (const verb of ['list', 'create']) deny('no ValidatingWebhookConfiguration access', verb, 'admissionregistration.k8s.io', 'validatingwebhookconfigurations');
  for (const verb of ['create', 'update']) deny('no admission policies', verb, 'admissionregistration.k8s.io', 'validatingadmissionpolicies');

  // Nodes: read only.
  for (const verb of ['create', 'deletecollection']) deny('node writes are the kubelet\'s', verb, '', 'nodes');
  for (const verb of ['update', 'patch', 'delete']) deny('node writes are the kubelet\'s', verb, '', 'nodes', { name: 'gpu-node-1' });
  for (const verb of ['update', 'patch']) deny('node writes are the kubelet\'s', verb, '', 'nodes', { name: 'gpu-node-1', subresource: 'status' });
  for (const verb of ['get', 'create']) deny('no kubelet API through the node proxy', verb, '', 'nodes', { name: 'gpu-node-1', subresource: 'proxy' });

  // Cluster-wide reads and writes it has no need for.
  for (const verb of ['list', 'watch']) deny('no cluster-wide listing of Secrets', verb, '', 'secrets');
  for (const verb of ['list', 'watch']) deny('no cluster-wide listing of pods', verb, '', 'pods');
  for (const verb of ['list', 'watch']) deny('PVCs are only looked up by name', verb, '', 'persistentvolumeclaims');
  for (const verb of ['get', 'list', 'create', 'delete']) deny('no PersistentVolume access', verb, '', 'persistentvolumes', verb === 'get' || verb === 'delete' ? { name: 'cvmfs' } : {});
  deny('no namespace writes', 'create', '', 'namespaces');
  for (const verb of ['update', 'patch', 'delete']) deny('no namespace writes', verb, '', 'namespaces', { name: own });
  for (const verb of ['create', 'update']) deny('no CRD writes', verb, 'apiextensions.k8s.io', 'customresourcedefinitions', verb === 'update' ? { name: 'certificates.cert-manager.io' } : {});
  deny('no cluster issuers', 'create', 'cert-manager.io', 'clusterissuers');

  // RBAC: no way to grant itself more.
  for (const resource of ['clusterroles', 'clusterrolebindings']) deny('no RBAC writes', 'create', 'rbac.authorization.k8s.io', resource);
  for (const name of [...names.clusterRoles, 'cluster-admin']) {
    for (const verb of ['update', 'patch', 'delete', 'escalate', 'bind']) deny('no RBAC escalation', verb, 'rbac.authorization.k8s.io', 'clusterroles', { name });
  }
  for (const name of names.clusterRoles) for (const verb of ['update', 'patch']) deny('it cannot rebind its own ClusterRole', verb, 'rbac.authorization.k8s.io', 'clusterrolebindings', { name });

  // Identities and credentials.
  deny('no impersonation', 'impersonate', '', 'users');
  deny('no impersonation', 'impersonate', '', 'users', { name: 'test-admin' });
  deny('no impersonation', 'impersonate', '', 'groups', { name: 'system:masters' });
  deny('no impersonation', 'impersonate', 'authentication.k8s.io', 'uids');
  deny('no impersonation', 'impersonate', 'authentication.k8s.io', 'userextras', { subresource: 'scopes' });
  deny('no certificate signing requests', 'create', 'certificates.k8s.io', 'certificatesigningrequests');
  deny('no approving of certificate signing requests', 'update', 'certificates.k8s.io', 'certificatesigningrequests', { name: 'any', subresource: 'approval' });
  for (const verb of ['approve', 'sign']) deny('no signing of client certificates', verb, 'certificates.k8s.io', 'signers', { name: 'kubernetes.io/kube-apiserver-client' });
  deny('no token reviews (it authenticates nobody)', 'create', 'authentication.k8s.io', 'tokenreviews');
  deny('no access reviews for others', 'create', 'authorization.k8s.io', 'subjectaccessreviews');

  // Wildcards, cluster-wide.
  deny('no wildcard grants', '*', '*', '*');
  deny('no wildcard grants', '*', '', 'nodes');
  deny('no wildcard grants', 'get', '', '*');
  return list;
}

/** Fails on two expectations that ask the same question with different answers (a mistake in this file). */
function assertConsistent(expectations: readonly Expectation[]): void {
  const seen = new Map<string, boolean>();
  for (const e of expectations) {
    const key = describeAccess(e.access);
    const before = seen.get(key);
    assert.ok(before === undefined || before === e.allowed, `this test expects both ALLOWED and DENIED for ${key}`);
    seen.set(key, e.allowed);
  }
}

// ---- grants beyond the calls ---------------------------------------------------------------

/**
 * Each (verb, resource, names, scope) the bound roles grant, with the calls that justify it;
 * returns the grants no call needs, as `get nodes (any name) cluster-wide`.
 */
function excessGrants(objects: Manifest[], names: Names): string[] {
  const calls = Object.values(WEBHOOK_CALLS).filter((call) => !call.selfManagedOnly || names.tlsSource === 'self-managed');
  const excess: string[] = [];
  const bound = new Set(objects.filter((o) => o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding').map((b) => `${b.kind === 'RoleBinding' ? 'namespace' : 'cluster'}:${b.roleRef.kind}/${b.roleRef.name}`));
  for (const role of objects.filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole')) {
    const clusterWide = bound.has(`cluster:${role.kind}/${role.metadata.name}`);
    if (!clusterWide && !bound.has(`namespace:${role.kind}/${role.metadata.name}`)) continue; // bound to nothing: grants nothing
    for (const rule of role.rules ?? []) {
      for (const group of rule.apiGroups ?? []) for (const resource of rule.resources ?? []) for (const verb of rule.verbs ?? []) {
        const needs = calls.filter((c) => c.group === group && c.resource === resource && c.verb === verb);
        const scopeOk = needs.filter((c) => (clusterWide ? c.scope !== 'release-namespace' : true));
        const ruleNames: string[] | undefined = rule.resourceNames?.length ? rule.resourceNames : undefined;
        const justified = ruleNames
          ? ruleNames.every((name) => scopeOk.some((c) => c.name?.(names) === name))
          : scopeOk.some((c) => !c.name);
        if (justified) continue;
        const what = `${resource}${group ? `.${group}` : ''}`;
        const nameText = ruleNames ? JSON.stringify(ruleNames) : '(any name)';
        excess.push(`${verb} ${what} ${nameText} ${clusterWide ? 'cluster-wide' : `in namespace ${role.metadata.namespace}`}`);
      }
    }
  }
  return excess;
}

// ---- the real requests ---------------------------------------------------------------------

interface Replay {
  what: string;
  method: string;
  path: string;
  /** A body, or one made from the answer to the step before (an update of what was read). */
  body?: unknown | ((previous: Manifest) => unknown);
  contentType?: string;
  /** The status the request must get: anything but 403 proves the authorizer let it through. */
  status: number;
}

/** The requests the code makes, made as the ServiceAccount through impersonation, in the order the code makes them. */
function replays(names: Names): Replay[] {
  const ns = names.namespace;
  const secrets = `/api/v1/namespaces/${ns}/secrets`;
  const leases = `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`;
  const mwc = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';
  const selector = encodeURIComponent(`metadata.name=${names.tlsSecret}`);
  const x = Buffer.from('x').toString('base64');
  const common: Replay[] = [
    { what: 'list nodes (gpu/inventory.ts)', method: 'GET', path: '/api/v1/nodes?limit=500', status: 200 },
    { what: 'watch nodes (gpu/inventory.ts)', method: 'GET', path: '/api/v1/nodes?watch=true&allowWatchBookmarks=true&timeoutSeconds=1', status: 200 },
    { what: 'get the CVMFS claim in another namespace (claim-lookup.ts; it does not exist)', method: 'GET', path: `/api/v1/namespaces/${names.other}/persistentvolumeclaims/${names.claim}`, status: 404 },
    { what: 'list Secrets', method: 'GET', path: secrets, status: 403 },
    { what: 'watch every Secret of its namespace', method: 'GET', path: `${secrets}?watch=true&timeoutSeconds=1`, status: 403 },
    { what: 'get another Secret', method: 'GET', path: `${secrets}/another-secret`, status: 403 },
    { what: 'get another MutatingWebhookConfiguration', method: 'GET', path: `${mwc}/another-webhook`, status: 403 },
  ];
  if (names.tlsSource !== 'self-managed') {
    return [
      ...common,
      { what: 'get its TLS Secret (cert-manager mounts it instead)', method: 'GET', path: `${secrets}/${names.tlsSecret}`, status: 403 },
      { what: 'create a Lease', method: 'POST', path: leases, body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: names.lease } }, status: 403 },
      { what: 'get its MutatingWebhookConfiguration (cert-manager injects the CA)', method: 'GET', path: `${mwc}/${names.configuration}`, status: 403 },
    ];
  }
  return [
    ...common,
    {
      what: 'create its TLS Secret (tls/self-managed.ts)', method: 'POST', path: secrets, status: 201,
      body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: names.tlsSecret }, type: 'kubernetes.io/tls', data: { 'tls.crt': x, 'tls.key': x } },
    },
    { what: 'get its TLS Secret (tls/self-managed.ts)', method: 'GET', path: `${secrets}/${names.tlsSecret}`, status: 200 },
    {
      what: 'update its TLS Secret, as a compare-and-swap on the version read (tls/self-managed.ts)', method: 'PUT', path: `${secrets}/${names.tlsSecret}`, status: 200,
      body: (read: Manifest) => ({ ...read, data: { ...read.data, 'ca.crt': x } }),
    },
    { what: 'watch its TLS Secret by field selector (tls/self-managed.ts)', method: 'GET', path: `${secrets}?watch=true&fieldSelector=${selector}&timeoutSeconds=1`, status: 200 },
    { what: 'create the Lease (tls/lease.ts)', method: 'POST', path: leases, body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: names.lease }, spec: { holderIdentity: 'pod-a' } }, status: 201 },
    { what: 'get the Lease (tls/lease.ts)', method: 'GET', path: `${leases}/${names.lease}`, status: 200 },
    {
      what: 'update the Lease, as a compare-and-swap on the version read (tls/lease.ts)', method: 'PUT', path: `${leases}/${names.lease}`, status: 200,
      body: (read: Manifest) => ({ ...read, spec: { ...read.spec, holderIdentity: 'pod-b' } }),
    },
    { what: 'delete the Lease', method: 'DELETE', path: `${leases}/${names.lease}`, status: 403 },
    // Not applied (it would intercept pods of other tests): 404 means the authorizer let it through.
    { what: 'get its MutatingWebhookConfiguration (tls/self-managed.ts)', method: 'GET', path: `${mwc}/${names.configuration}`, status: 404 },
    {
      what: 'patch its MutatingWebhookConfiguration (tls/self-managed.ts)', method: 'PATCH', path: `${mwc}/${names.configuration}`, status: 404,
      body: [{ op: 'test', path: '/webhooks/0/name', value: 'x' }], contentType: 'application/json-patch+json',
    },
    { what: 'get its TLS Secret from another namespace', method: 'GET', path: `/api/v1/namespaces/${names.other}/secrets/${names.tlsSecret}`, status: 403 },
  ];
}

async function replayMismatches(cluster: Cluster, who: string, subject: Subject, names: Names): Promise<string[]> {
  const lines: string[] = [];
  let previous: Manifest = {};
  for (const step of replays(names)) {
    const body = typeof step.body === 'function' ? step.body(previous) : step.body;
    const res = await cluster.request(step.method, step.path, body, { impersonate: subject, ...(step.contentType ? { contentType: step.contentType } : {}) });
    if (res.status !== step.status) {
      const message = typeof res.body === 'object' ? res.body?.message : String(res.body).slice(0, 200);
      lines.push(`${who} as ${subject.user}, real request ${step.method} ${step.path} (${step.what}): expected HTTP ${step.status}, got ${res.status}${message ? ` (${message})` : ''}`);
    }
    previous = res.body;
  }
  return lines;
}

// ---- the suites ----------------------------------------------------------------------------

const source = suite('RBAC: the API calls of the webhook\'s code');

source('every Kubernetes API call the webhook makes has its permission in this test, and every entry is still called', () => {
  const found = apiCallsIn(importClosure(WEBHOOK_ENTRY).files);
  const problems: string[] = [];
  for (const [call, files] of found) {
    const known = WEBHOOK_CALLS[call];
    if (!known) problems.push(`${[...files].join(', ')} calls ${call}, which is not in WEBHOOK_CALLS: add the verb and resource it needs (and grant it in the chart)`);
    else if (!files.has(known.file)) problems.push(`WEBHOOK_CALLS says ${call} is in ${known.file}, but it is in ${[...files].join(', ')}`);
  }
  for (const call of Object.keys(WEBHOOK_CALLS)) if (!found.has(call)) problems.push(`WEBHOOK_CALLS lists ${call}, which the webhook's code no longer calls: remove it (and its grant from the chart)`);
  assert.equal(problems, []);
});

source.run();

const rbac = suite('RBAC: the chart\'s ServiceAccounts, asked of the real authorizer');

async function checkMode(mode: Mode): Promise<void> {
  const cluster = await sharedCluster();
  const release = `rbac-${Math.random().toString(36).slice(2, 7)}`;
  const namespace: TestNamespace = await createNamespace(cluster, `rbac-${mode.tlsSource}`);
  const other: TestNamespace = await createNamespace(cluster, 'rbac-other');
  let applied: Manifest[] = [];
  try {
    const rendered = parseManifests(await templateOrThrow('helm', { release, namespace: namespace.name, values: mode.values, apiVersions: mode.apiVersions })) as Manifest[];
    const names = webhookNames(rendered, namespace.name, other.name);
    assert.is(names.tlsSource, mode.tlsSource, `${mode.label}: TLS_SOURCE`);
    const objects = rbacObjects(rendered);
    const problems = renderProblems(rendered, names);

    const excess = excessGrants(objects, names);
    for (const grant of excess) if (!(grant in TOLERATED_EXCESS)) problems.push(`${mode.label}: the chart grants ${grant}, which no call in WEBHOOK_CALLS needs`);
    for (const grant of Object.keys(TOLERATED_EXCESS)) if (!excess.includes(grant)) problems.push(`${mode.label}: TOLERATED_EXCESS lists "${grant}", which the chart no longer grants: remove it`);

    applied = objects;
    await applyObjects(cluster, objects);

    const webhook = serviceAccountSubject(names.namespace, names.serviceAccount);
    const expectations = [...callExpectations(names), ...forbidden(names)];
    assertConsistent(expectations);
    await waitForGrants(cluster, webhook, expectations);
    problems.push(...(await accessMismatches(cluster, mode.label, webhook, expectations)));

    // The allows come from the chart's bindings to this ServiceAccount, not from what every identity has.
    const allowed = expectations.filter((e) => e.allowed).map((e) => ({ ...e, allowed: false, why: `only the webhook's ServiceAccount is granted this: ${e.why}` }));
    assert.ok(allowed.length >= (mode.tlsSource === 'self-managed' ? 13 : 4), `${mode.label}: only ${allowed.length} allowed checks`);
    problems.push(...(await accessMismatches(cluster, 'an unrelated user', { user: 'test-nobody', groups: ['system:authenticated'] }, allowed)));
    problems.push(...(await accessMismatches(cluster, 'the namespace\'s default ServiceAccount (Envoy\'s and Triton\'s, tokenless)', serviceAccountSubject(names.namespace, 'default'), allowed)));
    problems.push(...(await accessMismatches(cluster, 'the same ServiceAccount name in another namespace', serviceAccountSubject(names.other, names.serviceAccount), allowed)));

    // SubjectAccessReviews ask the authorizer directly; real requests also go through how the API server reads them (a watch's name field selector, say).
    problems.push(...(await replayMismatches(cluster, mode.label, webhook, names)));
    assert.ok(problems.length === 0, `${problems.length} RBAC mismatches:\n${problems.join('\n')}`);
  } finally {
    const failures = await deleteClusterScoped(cluster, applied);
    await namespace.remove();
    await other.remove();
    if (failures.length) throw new Error(`cleanup failed: ${failures.join('; ')}`);
  }
}

rbac('webhook with self-managed TLS: its calls allowed (Secret, Lease and registration by name, nodes, CVMFS claims), the rest denied, in its namespace and another', async () => {
  await checkMode(SELF_MANAGED);
});

rbac('webhook with cert-manager TLS: only nodes and CVMFS claims; no Secret, Lease or registration access at all', async () => {
  await checkMode(CERT_MANAGER);
});

rbac.run();
