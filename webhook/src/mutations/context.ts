/** What every mutation gets, and what it gives back. Mutations change `pod` (a copy) in place. */
import type { WebhookConfig } from '../config.ts';

export interface MutationContext {
  namespace: string;
  /** The pod's requests: its annotations under our prefix, over the namespace defaults, prefix removed. */
  asks: Record<string, string>;
  config: WebhookConfig;
}

export interface MutationResult {
  /** True when this mutation changed the pod (or found its work already done). */
  injected: boolean;
  /** Shown by kubectl: what was injected, or why not. */
  warnings: string[];
  /** Set when the pod must be refused; the message says what is wrong and what is available. */
  denied?: string;
}

export const nothing: MutationResult = { injected: false, warnings: [] };

/** The containers a mutation applies to by default: the pod's own, not sidecars we added. */
export function appContainers(pod: Record<string, any>): Record<string, any>[] {
  return Array.isArray(pod.spec?.containers) ? pod.spec.containers : [];
}
