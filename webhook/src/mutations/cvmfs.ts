/**
 * CVMFS: each repository asked for (`cvmfs-repositories: cms.cern.ch,atlas.cern.ch`) is mounted
 * read-only at `<mountPath>/<repository>` in every container, from one volume: the namespace's
 * cvmfs-csi claim or the node's CVMFS mount. `mountPropagation: HostToContainer` lets the
 * container see repositories that the automounter mounts after it started.
 */
import { ANNOTATIONS, PREFIX } from '../annotations.ts';
import { appContainers, nothing, type MutationContext, type MutationResult } from './context.ts';

export const CVMFS_VOLUME = 'supersonic-cvmfs';
const REPOSITORY = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$/;

export type ClaimLookup = (namespace: string, name: string) => Promise<boolean>;

export async function injectCvmfs(pod: Record<string, any>, ctx: MutationContext, claimExists: ClaimLookup): Promise<MutationResult> {
  const asked = ctx.asks[ANNOTATIONS.cvmfsRepositories];
  if (asked === undefined) return nothing;
  const repositories = [...new Set(asked.split(',').map((r) => r.trim()).filter(Boolean))];
  const invalid = repositories.filter((r) => !REPOSITORY.test(r));
  if (invalid.length || repositories.length === 0) {
    return { ...nothing, denied: `annotation ${PREFIX}${ANNOTATIONS.cvmfsRepositories}: "${asked}" must list CVMFS repositories such as cms.cern.ch, separated by commas` };
  }
  const settings = ctx.config.values.injection.cvmfs;
  if (settings.source === 'pvc' && !(await claimExists(ctx.namespace, settings.claimName))) {
    return {
      ...nothing,
      denied: `CVMFS was asked for, but the PersistentVolumeClaim "${settings.claimName}" (storage class of the cvmfs-csi driver) does not exist in namespace ${ctx.namespace}; create it (see docs/webhook.md) and create the pod again`,
    };
  }

  pod.spec.volumes ??= [];
  if (!pod.spec.volumes.some((v: any) => v?.name === CVMFS_VOLUME)) {
    pod.spec.volumes.push(
      settings.source === 'pvc'
        ? { name: CVMFS_VOLUME, persistentVolumeClaim: { claimName: settings.claimName, readOnly: true } }
        : { name: CVMFS_VOLUME, hostPath: { path: settings.hostPath, type: 'Directory' } },
    );
  }
  const base = settings.mountPath.replace(/\/$/, '');
  const mounts = repositories.map((repository) => ({ repository, mountPath: `${base}/${repository}` }));
  for (const container of appContainers(pod)) {
    container.volumeMounts ??= [];
    for (const { repository, mountPath } of mounts) {
      // Per-item check: a container that already has this path (from us or its author) keeps it.
      if (container.volumeMounts.some((m: any) => m?.mountPath === mountPath)) continue;
      container.volumeMounts.push({ name: CVMFS_VOLUME, mountPath, subPath: repository, readOnly: true, mountPropagation: 'HostToContainer' });
    }
  }
  return { injected: true, warnings: [`CVMFS ${repositories.join(', ')} mounted read-only under ${settings.mountPath}`] };
}
