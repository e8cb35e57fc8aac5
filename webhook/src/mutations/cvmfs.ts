/**
 * CVMFS: each repository asked for (`cvmfs-repositories: cms.cern.ch,atlas.cern.ch`) is mounted
 * read-only at `<mountPath>/<repository>` in every container (init containers and native
 * sidecars included, but not the auth sidecar, which has no use for it), from one volume: the
 * namespace's cvmfs-csi claim or the node's CVMFS mount. `mountPropagation: HostToContainer`
 * lets the container see repositories that the automounter mounts after it started.
 *
 * Ephemeral containers are left out: the API server refuses them on create
 * (`spec.ephemeralContainers: Forbidden: cannot be set on create`), they are added later through
 * the pods/ephemeralcontainers subresource, which the webhook skips, and their volume mounts may
 * not carry the subPath these mounts use.
 *
 * The volume's name and the mount paths are ours: a pod that already uses them for something
 * else (a volume named supersonic-cvmfs, a mount at `<mountPath>`, at a repository's path or
 * inside it) is refused with the reason, never merged with ours. What this mutation wrote
 * before (a reinvocation) is recognised and kept once.
 */
import { ANNOTATIONS, PREFIX } from '../annotations.ts';
import { clip, few, quote } from '#core/text/quote.ts';
import type { WebhookValues } from '../config.ts';
import { isAuthSidecar } from './auth-sidecar.ts';
import type { V1Volume } from '@kubernetes/client-node';
import { nothing, type ClaimLookup, type MutablePod, type Mutation, type MutationContext, type MutationResult } from './context.ts';

export const CVMFS_VOLUME = 'supersonic-cvmfs';
const REPOSITORY = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$/;

export type { ClaimLookup };
type CvmfsSettings = WebhookValues['injection']['cvmfs'];

/**
 * The repositories of a `cvmfs-repositories` value, or what is wrong with it (a sentence that
 * does not name the annotation: the pod's path and the start-up check of namespace defaults
 * each say where it was found).
 */
export function parseRepositories(value: string): { repositories: string[] } | { problem: string } {
  const repositories = [...new Set(value.split(',').map((r) => r.trim()).filter(Boolean))];
  if (repositories.length === 0 || !repositories.every((r) => REPOSITORY.test(r))) {
    return { problem: `${quote(value)} must list CVMFS repositories such as cms.cern.ch, separated by commas` };
  }
  return { repositories };
}

export const cvmfsMutation: Mutation = { name: 'cvmfs', apply: injectCvmfs };

async function injectCvmfs(pod: MutablePod, ctx: MutationContext): Promise<MutationResult> {
  const { claimExists } = ctx;
  const asked = ctx.asks[ANNOTATIONS.cvmfsRepositories];
  if (asked === undefined) return nothing;
  const parsed = parseRepositories(asked);
  if ('problem' in parsed) return { ...nothing, denied: `annotation ${PREFIX}${ANNOTATIONS.cvmfsRepositories}: ${parsed.problem}` };
  const { repositories } = parsed;
  const settings = ctx.config.values.injection.cvmfs;
  const volume = cvmfsVolume(settings);
  const base = settings.mountPath.replace(/\/+$/, '');
  const paths = new Map(repositories.map((repository) => [`${base}/${repository}`, repository]));
  const containers = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].filter((c) => !isAuthSidecar(c));

  // Checked before the claim lookup (a call to the API server) and before anything is written.
  const existing = (pod.spec.volumes ?? []).find((v: any) => v?.name === CVMFS_VOLUME);
  if (existing !== undefined && !isCvmfsVolume(existing, settings)) {
    return { ...nothing, denied: `CVMFS: the pod already has a volume named ${CVMFS_VOLUME}, which is not the webhook's; rename it (the webhook adds CVMFS under that name)` };
  }
  for (const container of containers) {
    const clash = mountClash(container, base, paths);
    if (clash) return { ...nothing, denied: clash };
  }
  if (settings.source === 'pvc' && !(await claimExists(ctx.namespace, settings.claimName))) {
    return {
      ...nothing,
      denied: `CVMFS was asked for, but the PersistentVolumeClaim "${settings.claimName}" (storage class of the cvmfs-csi driver) does not exist in namespace ${ctx.namespace}; create it (see docs/webhook.md) and create the pod again`,
    };
  }

  pod.spec.volumes ??= [];
  if (existing === undefined) pod.spec.volumes.push(volume);
  for (const container of containers) {
    container.volumeMounts ??= [];
    for (const [mountPath, repository] of paths) {
      // Per-item check: after mountClash, a mount at this path is the one we wrote before.
      if (container.volumeMounts.some((m: any) => m?.mountPath === mountPath)) continue;
      container.volumeMounts.push({ name: CVMFS_VOLUME, mountPath, subPath: repository, readOnly: true, mountPropagation: 'HostToContainer' });
    }
  }
  const listed = repositories.join(', ');
  return { injected: true, warnings: [`CVMFS ${listed.length <= 64 ? listed : few(repositories)} mounted read-only under ${settings.mountPath}`] };
}

/**
 * The volume this mutation wrote (on a previous pass): our name and source. Compared on what
 * identifies it, not whole, so that fields the API server may default in between do not matter.
 */
function isCvmfsVolume(volume: Record<string, any>, settings: CvmfsSettings): boolean {
  const sources = Object.keys(volume).filter((key) => key !== 'name');
  if (settings.source === 'pvc') return sources.length === 1 && volume.persistentVolumeClaim?.claimName === settings.claimName;
  return sources.length === 1 && volume.hostPath?.path === settings.hostPath;
}

function cvmfsVolume(settings: CvmfsSettings): V1Volume {
  return settings.source === 'pvc'
    ? { name: CVMFS_VOLUME, persistentVolumeClaim: { claimName: settings.claimName, readOnly: true } }
    : { name: CVMFS_VOLUME, hostPath: { path: settings.hostPath, type: 'Directory' } };
}

/**
 * A mount of the container's own where ours go: at `base` itself (ours would land inside
 * it), at a repository's path (unless it is the one we wrote), or inside one (ours would hide
 * it, or it ours).
 */
function mountClash(container: Record<string, any>, base: string, paths: Map<string, string>): string | undefined {
  for (const mount of container.volumeMounts ?? []) {
    if (typeof mount?.mountPath !== 'string') continue;
    const path = mount.mountPath.replace(/\/+$/, '');
    if (!path.startsWith(base)) continue;
    const where = `CVMFS: container ${clip(container.name)} already mounts volume ${clip(mount.name)} at ${clip(mount.mountPath)}`;
    if (path === base) return `${where}, where the webhook mounts CVMFS repositories (${base}/<repository>); mount it elsewhere`;
    if (path[base.length] !== '/') continue;
    const end = path.indexOf('/', base.length + 1);
    const top = end === -1 ? path : path.slice(0, end);
    const repository = paths.get(top);
    if (repository === undefined) continue;
    if (path === top) {
      if (mount.name === CVMFS_VOLUME && mount.subPath === repository) continue; // ours, from a previous pass
      return `${where}, where the webhook would mount ${repository}; remove that mount or ${repository} from the annotation`;
    }
    return `${where}, inside ${top} where the webhook would mount ${repository}; remove that mount or ${repository} from the annotation`;
  }
  return undefined;
}
