/**
 * Asking the real RBAC authorizer what an identity may do: SubjectAccessReviews against the test
 * control plane (test/helpers/cluster), and the rendered RBAC objects of the chart applied to it
 * and removed again. One SubjectAccessReview per question; a mismatch is reported as one readable
 * line (who, verb, resource, name, namespace, expected and actual answer) so a test can collect
 * every mismatch before it fails.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { Cluster } from './cluster/control-plane.ts';
import { REPO_ROOT } from './helm.ts';
import { mapLimit } from './map-limit.ts';

type Manifest = Record<string, any>;

/** The resource attributes of a SubjectAccessReview. No namespace: a cluster-scoped (or all-namespaces) request. */
export interface Access {
  verb: string;
  /** API group; '' is the core group. */
  group: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  /** No name: a request that names no object (create, list, watch without a name field selector). */
  name?: string;
}

export interface Subject {
  user: string;
  groups: string[];
}

export interface Expectation {
  access: Access;
  allowed: boolean;
  /** Why: the code that makes the call, or the privilege the identity must not have. */
  why: string;
}

/** What the API server authenticates a pod's ServiceAccount token as. */
export function serviceAccountSubject(namespace: string, name: string): Subject {
  return {
    user: `system:serviceaccount:${namespace}:${name}`,
    groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
  };
}

/** e.g. `watch secrets "x-tls" in namespace ns`, `patch mutatingwebhookconfigurations.admissionregistration.k8s.io "y" cluster-wide`. */
export function describeAccess(access: Access): string {
  const resource = `${access.resource}${access.group ? `.${access.group}` : ''}${access.subresource ? `/${access.subresource}` : ''}`;
  const name = access.name === undefined ? '(no name)' : `"${access.name}"`;
  return `${access.verb} ${resource} ${name} ${access.namespace ? `in namespace ${access.namespace}` : 'cluster-wide'}`;
}

export interface Review {
  allowed: boolean;
  reason: string;
}

/** One SubjectAccessReview, asked as the admin. */
export async function subjectAccessReview(cluster: Cluster, subject: Subject, access: Access): Promise<Review> {
  const resourceAttributes: Record<string, string> = { verb: access.verb, group: access.group, resource: access.resource };
  if (access.subresource) resourceAttributes.subresource = access.subresource;
  if (access.namespace) resourceAttributes.namespace = access.namespace;
  if (access.name !== undefined) resourceAttributes.name = access.name;
  const res = await cluster.request('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SubjectAccessReview',
    spec: { user: subject.user, groups: subject.groups, resourceAttributes },
  });
  if (res.status !== 201) throw new Error(`SubjectAccessReview for ${subject.user}, ${describeAccess(access)}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
  return { allowed: res.body.status?.allowed === true, reason: res.body.status?.reason ?? res.body.status?.evaluationError ?? '' };
}

/**
 * Asks about every expectation and returns one line per answer that differs, e.g.
 * `webhook (self-managed) as system:serviceaccount:ns:sa: watch secrets "x" in namespace ns: expected ALLOWED, got denied (…) — why`.
 */
export async function accessMismatches(cluster: Cluster, who: string, subject: Subject, expectations: readonly Expectation[]): Promise<string[]> {
  const reviews = await mapLimit(expectations, 16, (e) => subjectAccessReview(cluster, subject, e.access));
  const lines: string[] = [];
  expectations.forEach((e, i) => {
    const review = reviews[i]!;
    if (review.allowed === e.allowed) return;
    const got = review.allowed ? `got ALLOWED${review.reason ? ` (${review.reason})` : ''}` : `got denied${review.reason ? ` (${review.reason})` : ''}`;
    lines.push(`${who} as ${subject.user}: ${describeAccess(e.access)}: expected ${e.allowed ? 'ALLOWED' : 'DENIED'}, ${got} — ${e.why}`);
  });
  return lines;
}

/** Asks until every expectation that must be allowed is (RBAC's caches take a moment after a binding is created), at most `timeoutMs`. */
export async function waitForGrants(cluster: Cluster, subject: Subject, expectations: readonly Expectation[], timeoutMs = 10_000): Promise<void> {
  const allowed = expectations.filter((e) => e.allowed);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reviews = await mapLimit(allowed, 16, (e) => subjectAccessReview(cluster, subject, e.access));
    if (reviews.every((r) => r.allowed) || Date.now() > deadline) return; // the caller's check reports what is still missing
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export const RBAC_KINDS = ['ServiceAccount', 'Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding'] as const;
const CLUSTER_SCOPED: Record<string, string> = {
  ClusterRole: '/apis/rbac.authorization.k8s.io/v1/clusterroles',
  ClusterRoleBinding: '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
};

export function rbacObjects(objects: readonly Manifest[]): Manifest[] {
  return objects.filter((o) => (RBAC_KINDS as readonly string[]).includes(o.kind));
}

/** `kubectl apply` of the objects (as one List); throws with kubectl's message when it fails. */
export async function applyObjects(cluster: Cluster, objects: readonly Manifest[]): Promise<void> {
  const applied = await cluster.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
  if (applied.code !== 0) throw new Error(`kubectl apply failed (exit ${applied.code}):\n${applied.stderr}`);
}

/** Deletes the cluster-scoped RBAC objects among `objects` (namespaced ones go with their namespace); returns the failures. */
export async function deleteClusterScoped(cluster: Cluster, objects: readonly Manifest[]): Promise<string[]> {
  const failures: string[] = [];
  for (const o of objects) {
    const base = CLUSTER_SCOPED[o.kind];
    if (!base) continue;
    const res = await cluster.request('DELETE', `${base}/${o.metadata.name}`);
    if (res.status !== 200 && res.status !== 202 && res.status !== 404) failures.push(`${o.kind} ${o.metadata.name}: HTTP ${res.status}`);
  }
  return failures;
}

/** Every '*' in the rules of the Roles and ClusterRoles (verbs, apiGroups, resources, resourceNames, nonResourceURLs). */
export function wildcardProblems(objects: readonly Manifest[]): string[] {
  const problems: string[] = [];
  for (const role of objects.filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole')) {
    if (role.aggregationRule) problems.push(`${role.kind} ${role.metadata.name} aggregates other roles`);
    (role.rules ?? []).forEach((rule: Manifest, i: number) => {
      for (const field of ['verbs', 'apiGroups', 'resources', 'resourceNames', 'nonResourceURLs']) {
        const values: unknown[] = rule[field] ?? [];
        if (values.some((v) => typeof v === 'string' && v.includes('*'))) problems.push(`${role.kind} ${role.metadata.name} rule ${i} has a wildcard in ${field}: ${JSON.stringify(values)}`);
      }
      if (rule.nonResourceURLs) problems.push(`${role.kind} ${role.metadata.name} rule ${i} grants non-resource URLs ${JSON.stringify(rule.nonResourceURLs)}`);
    });
  }
  return problems;
}

/** Method names of client-node's typed API classes (CoreV1Api.readNamespacedSecret, …). */
function clientApiMethods(): Set<string> {
  const methods = new Set<string>();
  for (const [name, value] of Object.entries(k8s)) {
    if (!name.endsWith('Api') || name === 'KubernetesObjectApi' || typeof value !== 'function' || !value.prototype) continue;
    for (const method of Object.getOwnPropertyNames(value.prototype)) if (method !== 'constructor') methods.add(method.replace(/WithHttpInfo$/, ''));
  }
  return methods;
}

/**
 * The Kubernetes API calls of `files` (paths from the repository root, e.g. a server's import
 * closure): call (client-node method name, or an API path a watch is opened on) → the files that
 * make it. The generic clients take any kind, so their calls could not be told apart: they are
 * one entry of their own, which a test then refuses.
 */
/**
 * Requests our code makes without client-node's typed API, named by the function that makes
 * them: core/src/gpu/node-pages.ts lists nodes as plain JSON (GET /api/v1/nodes).
 */
const RAW_REQUESTS = ['listNodePage'];

export function apiCallsIn(files: readonly string[]): Map<string, Set<string>> {
  const methods = clientApiMethods();
  const calls = new Map<string, Set<string>>();
  const add = (call: string, file: string) => (calls.get(call) ?? calls.set(call, new Set()).get(call)!).add(file);
  for (const file of [...files].sort()) {
    const source = readFileSync(join(REPO_ROOT, file), 'utf8');
    for (const match of source.matchAll(/\.(\w+)\s*\(/g)) if (methods.has(match[1]!)) add(match[1]!, file);
    for (const match of source.matchAll(/['"`](\/apis?\/[^'"`]*)['"`]/g)) add(match[1]!, file);
    if (/\bKubernetesObjectApi\b|\bmakeInformer\b|\bListWatch\b/.test(source)) add('KubernetesObjectApi/makeInformer/ListWatch', file);
    for (const name of RAW_REQUESTS) if (new RegExp(`\\b${name}\\s*\\(`).test(source)) add(name, file);
  }
  return calls;
}

