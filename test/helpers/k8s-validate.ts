/**
 * Offline validation of rendered Kubernetes manifests (the objects that
 * `helm template` prints), so chart tests can fail on what a real cluster
 * would reject, without needing a cluster.
 *
 * For every object `validateManifests` runs four independent checks and
 * returns every problem it finds (an empty array means "valid"):
 *
 *   1. apiVersion/kind allow-list + metadata.name format,
 *   2. OpenAPI schema validation with `kubernetes-models`,
 *   3. unknown-field detection against the `@kubernetes/client-node` type maps
 *      (kubernetes-models ignores unknown fields, the API server drops or, with
 *      strict field validation, rejects them),
 *   4. the "restricted" Pod Security Standard for anything with a pod template.
 */
import { parseAllDocuments, type Tags } from 'yaml';

// ---------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------

export interface ManifestProblem {
  /** Which object, e.g. "apps/v1 Deployment my-name". */
  object: string;
  /** JSON pointer into the object, e.g. "/spec/template/spec/containers/0/image". */
  path: string;
  message: string;
}

export interface ValidateOptions {
  /** hostPath volumes are forbidden even by the baseline profile; pass only with a documented reason. */
  allowHostPath?: boolean;
  /** nfs volumes are not in the restricted profile's volume list; pass only with a documented reason. */
  allowNfs?: boolean;
}

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
};

/** Allowed "apiVersion/kind" pairs, e.g. "apps/v1/Deployment", "v1/Service". */
export const ALLOWED_API_VERSIONS: ReadonlySet<string> = new Set(
  Object.entries(ALLOWED_KINDS_BY_API_VERSION).flatMap(([apiVersion, kinds]) =>
    kinds.map((kind) => `${apiVersion}/${kind}`),
  ),
);

/**
 * Splits multi-document YAML (as printed by `helm template`) into objects,
 * skipping empty documents (a `---` followed only by `# Source:` comments).
 *
 * Scalars are resolved the way Kubernetes tooling does (sigs.k8s.io/yaml, i.e.
 * go-yaml v2, YAML 1.1 rules): unquoted `on`/`yes`/`y` are booleans and `0777`
 * is octal. That is what the API server would receive, so a chart that
 * renders `value: on` where a string is meant is caught by the schema check.
 * Timestamps and sexagesimal numbers stay strings, as they do in go-yaml v2
 * when decoding into untyped maps.
 */
export function parseManifests(yamlText: string): Record<string, unknown>[] {
  const documents = parseAllDocuments(yamlText, { version: '1.1', customTags: keepGoYamlV2Tags });
  const objects: Record<string, unknown>[] = [];
  documents.forEach((document, index) => {
    const firstError = document.errors[0];
    if (firstError) throw new Error(`YAML document #${index}: ${firstError.message}`);
    const value: unknown = document.toJS();
    if (value === null || value === undefined) return;
    if (!isRecord(value)) {
      throw new Error(`YAML document #${index} is a ${describeType(value)}, expected a mapping (a Kubernetes object)`);
    }
    objects.push(value);
  });
  return objects;
}

function keepGoYamlV2Tags(tags: Tags): Tags {
  return tags.filter((tag) => {
    // Entries are tag objects for the built-in schemas; names are accepted too.
    if (typeof tag === 'string') return !['timestamp', 'intTime', 'floatTime'].includes(tag);
    const isTimestamp = tag.tag === 'tag:yaml.org,2002:timestamp';
    const isSexagesimal = 'format' in tag && tag.format === 'TIME';
    return !isTimestamp && !isSexagesimal;
  });
}

/** Runs all four checks on every object; returns all problems found (empty = valid). */
export async function validateManifests(objects: unknown[], opts: ValidateOptions = {}): Promise<ManifestProblem[]> {
  const problems: ManifestProblem[] = [];
  for (const [index, object] of objects.entries()) {
    problems.push(...(await validateObject(object, index, opts)));
  }
  return problems;
}

// ---------------------------------------------------------------------------
// Per-object driver
// ---------------------------------------------------------------------------

type Report = (path: string, message: string) => void;

async function validateObject(object: unknown, index: number, opts: ValidateOptions): Promise<ManifestProblem[]> {
  if (!isRecord(object)) {
    return [{ object: `document #${index}`, path: '', message: `expected a Kubernetes object, got a ${describeType(object)}` }];
  }
  const problems: ManifestProblem[] = [];
  const label = describeObject(object);
  const report: Report = (path, message) => problems.push({ object: label, path, message });

  const isAllowedKind = checkApiVersionAllowed(object, report);
  checkMetadataName(object, report);
  // Schema and field checks need a known model; for a rejected apiVersion the
  // allow-list problem already says what to fix.
  if (isAllowedKind) {
    await checkSchema(object, report);
    await checkUnknownFields(object, report);
  }
  checkRestrictedPodSecurity(object, opts, report);
  return problems;
}

function describeObject(object: Record<string, unknown>): string {
  const apiVersion = typeof object.apiVersion === 'string' ? object.apiVersion : '<no apiVersion>';
  const kind = typeof object.kind === 'string' ? object.kind : '<no kind>';
  const metadata = isRecord(object.metadata) ? object.metadata : {};
  const name = typeof metadata.name === 'string' ? metadata.name : '<no name>';
  return `${apiVersion} ${kind} ${name}`;
}

// ---------------------------------------------------------------------------
// Check 1: apiVersion/kind allow-list and metadata.name
// ---------------------------------------------------------------------------

function checkApiVersionAllowed(object: Record<string, unknown>, report: Report): boolean {
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

function checkMetadataName(object: Record<string, unknown>, report: Report): void {
  if (!isRecord(object.metadata)) {
    report('/metadata', 'metadata is missing (every object needs metadata.name)');
    return;
  }
  const name = object.metadata.name;
  if (typeof name !== 'string' || name === '') {
    report('/metadata/name', 'metadata.name is missing or not a non-empty string');
    return;
  }
  const rule = (typeof object.kind === 'string' && NAME_RULE_BY_KIND[object.kind]) || SUBDOMAIN_NAME;
  if (!rule.isValid(name)) {
    report('/metadata/name', `metadata.name "${name}" (${name.length} chars) must be ${rule.description}`);
  }
}

// ---------------------------------------------------------------------------
// Check 2: OpenAPI schema via kubernetes-models
// ---------------------------------------------------------------------------

type KubernetesModelClass = new (data: Record<string, unknown>) => { validate(): void };

/** Shape of the ajv errors kubernetes-models attaches to the thrown ValidationError as `.errors`. */
interface AjvErrorLike {
  instancePath: string;
  keyword: string;
  message?: string;
  params?: Record<string, unknown>;
}

const kubernetesModelCache = new Map<string, Promise<KubernetesModelClass | undefined>>();

/**
 * kubernetes-models exposes one module per kind, named after the apiVersion:
 * `kubernetes-models/apps/v1/Deployment`, and the core group as
 * `kubernetes-models/v1/Service`. Each module exports a class named after the kind.
 */
function loadKubernetesModel(apiVersion: string, kind: string): Promise<KubernetesModelClass | undefined> {
  const specifier = `kubernetes-models/${apiVersion}/${kind}`;
  let loaded = kubernetesModelCache.get(specifier);
  if (!loaded) {
    loaded = import(specifier).then(
      (module: Record<string, unknown>) => module[kind] as KubernetesModelClass | undefined,
      () => undefined,
    );
    kubernetesModelCache.set(specifier, loaded);
  }
  return loaded;
}

async function checkSchema(object: Record<string, unknown>, report: Report): Promise<void> {
  const apiVersion = object.apiVersion as string;
  const kind = object.kind as string;
  const Model = await loadKubernetesModel(apiVersion, kind);
  if (!Model) {
    report('', `schema: kubernetes-models has no model for ${apiVersion} ${kind} (the allow-list and the installed package disagree)`);
    return;
  }
  try {
    new Model(object).validate();
  } catch (error) {
    const ajvErrors = readAjvErrors(error);
    if (!ajvErrors) {
      report('', `schema: validation failed: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    for (const [path, messages] of groupSchemaMessagesByPath(ajvErrors)) {
      report(path, `schema: ${messages.join('; ')}`);
    }
  }
}

function readAjvErrors(error: unknown): AjvErrorLike[] | undefined {
  if (!isRecord(error) || !Array.isArray(error.errors)) return undefined;
  return error.errors.filter(
    (entry): entry is AjvErrorLike => isRecord(entry) && typeof entry.instancePath === 'string' && typeof entry.keyword === 'string',
  );
}

/**
 * One problem per path reads better than ajv's raw list: a bad quantity yields
 * "must be number", "must match format quantity" and "must match exactly one
 * schema in oneOf" for the same field. A missing required field is reported at
 * the missing field's own path rather than at its parent.
 */
function groupSchemaMessagesByPath(errors: AjvErrorLike[]): Map<string, string[]> {
  const byPath = new Map<string, string[]>();
  for (const error of errors) {
    const { path, message } = describeSchemaError(error);
    const messages = byPath.get(path) ?? [];
    if (!messages.includes(message)) messages.push(message);
    byPath.set(path, messages);
  }
  for (const [path, messages] of byPath) {
    const specific = messages.filter((message) => !message.startsWith('must match exactly one schema'));
    if (specific.length > 0) byPath.set(path, specific);
  }
  return byPath;
}

function describeSchemaError(error: AjvErrorLike): { path: string; message: string } {
  const params = error.params ?? {};
  const message = error.message ?? `failed "${error.keyword}"`;
  if (error.keyword === 'required' && typeof params.missingProperty === 'string') {
    return { path: childPath(error.instancePath, params.missingProperty), message: 'required field is missing' };
  }
  if (error.keyword === 'enum' && Array.isArray(params.allowedValues)) {
    return { path: error.instancePath, message: `${message}: ${params.allowedValues.map((v) => JSON.stringify(v)).join(', ')}` };
  }
  return { path: error.instancePath, message };
}

// ---------------------------------------------------------------------------
// Check 3: unknown fields via @kubernetes/client-node attribute type maps
// ---------------------------------------------------------------------------

interface AttributeType {
  baseName: string;
  type: string;
}

interface ClientNodeModelClass {
  getAttributeTypeMap(): AttributeType[];
}

type ClientNodeModels = Record<string, unknown>;

let clientNodeModels: Promise<ClientNodeModels> | undefined;

/** Deep import: the package's top-level entry point crashes on Node 20. */
function loadClientNodeModels(): Promise<ClientNodeModels> {
  clientNodeModels ??= import('@kubernetes/client-node/dist/gen/models/all.js').then(
    (module) => module as unknown as ClientNodeModels,
  );
  return clientNodeModels;
}

function findClientNodeModel(models: ClientNodeModels, typeName: string): ClientNodeModelClass | undefined {
  const candidate = models[typeName];
  const hasTypeMap =
    typeof candidate === 'function' && typeof (candidate as Partial<ClientNodeModelClass>).getAttributeTypeMap === 'function';
  return hasTypeMap ? (candidate as unknown as ClientNodeModelClass) : undefined;
}

/** client-node names top-level classes "<Version><Kind>": apps/v1 Deployment -> V1Deployment, autoscaling/v2 HPA -> V2HorizontalPodAutoscaler. */
function clientNodeClassName(apiVersion: string, kind: string): string {
  const version = apiVersion.split('/').pop() ?? apiVersion;
  return `${version.charAt(0).toUpperCase()}${version.slice(1)}${kind}`;
}

const ARRAY_TYPE = /^Array<(.+)>$/;
const MAP_TYPE = /^\{ \[key: string\]: (.+); \}$/;

async function checkUnknownFields(object: Record<string, unknown>, report: Report): Promise<void> {
  const models = await loadClientNodeModels();
  const className = clientNodeClassName(object.apiVersion as string, object.kind as string);
  if (!findClientNodeModel(models, className)) {
    report('', `unknown-field check: @kubernetes/client-node has no model ${className}`);
    return;
  }
  walkAgainstType(object, className, '', models, report);
}

/**
 * Descends into `value` following the client-node type name. Only unknown
 * keys are reported: type mismatches are the schema check's job, and
 * client-node types Quantity as "string" although YAML often yields numbers.
 * Anything that is not a model class ("string", "IntOrString", "any",
 * "V1MicroTime", ...) is a leaf.
 */
function walkAgainstType(value: unknown, typeName: string, path: string, models: ClientNodeModels, report: Report): void {
  if (value === null || value === undefined) return;

  const arrayItemType = ARRAY_TYPE.exec(typeName)?.[1];
  if (arrayItemType !== undefined) {
    if (Array.isArray(value)) value.forEach((item, i) => walkAgainstType(item, arrayItemType, childPath(path, i), models, report));
    return;
  }
  const mapValueType = MAP_TYPE.exec(typeName)?.[1];
  if (mapValueType !== undefined) {
    if (isRecord(value)) {
      for (const [key, item] of Object.entries(value)) walkAgainstType(item, mapValueType, childPath(path, key), models, report);
    }
    return;
  }
  const model = findClientNodeModel(models, typeName);
  if (!model || !isRecord(value)) return;

  const fieldTypes = new Map(model.getAttributeTypeMap().map((attribute) => [attribute.baseName, attribute.type]));
  for (const [key, fieldValue] of Object.entries(value)) {
    const fieldType = fieldTypes.get(key);
    if (fieldType === undefined) {
      report(childPath(path, key), unknownFieldMessage(key, typeName, [...fieldTypes.keys()]));
    } else {
      walkAgainstType(fieldValue, fieldType, childPath(path, key), models, report);
    }
  }
}

function unknownFieldMessage(key: string, typeName: string, knownFields: string[]): string {
  const suggestion = closestName(key, knownFields);
  const hint = suggestion ? `; did you mean "${suggestion}"?` : `; known fields: ${knownFields.join(', ')}`;
  return `unknown field (not in ${typeName})${hint}`;
}

/** A known field within edit distance 2 (typos like "replica", "lables", "imagePullPolcy"). */
function closestName(name: string, candidates: string[]): string | undefined {
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance <= 2 && (!best || distance < best.distance)) best = { candidate, distance };
  }
  return best?.candidate;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

// ---------------------------------------------------------------------------
// Check 4: restricted Pod Security Standard
// https://kubernetes.io/docs/concepts/security/pod-security-standards/
// ---------------------------------------------------------------------------

interface PodTemplateLocation {
  spec: Record<string, unknown>;
  specPath: string;
  metadata: Record<string, unknown>;
  metadataPath: string;
}

interface ContainerLocation {
  container: Record<string, unknown>;
  name: string;
  path: string;
  securityContext: Record<string, unknown>;
}

interface PssContext {
  pod: PodTemplateLocation;
  podSecurityContext: Record<string, unknown>;
  podSecurityContextPath: string;
  containers: ContainerLocation[];
  opts: ValidateOptions;
  violation: Report;
}

const WORKLOADS_WITH_POD_TEMPLATE = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job']);
const CONTAINER_LISTS = ['initContainers', 'containers', 'ephemeralContainers'] as const;

const RESTRICTED_VOLUME_TYPES = new Set([
  'configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret',
]);
const SAFE_SYSCTLS = new Set([
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
]);
const ALLOWED_SECCOMP_TYPES = new Set(['RuntimeDefault', 'Localhost']);
const ALLOWED_SELINUX_TYPES = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']);
const APPARMOR_ANNOTATION_PREFIX = 'container.apparmor.security.beta.kubernetes.io/';
const PROBE_AND_HOOK_HANDLERS = [
  ['livenessProbe'], ['readinessProbe'], ['startupProbe'], ['lifecycle', 'postStart'], ['lifecycle', 'preStop'],
] as const;

function checkRestrictedPodSecurity(object: Record<string, unknown>, opts: ValidateOptions, report: Report): void {
  const pod = findPodTemplate(object);
  if (!pod) return;
  const podSecurityContextPath = childPath(pod.specPath, 'securityContext');
  const context: PssContext = {
    pod,
    podSecurityContext: asRecord(pod.spec.securityContext),
    podSecurityContextPath,
    containers: listContainers(pod),
    opts,
    violation: (path, message) => report(path, `restricted PSS: ${message}`),
  };
  checkHostNamespaces(context);
  checkVolumeTypes(context);
  checkSysctls(context);
  checkAppArmorAnnotations(context);
  checkPodLevelSecurityContext(context);
  for (const container of context.containers) checkContainer(context, container);
}

/** Pod spec location per kind: bare Pod -> spec, workloads -> spec.template, CronJob -> spec.jobTemplate.spec.template. */
function findPodTemplate(object: Record<string, unknown>): PodTemplateLocation | undefined {
  const spec = asRecord(object.spec);
  if (object.kind === 'Pod') {
    return { spec, specPath: '/spec', metadata: asRecord(object.metadata), metadataPath: '/metadata' };
  }
  const templatePath = podTemplatePath(String(object.kind));
  if (!templatePath) return undefined;
  const template = asRecord(templatePath.reduce<unknown>((node, key) => asRecord(node)[key], object));
  const base = childPath('', ...templatePath);
  return {
    spec: asRecord(template.spec),
    specPath: childPath(base, 'spec'),
    metadata: asRecord(template.metadata),
    metadataPath: childPath(base, 'metadata'),
  };
}

function podTemplatePath(kind: string): string[] | undefined {
  if (kind === 'CronJob') return ['spec', 'jobTemplate', 'spec', 'template'];
  return WORKLOADS_WITH_POD_TEMPLATE.has(kind) ? ['spec', 'template'] : undefined;
}

function listContainers(pod: PodTemplateLocation): ContainerLocation[] {
  return CONTAINER_LISTS.flatMap((listName) => {
    const list = pod.spec[listName];
    if (!Array.isArray(list)) return [];
    return list.map((entry: unknown, index) => {
      const container = asRecord(entry);
      return {
        container,
        name: typeof container.name === 'string' ? `${listName}[${index}] "${container.name}"` : `${listName}[${index}]`,
        path: childPath(pod.specPath, listName, index),
        securityContext: asRecord(container.securityContext),
      };
    });
  });
}

function checkHostNamespaces({ pod, violation }: PssContext): void {
  for (const field of ['hostNetwork', 'hostPID', 'hostIPC']) {
    if (pod.spec[field] === true) {
      violation(childPath(pod.specPath, field), `${field} must be unset or false (it shares the node's namespace with the pod)`);
    }
  }
}

function checkVolumeTypes({ pod, opts, violation }: PssContext): void {
  const volumes = Array.isArray(pod.spec.volumes) ? pod.spec.volumes : [];
  volumes.forEach((entry: unknown, index) => {
    const volume = asRecord(entry);
    const volumeName = typeof volume.name === 'string' ? volume.name : `#${index}`;
    for (const volumeType of Object.keys(volume)) {
      if (volumeType === 'name' || RESTRICTED_VOLUME_TYPES.has(volumeType)) continue;
      if (volumeType === 'hostPath' && opts.allowHostPath) continue;
      if (volumeType === 'nfs' && opts.allowNfs) continue;
      const optOut = volumeType === 'hostPath' ? ' (pass allowHostPath only with a documented reason)' : volumeType === 'nfs' ? ' (pass allowNfs only with a documented reason)' : '';
      violation(
        childPath(pod.specPath, 'volumes', index, volumeType),
        `volume "${volumeName}" uses forbidden type ${volumeType}; allowed: ${[...RESTRICTED_VOLUME_TYPES].join(', ')}${optOut}`,
      );
    }
  });
}

function checkSysctls({ podSecurityContext, podSecurityContextPath, violation }: PssContext): void {
  const sysctls = Array.isArray(podSecurityContext.sysctls) ? podSecurityContext.sysctls : [];
  sysctls.forEach((entry: unknown, index) => {
    const name = asRecord(entry).name;
    if (typeof name === 'string' && SAFE_SYSCTLS.has(name)) return;
    violation(childPath(podSecurityContextPath, 'sysctls', index, 'name'), `sysctl ${JSON.stringify(name)} is not in the safe set (${[...SAFE_SYSCTLS].join(', ')})`);
  });
}

/** The pre-1.30 annotation form of AppArmor is still honoured, so it is checked too. */
function checkAppArmorAnnotations({ pod, violation }: PssContext): void {
  const annotations = asRecord(pod.metadata.annotations);
  for (const [key, value] of Object.entries(annotations)) {
    if (!key.startsWith(APPARMOR_ANNOTATION_PREFIX)) continue;
    if (value === 'runtime/default' || (typeof value === 'string' && value.startsWith('localhost/'))) continue;
    violation(childPath(pod.metadataPath, 'annotations', key), `AppArmor annotation must be "runtime/default" or "localhost/<profile>", found ${JSON.stringify(value)}`);
  }
}

function checkPodLevelSecurityContext(context: PssContext): void {
  const { podSecurityContext: sc, podSecurityContextPath: path, violation } = context;
  if (sc.runAsNonRoot === false) violation(childPath(path, 'runAsNonRoot'), 'pod securityContext.runAsNonRoot must not be false');
  if (sc.runAsUser === 0) violation(childPath(path, 'runAsUser'), 'pod securityContext.runAsUser must not be 0 (root)');
  const seccompType = asRecord(sc.seccompProfile).type;
  if (seccompType !== undefined && !ALLOWED_SECCOMP_TYPES.has(String(seccompType))) {
    violation(childPath(path, 'seccompProfile', 'type'), `pod seccompProfile.type must be RuntimeDefault or Localhost, found ${JSON.stringify(seccompType)}`);
  }
  checkSharedSecurityOptions(sc, path, 'pod', violation);
}

function checkContainer(context: PssContext, location: ContainerLocation): void {
  checkContainerPrivileges(context, location);
  checkRunAsNonRoot(context, location);
  checkContainerSeccomp(context, location);
  checkCapabilities(context, location);
  checkHostPorts(context, location);
  checkProbeAndHookHosts(context, location);
  checkSharedSecurityOptions(location.securityContext, childPath(location.path, 'securityContext'), `container ${location.name}`, context.violation);
}

function checkContainerPrivileges({ violation }: PssContext, { securityContext: sc, path, name }: ContainerLocation): void {
  const scPath = childPath(path, 'securityContext');
  if (sc.privileged === true) violation(childPath(scPath, 'privileged'), `container ${name} must not be privileged`);
  if (sc.allowPrivilegeEscalation !== false) {
    violation(childPath(scPath, 'allowPrivilegeEscalation'), `container ${name} must set securityContext.allowPrivilegeEscalation to false (found ${describeSetting(sc.allowPrivilegeEscalation)})`);
  }
  if (sc.runAsUser === 0) violation(childPath(scPath, 'runAsUser'), `container ${name} securityContext.runAsUser must not be 0 (root)`);
  if (sc.procMount !== undefined && sc.procMount !== 'Default') {
    violation(childPath(scPath, 'procMount'), `container ${name} procMount must be unset or Default, found ${JSON.stringify(sc.procMount)}`);
  }
}

/** runAsNonRoot may be set once at pod level; a container may not override it with false. */
function checkRunAsNonRoot({ podSecurityContext, violation }: PssContext, { securityContext: sc, path, name }: ContainerLocation): void {
  const fieldPath = childPath(path, 'securityContext', 'runAsNonRoot');
  if (sc.runAsNonRoot === true) return;
  if (sc.runAsNonRoot === false) {
    violation(fieldPath, `container ${name} sets runAsNonRoot to false; it must be true`);
  } else if (podSecurityContext.runAsNonRoot !== true) {
    violation(fieldPath, `runAsNonRoot must be true in the pod securityContext or in container ${name} (found ${describeSetting(sc.runAsNonRoot)} in the container and ${describeSetting(podSecurityContext.runAsNonRoot)} in the pod)`);
  }
}

function checkContainerSeccomp({ podSecurityContext, violation }: PssContext, { securityContext: sc, path, name }: ContainerLocation): void {
  const fieldPath = childPath(path, 'securityContext', 'seccompProfile', 'type');
  const containerType = asRecord(sc.seccompProfile).type;
  const podType = asRecord(podSecurityContext.seccompProfile).type;
  if (containerType !== undefined) {
    if (!ALLOWED_SECCOMP_TYPES.has(String(containerType))) {
      violation(fieldPath, `container ${name} seccompProfile.type must be RuntimeDefault or Localhost, found ${JSON.stringify(containerType)}`);
    }
    return;
  }
  if (!ALLOWED_SECCOMP_TYPES.has(String(podType))) {
    violation(fieldPath, `seccompProfile.type must be RuntimeDefault or Localhost in the pod securityContext or in container ${name} (container: unset, pod: ${describeSetting(podType)})`);
  }
}

function checkCapabilities({ violation }: PssContext, { securityContext: sc, path, name }: ContainerLocation): void {
  const capabilitiesPath = childPath(path, 'securityContext', 'capabilities');
  const capabilities = asRecord(sc.capabilities);
  const drop = Array.isArray(capabilities.drop) ? capabilities.drop : [];
  if (!drop.includes('ALL')) {
    violation(childPath(capabilitiesPath, 'drop'), `container ${name} must drop ALL capabilities (securityContext.capabilities.drop: ["ALL"]), found ${describeSetting(capabilities.drop)}`);
  }
  const added = Array.isArray(capabilities.add) ? capabilities.add : [];
  added.forEach((capability: unknown, index) => {
    if (capability === 'NET_BIND_SERVICE') return;
    violation(childPath(capabilitiesPath, 'add', index), `container ${name} may only add NET_BIND_SERVICE, found ${JSON.stringify(capability)}`);
  });
}

function checkHostPorts({ violation }: PssContext, { container, path, name }: ContainerLocation): void {
  const ports = Array.isArray(container.ports) ? container.ports : [];
  ports.forEach((entry: unknown, index) => {
    const hostPort = asRecord(entry).hostPort;
    if (hostPort === undefined || hostPort === null || hostPort === 0) return;
    violation(childPath(path, 'ports', index, 'hostPort'), `container ${name} must not use hostPort (found ${JSON.stringify(hostPort)})`);
  });
}

/** Baseline since 1.34: probes and lifecycle hooks may not target another host, which would make the kubelet a proxy. */
function checkProbeAndHookHosts({ violation }: PssContext, { container, path, name }: ContainerLocation): void {
  for (const handlerPath of PROBE_AND_HOOK_HANDLERS) {
    const handler = asRecord(handlerPath.reduce<unknown>((node, key) => asRecord(node)[key], container));
    for (const action of ['httpGet', 'tcpSocket']) {
      const host = asRecord(handler[action]).host;
      if (host === undefined || host === null || host === '') continue;
      violation(childPath(path, ...handlerPath, action, 'host'), `container ${name} ${handlerPath.join('.')}.${action}.host must be unset (found ${JSON.stringify(host)})`);
    }
  }
}

/** Settings with the same rules at pod and container level: SELinux, AppArmor, Windows HostProcess. */
function checkSharedSecurityOptions(sc: Record<string, unknown>, scPath: string, owner: string, violation: Report): void {
  const seLinux = asRecord(sc.seLinuxOptions);
  if (seLinux.type !== undefined && !ALLOWED_SELINUX_TYPES.has(String(seLinux.type))) {
    violation(childPath(scPath, 'seLinuxOptions', 'type'), `${owner} seLinuxOptions.type must be one of container_t, container_init_t, container_kvm_t, container_engine_t; found ${JSON.stringify(seLinux.type)}`);
  }
  for (const field of ['user', 'role']) {
    if (seLinux[field] !== undefined && seLinux[field] !== '') {
      violation(childPath(scPath, 'seLinuxOptions', field), `${owner} seLinuxOptions.${field} must not be set (found ${JSON.stringify(seLinux[field])})`);
    }
  }
  const appArmorType = asRecord(sc.appArmorProfile).type;
  if (appArmorType !== undefined && appArmorType !== 'RuntimeDefault' && appArmorType !== 'Localhost') {
    violation(childPath(scPath, 'appArmorProfile', 'type'), `${owner} appArmorProfile.type must be RuntimeDefault or Localhost, found ${JSON.stringify(appArmorType)}`);
  }
  if (asRecord(sc.windowsOptions).hostProcess === true) {
    violation(childPath(scPath, 'windowsOptions', 'hostProcess'), `${owner} must not run as a Windows HostProcess container`);
  }
}

// ---------------------------------------------------------------------------
// Small utilities
// ---------------------------------------------------------------------------

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Treats anything that is not an object as empty, so optional nested settings can be read without guards. */
function asRecord(value: unknown): Record<string, unknown> {
  return isRecord(value) ? value : {};
}

/** Appends JSON-pointer segments, escaping "~" and "/" (annotation keys contain "/"). */
function childPath(path: string, ...segments: (string | number)[]): string {
  return path + segments.map((segment) => `/${String(segment).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

function describeSetting(value: unknown): string {
  return value === undefined ? 'unset' : JSON.stringify(value);
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'list' : typeof value;
}
