/**
 * The resource types a real API server serves, read from its discovery API (as `kubectl
 * api-resources` does), so that tests look objects up, and look for leftovers, in every type the
 * server has, CRDs included, rather than in a fixed list that would miss a new one.
 */
import type { Cluster } from './cluster/control-plane.ts';

export interface ApiResource {
  /** '' for the core group. */
  group: string;
  version: string;
  /** "v1", "apps/v1", "cert-manager.io/v1". */
  groupVersion: string;
  kind: string;
  /** The plural name in URLs, e.g. "deployments". */
  name: string;
  namespaced: boolean;
  verbs: string[];
}

interface DiscoveryList {
  groupVersion: string;
  resources: { name: string; kind: string; namespaced: boolean; verbs?: string[] }[];
}

const cache = new WeakMap<Cluster, Promise<ApiResource[]>>();

/**
 * Every resource type (no subresources) of every served version of every group. Cached per
 * cluster; `refresh` reads discovery again (after CRDs were added).
 */
export function apiResources(cluster: Cluster, refresh = false): Promise<ApiResource[]> {
  let resources = cache.get(cluster);
  if (!resources || refresh) {
    resources = discover(cluster);
    cache.set(cluster, resources);
    resources.catch(() => cache.delete(cluster));
  }
  return resources;
}

async function discover(cluster: Cluster): Promise<ApiResource[]> {
  const groups = await cluster.request('GET', '/apis');
  if (groups.status !== 200) throw new Error(`GET /apis: HTTP ${groups.status}`);
  const paths = ['/api/v1'];
  for (const group of groups.body.groups ?? []) {
    for (const version of group.versions ?? []) paths.push(`/apis/${version.groupVersion}`);
  }
  const lists = await Promise.all(
    paths.map(async (path) => {
      const res = await cluster.request<DiscoveryList>('GET', path);
      if (res.status !== 200) throw new Error(`GET ${path}: HTTP ${res.status}`);
      return res.body;
    }),
  );
  return lists.flatMap((list) => {
    const [group, version] = list.groupVersion.includes('/') ? list.groupVersion.split('/') : ['', list.groupVersion];
    return list.resources
      .filter((resource) => !resource.name.includes('/'))
      .map((resource) => ({
        group: group!,
        version: version!,
        groupVersion: list.groupVersion,
        kind: resource.kind,
        name: resource.name,
        namespaced: resource.namespaced,
        verbs: resource.verbs ?? [],
      }));
  });
}

/** The type of `apiVersion`/`kind`; reads discovery once more before it gives up (a CRD added since). */
export async function resourceFor(cluster: Cluster, apiVersion: string, kind: string): Promise<ApiResource> {
  const find = (resources: ApiResource[]) => resources.find((r) => r.groupVersion === apiVersion && r.kind === kind);
  const found = find(await apiResources(cluster)) ?? find(await apiResources(cluster, true));
  if (!found) throw new Error(`the API server does not serve ${apiVersion} ${kind}`);
  return found;
}

/**
 * One type per group and resource name, at the group's first served version: the same objects
 * are listed through every version, so listing each version would only repeat them.
 */
export async function listableResources(cluster: Cluster): Promise<ApiResource[]> {
  const seen = new Set<string>();
  return (await apiResources(cluster)).filter((resource) => {
    const key = `${resource.group}/${resource.name}`;
    if (!resource.verbs.includes('list') || seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** The URL path of a collection (namespace given and the type namespaced) or of one object (name given). */
export function resourcePath(resource: ApiResource, namespace?: string, name?: string): string {
  const base = resource.group === '' ? '/api/v1' : `/apis/${resource.groupVersion}`;
  const scope = resource.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${base}${scope}/${resource.name}${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;
}
