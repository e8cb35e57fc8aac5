/**
 * A GPU ask resolved among the nodes the pod's own nodeName, nodeSelector and required node
 * affinity allow (node-constraints.ts), so that the resource and affinity written fit a node
 * the pod can reach. When its constraints leave out every node that could satisfy the ask, the
 * pod is refused with the constraint named, rather than created to stay Pending.
 */
import type { DescribedNode } from './node-gpus.ts';
import type { NodeConstraints } from './node-constraints.ts';
import { available, resolveGpuRequest, type GpuRequest, type Resolution } from './resolve.ts';

/** `anywhere`: the same ask resolved among all nodes (remembered by the caller). */
export function resolveAmongAllowed(request: GpuRequest, nodes: readonly DescribedNode[], constraints: NodeConstraints, anywhere: Resolution): Resolution {
  // Nothing in the cluster satisfies it: that answer says more than the constraint would.
  if (!anywhere.ok) return anywhere;
  const allowed = nodes.filter((node) => constraints.matches(node));
  if (allowed.length === nodes.length) return anywhere;
  if (allowed.length === 0) {
    return { ok: false, message: `the pod's ${constraints.description} matches no node with GPUs; available elsewhere: ${available(nodes)}` };
  }
  const within = resolveGpuRequest(request, allowed);
  if (within.ok) return within;
  return { ok: false, message: `the pod's ${constraints.description} leaves out every node that offers this; on the nodes it allows: ${within.message}` };
}
