/**
 * The names users write: one namespace label to switch the webhook on, one pod label to opt
 * out, and pod annotations under one prefix (documented in docs/webhook.md).
 */
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

/** The GPU annotations, which exclude one another (a pod sets at most one). */
export const GPU_REQUEST_ANNOTATIONS = [ANNOTATIONS.gpuProfile, ANNOTATIONS.gpuMemory, ANNOTATIONS.gpuMps, ANNOTATIONS.gpu] as const;

/** Set by the webhook: what it injected, so a second pass (reinvocation) changes nothing. */
export const STATUS_ANNOTATION = `${PREFIX}injected`;

/** The kubelet's mark on static (mirror) pods, which the API server will not let us change. */
export const MIRROR_ANNOTATION = 'kubernetes.io/config.mirror';

/** kubectl's choice of a pod's main container. */
export const DEFAULT_CONTAINER_ANNOTATION = 'kubectl.kubernetes.io/default-container';

/** The names of ANNOTATIONS, for lookups and "did you mean" hints. */
export const ANNOTATION_NAMES: readonly string[] = Object.values(ANNOTATIONS);

// Quoting users back. A pod's annotations and names reach the webhook before the API server
// validates their length, so what a message or warning repeats of them is cut short: a pod
// cannot make an answer (or the log line that records it) megabytes long.

/** How much of a user's value a message repeats. */
export const ECHO_LIMIT = 64;

/** `value` as text, cut to `limit` characters and an ellipsis when longer (never inside a surrogate pair). */
export function clip(value: unknown, limit = ECHO_LIMIT): string {
  const text = typeof value === 'string' ? value : String(value);
  if (text.length <= limit) return text;
  const end = /[\uD800-\uDBFF]/.test(text[limit - 1]!) ? limit - 1 : limit;
  return `${text.slice(0, end)}…`;
}

/** A user's value as messages quote it: JSON-quoted, cut to ECHO_LIMIT characters. */
export function quote(value: unknown): string {
  return JSON.stringify(clip(value));
}

/** Up to `shown` items, each cut short, then how many more: "a, b, c and 7 more". */
export function few(items: readonly unknown[], shown = 3): string {
  const listed = items.slice(0, shown).map((item) => clip(item)).join(', ');
  return items.length > shown ? `${listed} and ${items.length - shown} more` : listed;
}

