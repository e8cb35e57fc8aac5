/**
 * A Helm release in the real test cluster: namespaces at a Pod Security level, what Helm said
 * besides success (the API server's warnings), which objects of the release the API server
 * holds, and what is left of it after `helm uninstall`. Objects are found through the
 * discovery API (test/helpers/api-resources.ts), in every type the server serves.
 *
 * Helm marks what it created with the release's labels and the annotations
 * meta.helm.sh/release-name and meta.helm.sh/release-namespace; the second tells apart the
 * cluster-scoped objects of releases of the same name in other namespaces.
 */
import type { Cluster } from './cluster/control-plane.ts';
import { createNamespace, type TestNamespace } from './cluster/shared.ts';
import { listableResources, resourceFor, resourcePath, type ApiResource } from './api-resources.ts';
import { CHART_DIR, helmIn, type HelmBinary, type HelmResult } from './helm.ts';
import { parseManifests } from './k8s/manifests.ts';
import { mapLimit } from './map-limit.ts';

type Manifest = Record<string, any>;

export type PodSecurityLevel = 'restricted' | 'baseline' | 'privileged';

/** The strictest level a case's documented exceptions allow: hostPath needs privileged, nfs baseline. */
export function podSecurityLevel(exceptions: { allowHostPath?: boolean; allowNfs?: boolean }): PodSecurityLevel {
  if (exceptions.allowHostPath) return 'privileged';
  if (exceptions.allowNfs) return 'baseline';
  return 'restricted';
}

/**
 * A namespace that enforces `level` and warns at it: Pod Security admission rejects violating
 * pods there and warns about violating workloads (Helm prints the warning).
 */
export function releaseNamespace(cluster: Cluster, prefix: string, level: PodSecurityLevel): Promise<TestNamespace> {
  const labels: Record<string, string> = {};
  for (const mode of ['enforce', 'warn']) {
    labels[`pod-security.kubernetes.io/${mode}`] = level;
    labels[`pod-security.kubernetes.io/${mode}-version`] = 'latest';
  }
  return createNamespace(cluster, prefix.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 50).replace(/-+$/, ''), labels);
}

/**
 * The API server's warnings Helm printed ("unknown field …", "would violate PodSecurity …",
 * deprecations): both Helm 4 and Helm 3 log them through client-go, one line each, as
 * `I… warnings.go:110] "Warning: <text>"`.
 */
export function serverWarnings(stderr: string): string[] {
  return [...stderr.matchAll(/"Warning: ((?:[^"\\]|\\.)*)"/g)].map((match) => match[1]!.replace(/\\(.)/g, '$1'));
}

/** Throws with Helm's output unless the command succeeded and printed nothing on stderr (no warning, no error). */
export function expectClean(what: string, result: HelmResult): void {
  if (result.code !== 0) throw new Error(`${what} failed (exit ${result.code}):\n${result.stderr}`);
  if (result.stderr.trim() !== '') {
    const warnings = serverWarnings(result.stderr);
    const detail = warnings.length > 0 ? `the API server warned:\n  ${warnings.join('\n  ')}` : `stderr:\n${result.stderr}`;
    throw new Error(`${what} succeeded, but ${detail}`);
  }
}

export interface ReleaseRef {
  release: string;
  namespace: string;
}

export interface ChartValues {
  valuesFiles?: string[];
  set?: string[];
}

function valuesArgs(values: ChartValues): string[] {
  return [...(values.valuesFiles ?? []).flatMap((file) => ['-f', file]), ...(values.set ?? []).flatMap((item) => ['--set', item])];
}

/** `helm install` of our chart (never --wait: no kubelet runs the pods). */
/**
 * The shared cluster holds several releases at once, and two webhooks may not select the same
 * namespaces: each release's webhook selects the label value named after its namespace, as two
 * releases in one cluster must (only the value in the registration differs from the render).
 */
const ownLabelValue = (ref: ReleaseRef) => ['--set', `webhook.namespaceLabelValue=${ref.namespace}`];

export function install(cluster: Cluster, binary: HelmBinary, ref: ReleaseRef, values: ChartValues): Promise<HelmResult> {
  return helmIn(cluster, binary, ['install', ref.release, CHART_DIR, '--namespace', ref.namespace, ...valuesArgs(values), ...ownLabelValue(ref)]);
}

/** `helm upgrade --reset-values`: the release gets exactly these values, none of the last ones. */
export function upgrade(cluster: Cluster, binary: HelmBinary, ref: ReleaseRef, values: ChartValues): Promise<HelmResult> {
  return helmIn(cluster, binary, ['upgrade', ref.release, CHART_DIR, '--namespace', ref.namespace, '--reset-values', ...valuesArgs(values), ...ownLabelValue(ref)]);
}

export function uninstall(cluster: Cluster, binary: HelmBinary, ref: ReleaseRef): Promise<HelmResult> {
  return helmIn(cluster, binary, ['uninstall', ref.release, '--namespace', ref.namespace]);
}

/** The objects of the release's current revision, as Helm stored them (`helm get manifest`). */
export async function releaseManifest(cluster: Cluster, binary: HelmBinary, ref: ReleaseRef): Promise<Manifest[]> {
  const result = await helmIn(cluster, binary, ['get', 'manifest', ref.release, '--namespace', ref.namespace]);
  if (result.code !== 0) throw new Error(`${binary} get manifest ${ref.release} failed (exit ${result.code}):\n${result.stderr}`);
  return parseManifests(result.stdout);
}

/** "apps/Deployment ns/name", "rbac.authorization.k8s.io/ClusterRole name": one object, whatever version it is read at. */
export function objectKey(resource: Pick<ApiResource, 'group' | 'kind' | 'namespaced'>, namespace: string | undefined, name: string): string {
  return `${resource.group || 'core'}/${resource.kind} ${resource.namespaced ? `${namespace}/` : ''}${name}`;
}

/** The key of each rendered object in the cluster (a namespaced object without a namespace lands in the release's). */
export async function manifestKeys(cluster: Cluster, objects: readonly Manifest[], namespace: string): Promise<string[]> {
  const keys = await Promise.all(
    objects.map(async (o) => {
      const resource = await resourceFor(cluster, o.apiVersion, o.kind);
      return objectKey(resource, o.metadata?.namespace ?? namespace, o.metadata.name);
    }),
  );
  return keys.sort();
}

/** The rendered objects the API server does not hold (GET by name does not answer 200). */
export async function missingObjects(cluster: Cluster, objects: readonly Manifest[], namespace: string): Promise<string[]> {
  const missing = await mapLimit(objects, 8, async (o) => {
    const resource = await resourceFor(cluster, o.apiVersion, o.kind);
    const res = await requestRetrying(cluster, 'GET', resourcePath(resource, o.metadata?.namespace ?? namespace, o.metadata.name));
    return res.status === 200 ? undefined : `${objectKey(resource, o.metadata?.namespace ?? namespace, o.metadata.name)}: HTTP ${res.status}`;
  });
  return missing.filter((line): line is string => line !== undefined);
}

/**
 * cluster.request, again while the server answers 429 (a CRD's storage still initializing just
 * after the cluster started, or priority and fairness shedding load), as client-go retries.
 */
async function requestRetrying(cluster: Cluster, method: string, path: string): Promise<{ status: number; body: any }> {
  for (let attempt = 1; ; attempt++) {
    const res = await cluster.request(method, path);
    if (res.status !== 429 || attempt === 20) return res;
    await new Promise((resolve) => setTimeout(resolve, 250 * Math.min(attempt, 4)));
  }
}

interface Found {
  key: string;
  resource: ApiResource;
  object: Manifest;
}

/** Objects of `types` labelled with the release: in its namespace, and cluster-scoped ones annotated with it. */
async function labelledObjects(cluster: Cluster, ref: ReleaseRef, types: ApiResource[], selector: string): Promise<Found[]> {
  const lists = await mapLimit(types, 8, async (resource) => {
    const res = await requestRetrying(cluster, 'GET', `${resourcePath(resource, ref.namespace)}?labelSelector=${encodeURIComponent(selector)}`);
    if (res.status !== 200) throw new Error(`listing ${resource.name}.${resource.group || 'core'}: HTTP ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
    return (res.body.items as Manifest[])
      .filter((o) => resource.namespaced || o.metadata.annotations?.['meta.helm.sh/release-namespace'] === ref.namespace)
      .map((o) => ({ key: objectKey(resource, o.metadata.namespace, o.metadata.name), resource, object: o }));
  });
  return lists.flat();
}

/**
 * The objects the API server holds that Helm created for the release: labelled and annotated
 * with it, owned by nothing (ReplicaSets and EndpointSlices carry the labels too, but their
 * controllers made them) and not being deleted. Looked for in the types of `kinds`, which must
 * include every kind the release ever had, so that an object it dropped is seen.
 */
export async function liveReleaseObjects(cluster: Cluster, ref: ReleaseRef, kinds: readonly Manifest[]): Promise<string[]> {
  const types = new Map<string, ApiResource>();
  for (const { apiVersion, kind } of kinds) {
    const resource = await resourceFor(cluster, apiVersion, kind);
    types.set(`${resource.group}/${resource.name}`, resource);
  }
  const found = await labelledObjects(cluster, ref, [...types.values()], `app.kubernetes.io/instance=${ref.release}`);
  return found
    .filter(({ object }) => object.metadata.annotations?.['meta.helm.sh/release-name'] === ref.release)
    .filter(({ object }) => !(object.metadata.ownerReferences ?? []).length && !object.metadata.deletionTimestamp)
    .map(({ key }) => key)
    .sort();
}

/**
 * What is left of a release, in every listable type the server serves: objects labelled with
 * it (Helm's and its controllers' dependents alike) and Helm's own release records (Secrets
 * labelled owner=helm, name=<release>). An object already being deleted (a deletionTimestamp,
 * waiting for a finalizer or for a kubelet that never comes) is on its way out, not left.
 */
export async function leftovers(cluster: Cluster, ref: ReleaseRef): Promise<string[]> {
  const types = await listableResources(cluster);
  const labelled = await labelledObjects(cluster, ref, types, `app.kubernetes.io/instance=${ref.release}`);
  const secrets = types.filter((t) => t.group === '' && t.name === 'secrets');
  const records = await labelledObjects(cluster, ref, secrets, `owner=helm,name=${ref.release}`);
  return [...labelled, ...records]
    .filter(({ object }) => !object.metadata.deletionTimestamp)
    .map(({ key }) => key)
    .sort();
}

/**
 * Deletes the cluster-scoped objects of a release that a failed test may have left (its
 * namespace takes the namespaced ones with it); returns what it could not delete.
 */
export async function deleteClusterScopedOf(cluster: Cluster, ref: ReleaseRef): Promise<string[]> {
  const types = (await listableResources(cluster)).filter((t) => !t.namespaced && t.verbs.includes('delete'));
  const found = await labelledObjects(cluster, ref, types, `app.kubernetes.io/instance=${ref.release}`);
  const failures: string[] = [];
  for (const { key, resource, object } of found) {
    const res = await requestRetrying(cluster, 'DELETE', resourcePath(resource, undefined, object.metadata.name));
    if (![200, 202, 404].includes(res.status)) failures.push(`${key}: HTTP ${res.status}`);
  }
  return failures;
}

/**
 * Polls until nothing of the release is left: nothing labelled with it (leftovers()), and none
 * of `objects` (what its manifests had), looked up by name, whatever labels they carry.
 * Throws naming what still is.
 */
export async function expectNothingLeft(cluster: Cluster, ref: ReleaseRef, objects: readonly Manifest[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = [...(await leftovers(cluster, ref)), ...(await stillThere(cluster, objects, ref.namespace))];
    if (left.length === 0) return;
    if (Date.now() > deadline) throw new Error(`${timeoutMs} ms after the uninstall, the release ${ref.release} still has:\n  ${[...new Set(left)].join('\n  ')}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** The objects that still exist and are not being deleted. */
async function stillThere(cluster: Cluster, objects: readonly Manifest[], namespace: string): Promise<string[]> {
  const found = await mapLimit(objects, 8, async (o) => {
    const resource = await resourceFor(cluster, o.apiVersion, o.kind);
    const res = await requestRetrying(cluster, 'GET', resourcePath(resource, o.metadata?.namespace ?? namespace, o.metadata.name));
    if (res.status === 404 || (res.status === 200 && res.body.metadata?.deletionTimestamp)) return undefined;
    return `${objectKey(resource, o.metadata?.namespace ?? namespace, o.metadata.name)}${res.status === 200 ? '' : `: HTTP ${res.status}`}`;
  });
  return found.filter((key): key is string => key !== undefined);
}
