/**
 * Idle clean-up: a model's Service and Secret are deleted once no dispatcher replica has sent it
 * a request for `idleMs` (the last-used annotation every replica writes, so one replica's quiet
 * is not taken for the model's). Scale to zero already freed the GPU; this frees the cluster of
 * models nobody uses any more. A model being created or waited for is never removed.
 */
import type { ModelServices } from './model-services.ts';

/** Removes the idle models; resolves with their Service names. idleMs 0 never removes. */
export async function sweepIdleModels(services: ModelServices, idleMs: number, now: number): Promise<string[]> {
  if (idleMs <= 0) return [];
  const removed: string[] = [];
  for (const state of services.states()) {
    if (state.deleting || state.lastUsed === undefined || now - state.lastUsed < idleMs || services.isPending(state.name)) continue;
    await services.remove(state.name, `${state.name}-env`);
    removed.push(state.name);
  }
  return removed;
}
