/**
 * The apiVersion/kind allow-list. The test API server is one release (v1.36) and accepts any API
 * it serves, including one that a supported older release (1.30) lacks, so this list, of APIs
 * served by every supported release, stays an offline check.
 */
import type { Report } from './shared.ts';

/**
 * The kinds this chart may emit, at API versions served by every Kubernetes
 * release from 1.30 to 1.36 (the range the project supports). Deprecated or removed versions
 * (extensions/v1beta1, autoscaling/v2beta2, policy/v1beta1, ...) are absent on
 * purpose. v1 Pod is here for `helm test` hook pods.
 */
const ALLOWED_KINDS_BY_API_VERSION: Readonly<Record<string, readonly string[]>> = {
  v1: ['Service', 'ConfigMap', 'Secret', 'ServiceAccount', 'PersistentVolumeClaim', 'Namespace', 'Pod'],
  'apps/v1': ['Deployment', 'StatefulSet', 'DaemonSet'],
  'policy/v1': ['PodDisruptionBudget'],
  'networking.k8s.io/v1': ['Ingress', 'NetworkPolicy'],
  'rbac.authorization.k8s.io/v1': ['Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding'],
  'admissionregistration.k8s.io/v1': ['MutatingWebhookConfiguration'],
  'autoscaling/v2': ['HorizontalPodAutoscaler'],
  'batch/v1': ['Job'],
  'coordination.k8s.io/v1': ['Lease'],
  // Optional CRD-based objects; the chart renders them only when the cluster serves the API.
  'cert-manager.io/v1': ['Certificate', 'Issuer'],
  'monitoring.coreos.com/v1': ['PrometheusRule', 'ServiceMonitor', 'PodMonitor'],
  'keda.sh/v1alpha1': ['ScaledObject', 'TriggerAuthentication'],
};

/** Allowed "apiVersion/kind" pairs, e.g. "apps/v1/Deployment", "v1/Service". */
export const ALLOWED_API_VERSIONS: ReadonlySet<string> = new Set(
  Object.entries(ALLOWED_KINDS_BY_API_VERSION).flatMap(([apiVersion, kinds]) =>
    kinds.map((kind) => `${apiVersion}/${kind}`),
  ),
);

export function checkApiVersionAllowed(object: Record<string, unknown>, report: Report): boolean {
  const { apiVersion, kind } = object;
  if (typeof apiVersion !== 'string' || apiVersion === '') {
    report('/apiVersion', 'apiVersion is missing or not a string');
    return false;
  }
  if (typeof kind !== 'string' || kind === '') {
    report('/kind', 'kind is missing or not a string');
    return false;
  }
  if (ALLOWED_API_VERSIONS.has(`${apiVersion}/${kind}`)) return true;

  const servedVersions = Object.keys(ALLOWED_KINDS_BY_API_VERSION).filter((version) =>
    ALLOWED_KINDS_BY_API_VERSION[version]?.includes(kind),
  );
  const hint =
    servedVersions.length > 0
      ? `use ${servedVersions.join(' or ')} instead`
      : 'this kind is not one the chart is expected to emit';
  report(
    '/apiVersion',
    `apiVersion/kind not in the allow-list: "${apiVersion}" ${kind} is not a current API served by Kubernetes 1.30-1.36 (${hint})`,
  );
  return false;
}
