/**
 * What a pod asks for: its annotations under our prefix, over its namespace's defaults, without
 * the prefix; and a warning for each annotation under our prefix that we do not read (a typo
 * would otherwise be silently ignored), with the closest name we do read.
 */
import { closestName } from '#core/validate/closest-name.ts';
import { ANNOTATION_NAMES, ANNOTATIONS, GPU_REQUEST_ANNOTATIONS, INJECT_LABEL, PREFIX, STATUS_ANNOTATION } from '../annotations.ts';
import { clip } from '#core/text/quote.ts';
import type { WebhookConfig } from '../config.ts';

export interface PodAsks {
  asks: Record<string, string>;
  /** One per unknown annotation under our prefix, at most UNKNOWN_SHOWN and then a count. */
  warnings: string[];
}

/** The GPU requests exclude each other: a pod's choice replaces the namespace's default as a whole. */
const GPU_REQUESTS: ReadonlySet<string> = new Set(GPU_REQUEST_ANNOTATIONS);
/** What a pod's own GPU request replaces of the namespace's defaults: the request, and where it goes. */
const GPU_DEFAULTS: ReadonlySet<string> = new Set([...GPU_REQUEST_ANNOTATIONS, ANNOTATIONS.gpuContainer]);
const KNOWN: ReadonlySet<string> = new Set(ANNOTATION_NAMES);
const UNKNOWN_SHOWN = 3;

/**
 * A pod turns a default off with `gpu: none` or `cvmfs-repositories: none` (and `auth:
 * disabled`). `gpu: none` beside another GPU request is kept, for the GPU mutation to refuse:
 * which one was meant? A pod that sets a GPU request of its own drops the namespace's
 * `gpu-container` with the namespace's request; one that sets only `gpu-container` places the
 * namespace's request there.
 */
export function readAsks(pod: Record<string, any>, config: WebhookConfig, namespace: string): PodAsks {
  const own: Record<string, string> = {};
  let podChoosesGpu = false;
  let unknown: string[] | undefined;
  const annotations = pod.metadata?.annotations;
  for (const key in annotations) {
    if (!Object.hasOwn(annotations, key) || !key.startsWith(PREFIX) || key === STATUS_ANNOTATION) continue;
    const value = annotations[key];
    if (typeof value !== 'string') continue;
    const name = key.slice(PREFIX.length);
    if (!KNOWN.has(name)) {
      (unknown ??= []).push(name);
      continue;
    }
    own[name] = value;
    if (GPU_REQUESTS.has(name)) podChoosesGpu = true;
  }
  const asks: Record<string, string> = {};
  const defaults = config.values.injection.namespaceDefaults?.[namespace];
  for (const key in defaults) {
    const value = defaults[key];
    if (typeof value === 'string' && !(podChoosesGpu && GPU_DEFAULTS.has(key))) asks[key] = value;
  }
  Object.assign(asks, own);
  if (asks[ANNOTATIONS.gpu] === 'none' && GPU_REQUEST_ANNOTATIONS.every((key) => key === ANNOTATIONS.gpu || asks[key] === undefined)) {
    for (const key of GPU_DEFAULTS) delete asks[key];
  }
  if (asks[ANNOTATIONS.cvmfsRepositories] === 'none') delete asks[ANNOTATIONS.cvmfsRepositories];
  if (asks[ANNOTATIONS.auth] === 'disabled') delete asks[ANNOTATIONS.auth];
  return { asks, warnings: unknown ? unknownWarnings(unknown) : [] };
}

function unknownWarnings(names: string[]): string[] {
  const warnings = names.slice(0, UNKNOWN_SHOWN).map((name) => {
    const key = `${PREFIX}${clip(name, 40)}`;
    if (`${PREFIX}${name}` === INJECT_LABEL) return `${key}: a label, not an annotation; set it in metadata.labels`;
    const closest = closestName(name, ANNOTATION_NAMES);
    return `${key}: unknown annotation, ignored (${closest ? `did you mean ${closest}?` : `known: ${ANNOTATION_NAMES.join(', ')}`})`;
  });
  if (names.length > UNKNOWN_SHOWN) warnings.push(`and ${names.length - UNKNOWN_SHOWN} more unknown annotations under ${PREFIX}`);
  return warnings;
}
