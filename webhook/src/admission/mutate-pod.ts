/**
 * One admission request for a pod, start to end: decide whether to act, run the mutations on a
 * copy, and turn the difference into a JSON Patch. Idempotent: a second pass over a mutated pod
 * (reinvocationPolicy: IfNeeded) yields no patch, thanks to the per-item checks in each
 * mutation and the status annotation.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { Operation } from 'fast-json-patch';
import { INJECT_LABEL, MIRROR_ANNOTATION, STATUS_ANNOTATION } from '../annotations.ts';
import { clip, few } from '#core/text/quote.ts';
import type { WebhookConfig } from '../config.ts';
import type { DescribedNode } from '#core/gpu/node-gpus.ts';
import { MUTATIONS } from '../mutations/index.ts';
import type { ClaimLookup, MutablePod, MutationContext, MutationResult } from '../mutations/context.ts';
import { patchBetween } from './json-patch.ts';
import { readAsks } from './pod-asks.ts';
import type { AdmissionRequest } from './review.ts';

export interface PodMutationDeps {
  config: WebhookConfig;
  /** The webhook's own namespace, never mutated. */
  ownNamespace: string;
  gpuNodes: () => DescribedNode[];
  /**
   * False until the cluster's nodes have been listed once (the server passes the inventory's
   * `ready()`): until then a GPU ask is refused as "not ready yet" rather than "no GPUs".
   * Absent: the nodes are taken as listed.
   */
  gpuNodesReady?: () => boolean;
  claimExists: ClaimLookup;
}

export type Outcome =
  /** warnings: for the pod's author even so (an annotation under our prefix that we do not read, say). */
  | { kind: 'skipped'; reason: string; warnings?: string[] }
  | { kind: 'denied'; message: string }
  | { kind: 'mutated'; patch: Operation[]; warnings: string[]; injected: string[] };

const NEVER_MUTATED = new Set(['kube-system', 'kube-public', 'kube-node-lease']);

export async function mutatePod(request: AdmissionRequest, deps: PodMutationDeps): Promise<Outcome> {
  const skip = skipReason(request, deps);
  if (skip) return { kind: 'skipped', reason: skip };
  const original = request.object as Record<string, any>;
  const namespace = request.namespace ?? original.metadata?.namespace ?? '';
  const { asks, warnings } = readAsks(original, deps.config, namespace);
  const asked = Object.keys(asks);
  if (asked.length === 0) return warnings.length ? { kind: 'skipped', reason: 'not-requested', warnings: shortWarnings(warnings) } : { kind: 'skipped', reason: 'not-requested' };
  const malformed = shapeProblem(original);
  if (malformed) return { kind: 'denied', message: `malformed pod: ${malformed}` };
  const windows = windowsPod(original.spec);
  if (windows) {
    return {
      kind: 'denied',
      message:
        `this is a Windows pod (${windows}); GPUs, CVMFS and the auth sidecar are Linux-only: the pod asks for ${few(asked)} (by its annotations or its namespace's defaults); ` +
        `drop them, or opt the pod out with the label ${INJECT_LABEL}=disabled`,
    };
  }

  // Only the parts mutations may change are copied, and only as deep as they change them, so the
  // diff skips every subtree still shared with the request; everything else, managedFields
  // included, is never ours to change.
  const before = mutableParts(original);
  const pod = writableCopy(before);
  const ctx: MutationContext = {
    namespace,
    asks,
    config: deps.config,
    original: original as V1Pod,
    gpuNodes: () => (deps.gpuNodesReady && !deps.gpuNodesReady() ? undefined : deps.gpuNodes()),
    claimExists: deps.claimExists,
  };
  const results: [string, MutationResult][] = [];
  for (const mutation of MUTATIONS) results.push([mutation.name, await mutation.apply(pod as MutablePod, ctx)]);
  const denials = results.filter(([, r]) => r.denied).map(([, r]) => r.denied!);
  if (denials.length) return { kind: 'denied', message: denials.join('; ') };

  const injected = results.filter(([, r]) => r.injected).map(([name]) => name);
  markInjected(pod, injected);
  for (const [, result] of results) warnings.push(...result.warnings);
  return { kind: 'mutated', patch: patchBetween(before, pod), warnings: shortWarnings(warnings), injected };
}

/**
 * The API server may cut a warning over 256 characters and drops warnings past 4096 in all
 * (Kubernetes' admission webhook docs; they ask for 120 where possible, as most of ours are,
 * the names they repeat being cut to 64): so each is kept to 256, and past 4000 in all the
 * rest are counted instead.
 */
const WARNING_LIMIT = 255;
const WARNINGS_LIMIT = 4000;

function shortWarnings(warnings: string[]): string[] {
  let total = 0;
  for (let i = 0; i < warnings.length; i++) {
    const warning = clip(warnings[i], WARNING_LIMIT);
    if (total + warning.length > WARNINGS_LIMIT) return [...warnings.slice(0, i), `and ${warnings.length - i} more warnings`];
    warnings[i] = warning;
    total += warning.length;
  }
  return warnings;
}

/**
 * GPUs (NVIDIA's device plugin and container toolkit), CVMFS (a FUSE file system) and the
 * Envoy sidecar's image are Linux-only: a Windows pod given them would never start. A pod is
 * Windows by its `spec.os.name` or by a nodeSelector on `kubernetes.io/os`.
 */
function windowsPod(spec: Record<string, any>): string | undefined {
  if (spec.os?.name === 'windows') return 'spec.os.name: windows';
  if (spec.nodeSelector?.['kubernetes.io/os'] === 'windows') return 'nodeSelector kubernetes.io/os=windows';
  return undefined;
}

/**
 * The subtrees the mutations write, at their real paths, so a diff of two of these is a patch
 * for the whole pod: annotations, containers, init containers, volumes and affinity.
 */
function mutableParts(pod: Record<string, any>): Record<string, any> {
  const spec: Record<string, unknown> = { containers: pod.spec.containers };
  for (const field of ['initContainers', 'volumes', 'affinity']) {
    if (pod.spec[field] !== undefined) spec[field] = pod.spec[field];
  }
  const metadata: Record<string, unknown> = {};
  if (pod.metadata?.annotations !== undefined) metadata.annotations = pod.metadata.annotations;
  return { metadata, spec };
}

/**
 * A copy of `mutableParts` deep enough for what the mutations do (they push to these arrays,
 * replace resources maps, set annotations, extend affinity terms) and no deeper: copying whole
 * containers would double the work per pod.
 */
function writableCopy(parts: Record<string, any>): Record<string, any> {
  const { metadata, spec } = parts;
  const copy: Record<string, any> = {
    metadata: metadata.annotations ? { annotations: { ...metadata.annotations } } : {},
    spec: { containers: spec.containers.map(writableContainer) },
  };
  // Init containers get CVMFS mounts too (and the auth sidecar joins them); not resources.
  if (spec.initContainers) copy.spec.initContainers = spec.initContainers.map(writableContainer);
  if (spec.volumes) copy.spec.volumes = [...spec.volumes];
  if (spec.affinity) copy.spec.affinity = JSON.parse(JSON.stringify(spec.affinity));
  return copy;
}

function writableContainer(container: Record<string, any>): Record<string, any> {
  return {
    ...container,
    ...(container.volumeMounts ? { volumeMounts: [...container.volumeMounts] } : {}),
    ...(container.resources ? { resources: { ...container.resources } } : {}),
  };
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

/**
 * The parts of a pod the mutations change must have the types the API defines; the API server
 * would refuse such a pod anyway, and the mutations can then rely on them.
 */
function shapeProblem(pod: Record<string, any>): string | undefined {
  const spec = pod.spec;
  if (!Array.isArray(spec.containers)) return 'spec.containers is not a list';
  for (const field of ['volumes', 'initContainers'] as const) {
    if (spec[field] !== undefined && !Array.isArray(spec[field])) return `spec.${field} is not a list`;
  }
  if (spec.affinity !== undefined && !isMap(spec.affinity)) return 'spec.affinity is not an object';
  if (pod.metadata?.annotations !== undefined && !isMap(pod.metadata.annotations)) return 'metadata.annotations is not an object';
  for (const [i, container] of (spec.initContainers ?? []).entries()) {
    if (!isMap(container)) return `spec.initContainers[${i}] is not an object`;
    if (container.volumeMounts !== undefined && !Array.isArray(container.volumeMounts)) return `spec.initContainers[${i}].volumeMounts is not a list`;
  }
  for (const [i, container] of spec.containers.entries()) {
    if (!isMap(container)) return `spec.containers[${i}] is not an object`;
    if (container.volumeMounts !== undefined && !Array.isArray(container.volumeMounts)) return `spec.containers[${i}].volumeMounts is not a list`;
    if (container.resources !== undefined && !isMap(container.resources)) return `spec.containers[${i}].resources is not an object`;
    for (const kind of ['limits', 'requests']) {
      const value = container.resources?.[kind];
      if (value !== undefined && !isMap(value)) return `spec.containers[${i}].resources.${kind} is not an object`;
    }
  }
  return undefined;
}

function isMap(value: unknown): boolean {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** The status annotation lists everything ever injected, so repeated passes converge. */
function markInjected(pod: Record<string, any>, injected: string[]): void {
  if (injected.length === 0) return;
  const annotations = (pod.metadata.annotations ??= {});
  const previous = annotations[STATUS_ANNOTATION];
  const all = typeof previous === 'string' && previous ? [...new Set([...previous.split(','), ...injected])] : injected;
  annotations[STATUS_ANNOTATION] = all.filter(Boolean).sort().join(',');
}
