/**
 * GPUs: a pod asks for a MIG profile, an amount of GPU memory, MPS shares or whole GPUs; the
 * webhook writes the resource the cluster's nodes actually offer for it (its name depends on
 * each node's MIG and sharing strategy), into one container's requests and limits, with the
 * node affinity that keeps the pod where that resource means what was asked. A request nothing
 * can satisfy is refused, saying what is available, instead of a pod Pending forever.
 */
import { ANNOTATIONS, DEFAULT_CONTAINER_ANNOTATION, PREFIX } from '../annotations.ts';
import { resolveGpuRequestCached } from '../gpu/resolve-cached.ts';
import { parseGpuAnnotations, type MatchExpression } from '../gpu/resolve.ts';
import type { DescribedNode } from '../gpu/node-gpus.ts';
import { nothing, type MutationContext, type MutationResult } from './context.ts';

export function injectGpu(pod: Record<string, any>, ctx: MutationContext, nodes: DescribedNode[]): MutationResult {
  const parsed = parseGpuAnnotations(ctx.asks);
  if (parsed.error) return { ...nothing, denied: parsed.error };
  if (!parsed.request) return nothing;

  const container = targetContainer(pod, ctx);
  if (typeof container === 'string') return { ...nothing, denied: container };
  const limits: Record<string, unknown> = container.resources?.limits ?? {};
  const existing = Object.keys(limits).filter((name) => name.startsWith('nvidia.com/'));
  // Per-item check: a container that already has an NVIDIA resource keeps it (ours or its author's).
  if (existing.length) return { injected: true, warnings: [`container ${container.name} already requests ${existing.join(', ')}; left as is`] };

  const resolved = resolveGpuRequestCached(parsed.request, nodes);
  if (!resolved.ok) return { ...nothing, denied: resolved.message };
  container.resources ??= {};
  container.resources.limits = { ...container.resources.limits, ...resolved.resources };
  container.resources.requests = { ...container.resources.requests, ...resolved.resources };
  if (resolved.nodeAffinity?.length) requireNodeExpressions(pod, resolved.nodeAffinity);
  return { injected: true, warnings: [`GPU for container ${container.name}: ${resolved.description}`] };
}

/** The container named by `gpu-container`, else kubectl's default container, else the first. */
function targetContainer(pod: Record<string, any>, ctx: MutationContext): Record<string, any> | string {
  const containers: Record<string, any>[] = Array.isArray(pod.spec?.containers) ? pod.spec.containers : [];
  const wanted = ctx.asks[ANNOTATIONS.gpuContainer] ?? pod.metadata?.annotations?.[DEFAULT_CONTAINER_ANNOTATION];
  if (!wanted) return containers[0] ?? 'the pod has no containers to give a GPU to';
  const found = containers.find((c) => c?.name === wanted);
  return found ?? `annotation ${PREFIX}${ANNOTATIONS.gpuContainer} names container "${wanted}", but the pod has: ${containers.map((c) => c?.name).join(', ')}`;
}

/**
 * Adds expressions to every required node-selector term (terms are ORed, expressions ANDed, so
 * each term must carry them), or makes the first term. An expression already there is kept once.
 */
function requireNodeExpressions(pod: Record<string, any>, expressions: readonly MatchExpression[]): void {
  const affinity = (pod.spec.affinity ??= {});
  const nodeAffinity = (affinity.nodeAffinity ??= {});
  const required = (nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution ??= { nodeSelectorTerms: [] });
  required.nodeSelectorTerms ??= [];
  if (required.nodeSelectorTerms.length === 0) required.nodeSelectorTerms.push({});
  for (const term of required.nodeSelectorTerms) {
    term.matchExpressions ??= [];
    for (const expression of expressions) {
      const same = term.matchExpressions.some((e: any) => JSON.stringify(e) === JSON.stringify(expression));
      // A copy: the expression belongs to a remembered, frozen resolution, and V8's fast
      // JSON.stringify gives up on frozen objects (the whole patch then takes twice as long).
      if (!same) term.matchExpressions.push(expression.values ? { ...expression, values: [...expression.values] } : { ...expression });
    }
  }
}
