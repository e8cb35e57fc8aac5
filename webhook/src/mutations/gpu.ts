/**
 * GPUs: a pod asks for a MIG profile, an amount of GPU memory, MPS shares or whole GPUs; the
 * webhook writes the resource the cluster's nodes actually offer for it (its name depends on
 * each node's MIG and sharing strategy), into one container's requests and limits, with the
 * node affinity that keeps the pod where that resource means what was asked. The choice is made
 * among the nodes the pod's own nodeName, nodeSelector and node affinity allow. A request that
 * cannot be satisfied there is refused, saying what is available, instead of a pod Pending
 * forever; so is one that no node could give alongside another container's nvidia.com/gpu.
 */
import { ANNOTATIONS, DEFAULT_CONTAINER_ANNOTATION, PREFIX } from '../annotations.ts';
import { clip, few, quote } from '#core/text/quote.ts';
import { readNodeConstraints } from '#core/gpu/node-constraints.ts';
import { GPU, type DescribedNode } from '#core/gpu/node-gpus.ts';
import { resolveGpuRequestCached } from '#core/gpu/resolve-cached.ts';
import { type MatchExpression, type Resolution } from '#core/gpu/resolve.ts';
import { parseGpuAnnotations } from './gpu-annotations.ts';
import { nothing, type MutablePod, type Mutation, type MutationContext, type MutationResult } from './context.ts';

export const gpuMutation: Mutation = { name: 'gpu', apply: injectGpu };

/** The node constraints are read from the request's own pod spec (ctx.original), which the copy does not carry. */
function injectGpu(pod: MutablePod, ctx: MutationContext): MutationResult {
  const parsed = parseGpuAnnotations(ctx.asks);
  if (parsed.error) return { ...nothing, denied: parsed.error };
  if (!parsed.request) return nothing;

  const container = targetContainer(pod, ctx);
  if (typeof container === 'string') return { ...nothing, denied: container };
  const limits: Record<string, unknown> = container.resources?.limits ?? {};
  const existing = Object.keys(limits).filter((name) => name.startsWith('nvidia.com/'));
  // Per-item check: a container that already has an NVIDIA resource keeps it (ours or its author's).
  if (existing.length) return { injected: true, warnings: [`container ${clip(container.name)} already requests ${few(existing, 2)}; left as is`] };

  const { constraints, error } = readNodeConstraints(ctx.original.spec);
  if (error) return { ...nothing, denied: `malformed pod: ${error}` };
  const listed = ctx.gpuNodes();
  // Before the first list, "no node offers this" would be wrong: say so, and the pod's
  // controller (or its author) tries again.
  if (!listed) return { ...nothing, denied: NOT_READY };
  const resolved = resolveGpuRequestCached(parsed.request, listed, constraints);
  if (!resolved.ok) return { ...nothing, denied: resolved.message };
  const clash = clashingGpu(pod, container, resolved);
  if (clash) return { ...nothing, denied: clash };
  container.resources ??= {};
  container.resources.limits = { ...container.resources.limits, ...resolved.resources };
  container.resources.requests = { ...container.resources.requests, ...resolved.resources };
  if (resolved.nodeAffinity?.length) requireNodeExpressions(pod, resolved.nodeAffinity);
  return { injected: true, warnings: [`GPU for container ${clip(container.name)}: ${resolved.description}`] };
}

export const NOT_READY =
  "GPUs: the webhook is not ready yet (it has not listed the cluster's nodes, so it cannot tell what they offer); create the pod again in a few seconds";

/** The container named by `gpu-container`, else kubectl's default container, else the first. */
function targetContainer(pod: Record<string, any>, ctx: MutationContext): Record<string, any> | string {
  const containers: Record<string, any>[] = Array.isArray(pod.spec?.containers) ? pod.spec.containers : [];
  const wanted = ctx.asks[ANNOTATIONS.gpuContainer] ?? pod.metadata?.annotations?.[DEFAULT_CONTAINER_ANNOTATION];
  if (!wanted) return containers[0] ?? 'the pod has no containers to give a GPU to';
  const found = containers.find((c) => c?.name === wanted);
  return found ?? `annotation ${PREFIX}${ANNOTATIONS.gpuContainer} names container ${quote(wanted)}, but the pod has: ${few(containers.map((c) => c?.name), 5)}`;
}

/**
 * nvidia.com/gpu is a whole GPU, a MIG slice (single strategy) or an MPS share depending on the
 * node, so a pod where another container (init containers included) holds it cannot also get
 * a slice or a share: no node gives one pod both, and it would stay Pending.
 */
function clashingGpu(pod: Record<string, any>, target: Record<string, any>, resolved: Extract<Resolution, { ok: true }>): string | undefined {
  if (resolved.gives === 'whole') return undefined;
  const others = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].filter((c) => c !== target);
  const holder = others.find((c) => c?.resources?.limits?.[GPU] !== undefined || c?.resources?.requests?.[GPU] !== undefined);
  if (!holder) return undefined;
  const what = resolved.gives === 'mig' ? 'MIG slice' : 'MPS share';
  return (
    `container ${clip(holder.name)} already requests ${GPU}; a pod cannot also get a ${what} (${Object.keys(resolved.resources).join(', ')}): ` +
    `${GPU} means a whole GPU, a MIG slice or an MPS share depending on the node, and no node gives one pod two of these; ask for the pod's GPU in one container`
  );
}

/**
 * Adds expressions to every required node-selector term (terms are ORed, expressions ANDed, so
 * each term must carry them), or makes the first term. An expression already there is kept once.
 * An empty term matches no node, and is left so: with our expressions it would match some.
 */
function requireNodeExpressions(pod: Record<string, any>, expressions: readonly MatchExpression[]): void {
  const affinity = (pod.spec.affinity ??= {});
  const nodeAffinity = (affinity.nodeAffinity ??= {});
  const required = (nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution ??= { nodeSelectorTerms: [] });
  required.nodeSelectorTerms ??= [];
  if (required.nodeSelectorTerms.length === 0) required.nodeSelectorTerms.push({});
  for (const term of required.nodeSelectorTerms) {
    if (required.nodeSelectorTerms.length > 1 && !term?.matchExpressions?.length && !term?.matchFields?.length) continue;
    term.matchExpressions ??= [];
    for (const expression of expressions) {
      const same = term.matchExpressions.some((e: any) => JSON.stringify(e) === JSON.stringify(expression));
      // A copy: the expression belongs to a remembered, frozen resolution, and V8's fast
      // JSON.stringify gives up on frozen objects (the whole patch then takes twice as long).
      if (!same) term.matchExpressions.push(expression.values ? { ...expression, values: [...expression.values] } : { ...expression });
    }
  }
}
