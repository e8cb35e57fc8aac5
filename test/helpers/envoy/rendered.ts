/**
 * Envoy configurations as the chart renders them: found in ConfigMaps, parsed, and checked
 * for what the proto validator cannot see: every cluster a route, a filter or the tracer
 * names must be defined.
 */
import { parse } from 'yaml';

type Json = Record<string, any>;

/** The parsed `envoy.yaml` of every ConfigMap that carries one. */
export function envoyConfigsOf(objects: Json[]): Json[] {
  return objects
    .filter((o) => o.kind === 'ConfigMap' && typeof o.data?.['envoy.yaml'] === 'string')
    .map((o) => parse(o.data['envoy.yaml']) as Json);
}

/** Names of clusters referenced anywhere but not defined in static_resources.clusters. */
export function undefinedClusters(config: Json): string[] {
  const defined = new Set((config.static_resources?.clusters ?? []).map((c: Json) => c.name));
  const referenced = new Set<string>();
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (!node || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      // route.cluster, http_uri.cluster, envoy_grpc.cluster_name, and the load shedder's settings
      if ((key === 'cluster' || key === 'cluster_name') && typeof value === 'string') referenced.add(value);
      else visit(value);
    }
  };
  visit(config.static_resources?.listeners);
  visit(config.static_resources?.clusters?.map((c: Json) => c.health_checks ?? []));
  // An aggregate cluster's members (keda.wakeOnRequest.hold's triton_hold).
  for (const c of config.static_resources?.clusters ?? []) {
    if (c.cluster_type?.name === 'envoy.clusters.aggregate') for (const member of c.cluster_type.typed_config?.clusters ?? []) referenced.add(member);
  }
  return [...referenced].filter((name) => !defined.has(name)).sort();
}
