/**
 * Check 4: the "restricted" Pod Security Standard, for anything with a pod template.
 * https://kubernetes.io/docs/concepts/security/pod-security-standards/
 */
import type { ValidateOptions } from './manifests.ts';
import { asRecord, childPath, type Report } from './shared.ts';

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

export function checkRestrictedPodSecurity(object: Record<string, unknown>, opts: ValidateOptions, report: Report): void {
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

function describeSetting(value: unknown): string {
  return value === undefined ? 'unset' : JSON.stringify(value);
}
