/**
 * Check 1: the apiVersion/kind allow-list and the metadata.name rules of each kind.
 */
import { isRecord, type Report } from './shared.ts';

/**
 * The kinds this chart may emit, at API versions served by every Kubernetes
 * release from 1.29 to 1.35. Deprecated or removed versions
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
    `apiVersion/kind not in the allow-list: "${apiVersion}" ${kind} is not a current API served by Kubernetes 1.29-1.35 (${hint})`,
  );
  return false;
}

interface NameRule {
  description: string;
  isValid(name: string): boolean;
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

const SUBDOMAIN_NAME: NameRule = {
  description: "a DNS-1123 subdomain (lowercase alphanumerics, '-' or '.', starting and ending alphanumeric, at most 253 characters)",
  isValid: (name) => name.length <= 253 && DNS1123_SUBDOMAIN.test(name),
};

/** Kinds whose names Kubernetes validates more strictly (or more loosely) than a DNS-1123 subdomain. */
const NAME_RULE_BY_KIND: Readonly<Record<string, NameRule>> = {
  // Service names become DNS labels of the cluster domain.
  Service: {
    description: "a DNS-1035 label (lowercase alphanumerics or '-', starting with a letter, at most 63 characters), because it becomes a DNS name",
    isValid: (name) => name.length <= 63 && DNS1035_LABEL.test(name),
  },
  Namespace: {
    description: "a DNS-1123 label (lowercase alphanumerics or '-', at most 63 characters)",
    isValid: (name) => name.length <= 63 && DNS1123_LABEL.test(name),
  },
  // RBAC names are URL path segments, so "system:foo" style names are legal.
  ...Object.fromEntries(
    ['Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding'].map((kind) => [
      kind,
      {
        description: "a path segment name (no '/' or '%', not '.' or '..', at most 253 characters)",
        isValid: (name: string) => name.length <= 253 && name !== '.' && name !== '..' && !/[/%]/.test(name),
      },
    ]),
  ),
};

export function checkMetadataName(object: Record<string, unknown>, report: Report): void {
  if (!isRecord(object.metadata)) {
    report('/metadata', 'metadata is missing (every object needs metadata.name)');
    return;
  }
  const name = object.metadata.name;
  // A create may leave the name to the API server: pods of a ReplicaSet arrive with generateName.
  if (name === undefined && typeof object.metadata.generateName === 'string' && object.metadata.generateName !== '') return;
  if (typeof name !== 'string' || name === '') {
    report('/metadata/name', 'metadata.name is missing or not a non-empty string');
    return;
  }
  const rule = (typeof object.kind === 'string' && NAME_RULE_BY_KIND[object.kind]) || SUBDOMAIN_NAME;
  if (!rule.isValid(name)) {
    report('/metadata/name', `metadata.name "${name}" (${name.length} chars) must be ${rule.description}`);
  }
}
