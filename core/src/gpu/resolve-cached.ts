/**
 * resolveGpuRequest, remembered for as long as the cluster's GPU nodes stay the same. The
 * inventory hands out one array until a node's GPUs change, and resolving walks every offer of
 * every node (a refusal also sums them all up), which on a cluster of thousands of nodes would
 * be the costliest step of every admission. Answers are frozen, so that no pod's mutation can
 * change them for the next pods; what a pod keeps of them is copied.
 *
 * A pod with node constraints of its own (node-constraints.ts) is answered among the nodes they
 * allow, so the constraints are part of the key: the pods of one Deployment share them, and so
 * share the answer.
 */
import { deepFreeze } from '../deep-freeze.ts';
import type { NodeConstraints } from './node-constraints.ts';
import type { DescribedNode } from './node-gpus.ts';
import { resolveAmongAllowed } from './resolve-constrained.ts';
import { resolveGpuRequest, type GpuRequest, type Resolution } from './resolve.ts';

/** Distinct requests per node snapshot; more (odd memory amounts, say) start the map afresh. */
export const MAX_REMEMBERED = 256;

const bySnapshot = new WeakMap<readonly DescribedNode[], Map<string, Resolution>>();

export function resolveGpuRequestCached(request: GpuRequest, nodes: readonly DescribedNode[], constraints?: NodeConstraints): Resolution {
  let remembered = bySnapshot.get(nodes);
  if (!remembered) bySnapshot.set(nodes, (remembered = new Map()));
  const key = constraints ? `${requestKey(request)} on ${constraints.key}` : requestKey(request);
  let resolution = remembered.get(key);
  if (!resolution) {
    resolution = deepFreeze(
      constraints ? resolveAmongAllowed(request, nodes, constraints, resolveGpuRequestCached(request, nodes)) : resolveGpuRequest(request, nodes),
    );
    if (remembered.size >= MAX_REMEMBERED) remembered.clear();
    remembered.set(key, resolution);
  }
  return resolution;
}

function requestKey(request: GpuRequest): string {
  switch (request.kind) {
    case 'profile':
      return `profile ${request.profile} ${request.count}`;
    case 'memory':
      return `memory ${request.bytes} ${request.count}`;
    default:
      return `${request.kind} ${request.count}`;
  }
}
