/**
 * What the dispatcher holds at once, so no client can exhaust it: requests in progress across
 * all models (maxInFlight), and requests waiting for one model's cold start (maxQueuedPerModel).
 * Beyond either, the request is refused at once with 503 and Retry-After, never left to pile up.
 */
import { DispatchError } from './errors.ts';

export interface Limits {
  maxInFlight: number;
  maxQueuedPerModel: number;
}

export class RequestLimits {
  private inFlight = 0;
  private readonly waiting = new Map<string, number>();
  private readonly limits: () => Limits;

  /** `limits` is read on every request: a reloaded configuration applies at once. */
  constructor(limits: () => Limits) {
    this.limits = limits;
  }

  /** Takes an in-flight slot; the returned release must be called exactly once (extra calls are ignored). */
  enter(): () => void {
    if (this.inFlight >= this.limits().maxInFlight) {
      throw new DispatchError(503, `the dispatcher is at its limit of ${this.limits().maxInFlight} requests in progress`, 1);
    }
    this.inFlight++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inFlight--;
    };
  }

  /** Waits for a model's cold start in the model's queue; refused when the queue is full. */
  async queued<T>(model: string, wait: () => Promise<T>): Promise<T> {
    const depth = this.waiting.get(model) ?? 0;
    if (depth >= this.limits().maxQueuedPerModel) {
      throw new DispatchError(503, `${depth} requests already wait for ${model} to start (dispatcher.limits.maxQueuedPerModel)`, 10);
    }
    this.waiting.set(model, depth + 1);
    try {
      return await wait();
    } finally {
      const left = (this.waiting.get(model) ?? 1) - 1;
      if (left > 0) this.waiting.set(model, left);
      else this.waiting.delete(model);
    }
  }

  status(): { inFlight: number; queued: Record<string, number> } {
    return { inFlight: this.inFlight, queued: Object.fromEntries(this.waiting) };
  }
}
