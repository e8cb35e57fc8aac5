/**
 * One signature for every mutation: a Mutation gets the pod's writable copy (typed as the API's
 * V1Pod) and the context, and says what it did. mutate-pod.ts runs the list in ./index.ts in
 * order, so adding the next mutation is one file and one line there.
 */
import type { V1ObjectMeta, V1Pod, V1PodSpec } from '@kubernetes/client-node';
import type { DescribedNode } from '#core/gpu/node-gpus.ts';
import type { WebhookConfig } from '../config.ts';

/** The copy of the pod the mutations change in place: the parts they may write (mutate-pod.ts). */
export type MutablePod = V1Pod & { metadata: V1ObjectMeta; spec: V1PodSpec };

/** Whether a PersistentVolumeClaim exists (the CVMFS claim), in the pod's namespace. */
export type ClaimLookup = (namespace: string, name: string) => Promise<boolean>;

export interface MutationContext {
  namespace: string;
  /** The pod's requests: its annotations under our prefix, over the namespace defaults, prefix removed. */
  asks: Record<string, string>;
  config: WebhookConfig;
  /** The request's own pod, to read what the copy does not carry (hostNetwork, the scheduling constraints); never written. */
  original: V1Pod;
  /** The cluster's GPU nodes, undefined until the webhook has listed them once (asked only when needed). */
  gpuNodes: () => DescribedNode[] | undefined;
  claimExists: ClaimLookup;
}

export interface MutationResult {
  /** True when this mutation changed the pod (or found its work already done). */
  injected: boolean;
  /** Shown by kubectl: what was injected, or why not. */
  warnings: string[];
  /** Set when the pod must be refused; the message says what is wrong and what is available. */
  denied?: string;
}

export interface Mutation {
  /** Recorded in the pod's status annotation when it injected something. */
  name: string;
  apply(pod: MutablePod, ctx: MutationContext): MutationResult | Promise<MutationResult>;
}

export const nothing: MutationResult = { injected: false, warnings: [] };
