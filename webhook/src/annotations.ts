/**
 * The names users write: one namespace label to switch the webhook on, one pod label to opt
 * out, and pod annotations under one prefix (documented in docs/webhook.md).
 */
import { GPU_ASKS } from '#core/gpu/resolve.ts';

export const PREFIX = 'supersonic.fastmachinelearning.org/';

/** On a namespace, `enabled` offers its pods to the webhook; on a pod, `disabled` opts it out. */
export const INJECT_LABEL = `${PREFIX}inject`;

/** Annotations a pod asks with (also the keys of `webhook.injection.namespaceDefaults`). */
export const ANNOTATIONS = {
  gpu: 'gpu',
  gpuProfile: 'gpu-profile',
  gpuMemory: 'gpu-memory',
  gpuMps: 'gpu-mps',
  gpuContainer: 'gpu-container',
  cvmfsRepositories: 'cvmfs-repositories',
  auth: 'auth',
} as const;

/** The GPU annotations, which exclude one another (a pod sets at most one): the GPU asks of the shared core, by the same names. */
export const GPU_REQUEST_ANNOTATIONS = GPU_ASKS;

/** Set by the webhook: what it injected, so a second pass (reinvocation) changes nothing. */
export const STATUS_ANNOTATION = `${PREFIX}injected`;

/** The kubelet's mark on static (mirror) pods, which the API server will not let us change. */
export const MIRROR_ANNOTATION = 'kubernetes.io/config.mirror';

/** kubectl's choice of a pod's main container. */
export const DEFAULT_CONTAINER_ANNOTATION = 'kubectl.kubernetes.io/default-container';

/** The names of ANNOTATIONS, for lookups and "did you mean" hints. */
export const ANNOTATION_NAMES: readonly string[] = Object.values(ANNOTATIONS);
