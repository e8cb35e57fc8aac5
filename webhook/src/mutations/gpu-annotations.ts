/**
 * A pod's GPU annotations, read into one GPU request of the shared core (#core/gpu/resolve.ts).
 */
import { parseGpuValue, type GpuRequest } from '#core/gpu/resolve.ts';
import { GPU_REQUEST_ANNOTATIONS, PREFIX } from '../annotations.ts';

/**
 * Reads a pod's GPU request from its asks (our annotations without the prefix, over the
 * namespace defaults); none set is `{}`, a bad or ambiguous set is `{ error }`, which names
 * the annotations in full.
 */
export function parseGpuAnnotations(asks: Record<string, string> | undefined): { request?: GpuRequest; error?: string } {
  const set = GPU_REQUEST_ANNOTATIONS.filter((name) => typeof asks?.[name] === 'string');
  if (set.length === 0) return {};
  if (set.length > 1) {
    if (asks!.gpu === 'none') {
      const others = set.filter((name) => name !== 'gpu').map((name) => PREFIX + name);
      return { error: `${PREFIX}gpu: none asks for no GPU, but the pod also sets ${others.join(' and ')}; set one or the other` };
    }
    return { error: `set only one GPU annotation; found ${set.map((name) => PREFIX + name).join(' and ')}` };
  }
  const name = set[0]!;
  const parsed = parseGpuValue(name, asks![name]!);
  return 'problem' in parsed ? { error: `${PREFIX}${name}: ${parsed.problem}` } : parsed;
}

