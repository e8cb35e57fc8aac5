/** What every mutation gets, and what it gives back. Mutations change `pod` (a copy) in place. */
import type { WebhookConfig } from '../config.ts';

export interface MutationContext {
  namespace: string;
  /** The pod's requests: its annotations under our prefix, over the namespace defaults, prefix removed. */
  asks: Record<string, string>;
  config: WebhookConfig;
  /** The request's own pod, to read what the copy does not carry (hostNetwork, say); never written. */
  original: Record<string, any>;
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
