/**
 * One admission request for a pod, start to end: decide whether to act, run the mutations on a
 * copy, and turn the difference into a JSON Patch. Idempotent: a second pass over a mutated pod
 * (reinvocationPolicy: IfNeeded) yields no patch, thanks to the per-item checks in each
 * mutation and the status annotation.
 */
import fastJsonPatch, { type Operation } from 'fast-json-patch';
import { INJECT_LABEL, MIRROR_ANNOTATION, PREFIX, STATUS_ANNOTATION } from '../annotations.ts';
import type { WebhookConfig } from '../config.ts';
import type { DescribedNode } from '../gpu/node-gpus.ts';
import { injectAuthSidecar } from '../mutations/auth-sidecar.ts';
import { injectCvmfs, type ClaimLookup } from '../mutations/cvmfs.ts';
import { injectGpu } from '../mutations/gpu.ts';
import type { MutationContext, MutationResult } from '../mutations/context.ts';
import type { AdmissionRequest } from './review.ts';

export interface PodMutationDeps {
  config: WebhookConfig;
  /** The webhook's own namespace, never mutated. */
  ownNamespace: string;
  gpuNodes: () => DescribedNode[];
  claimExists: ClaimLookup;
}

export type Outcome =
  | { kind: 'skipped'; reason: string }
  | { kind: 'denied'; message: string }
  | { kind: 'mutated'; patch: Operation[]; warnings: string[]; injected: string[] };

const NEVER_MUTATED = new Set(['kube-system', 'kube-public', 'kube-node-lease']);

export async function mutatePod(request: AdmissionRequest, deps: PodMutationDeps): Promise<Outcome> {
  const skip = skipReason(request, deps);
  if (skip) return { kind: 'skipped', reason: skip };
  const original = request.object as Record<string, any>;
  const namespace = request.namespace ?? original.metadata?.namespace ?? '';
  const asks = podAsks(original, deps.config, namespace);
  if (Object.keys(asks).length === 0) return { kind: 'skipped', reason: 'not-requested' };

  // managedFields can be large and are never ours to change: leave them out of the diff.
  const { managedFields: _, ...metadata } = original.metadata ?? {};
  const before: Record<string, any> = { ...original, metadata };
  const pod: Record<string, any> = structuredClone(before);
  pod.spec ??= {};
  const ctx: MutationContext = { namespace, asks, config: deps.config };

  const results: [string, MutationResult][] = [
    ['gpu', injectGpu(pod, ctx, deps.gpuNodes())],
    ['cvmfs', await injectCvmfs(pod, ctx, deps.claimExists)],
    ['auth', injectAuthSidecar(pod, ctx)],
  ];
  const denials = results.filter(([, r]) => r.denied).map(([, r]) => r.denied!);
  if (denials.length) return { kind: 'denied', message: denials.join('; ') };

  const injected = results.filter(([, r]) => r.injected).map(([name]) => name);
  markInjected(pod, injected);
  return { kind: 'mutated', patch: fastJsonPatch.compare(before, pod), warnings: results.flatMap(([, r]) => r.warnings), injected };
}

function skipReason(request: AdmissionRequest, deps: PodMutationDeps): string | undefined {
  if (request.kind?.kind !== 'Pod' || request.kind.group !== '' || request.subResource) return 'not-a-pod';
  if (request.operation !== 'CREATE') return 'operation';
  const pod = request.object;
  if (!pod || typeof pod !== 'object' || typeof pod.spec !== 'object' || pod.spec === null) return 'no-pod-object';
  const namespace = request.namespace ?? pod.metadata?.namespace;
  if (namespace === deps.ownNamespace || NEVER_MUTATED.has(namespace)) return 'system-namespace';
  if (pod.metadata?.annotations?.[MIRROR_ANNOTATION] !== undefined) return 'mirror-pod';
  if (pod.metadata?.labels?.[INJECT_LABEL] === 'disabled') return 'opted-out';
  return undefined;
}

/** Our annotations on the pod, over the namespace's defaults, without the prefix. */
function podAsks(pod: Record<string, any>, config: WebhookConfig, namespace: string): Record<string, string> {
  const asks: Record<string, string> = {};
  for (const [key, value] of Object.entries(config.values.injection.namespaceDefaults?.[namespace] ?? {})) {
    if (typeof value === 'string') asks[key] = value;
  }
  for (const [key, value] of Object.entries(pod.metadata?.annotations ?? {})) {
    if (key.startsWith(PREFIX) && key !== STATUS_ANNOTATION && typeof value === 'string') asks[key.slice(PREFIX.length)] = value;
  }
  return asks;
}

/** The status annotation lists everything ever injected, so repeated passes converge. */
function markInjected(pod: Record<string, any>, injected: string[]): void {
  if (injected.length === 0) return;
  const annotations = (pod.metadata.annotations ??= {});
  const previous = String(annotations[STATUS_ANNOTATION] ?? '').split(',').filter(Boolean);
  annotations[STATUS_ANNOTATION] = [...new Set([...previous, ...injected])].sort().join(',');
}
