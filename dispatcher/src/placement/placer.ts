/**
 * Placement as the request path uses it: the model's memory need, the free shares of the
 * cluster right now (the node inventory of the shared core, minus the GPU pods' requests), and
 * the smallest that fits. A share chosen for a Service whose pod is not bound yet is reserved
 * here until the Service is Ready or has failed: two cold models arriving together must not be
 * given the same last slice.
 */
import type { NodeInventory } from '#core/gpu/inventory.ts';
import type { DispatcherValues } from '../config.ts';
import { DispatchError } from '../errors.ts';
import type { ChosenShare } from '../knative/service-spec.ts';
import { chooseShare } from './choose-share.ts';
import { freeShares, type FreeShare, type PodLike } from './free-shares.ts';
import type { GpuPods } from './gpu-pods.ts';
import { memoryNeed } from './memory-need.ts';

export interface PlacementSources {
  inventory: NodeInventory;
  pods: GpuPods;
  config: () => DispatcherValues;
}

export class Placer {
  private readonly reserved = new Map<string, PodLike>();
  private readonly sources: PlacementSources;

  constructor(sources: PlacementSources) {
    this.sources = sources;
  }

  /** The share for a model's new Service `name`, reserved until release(name); or a DispatchError (400 or 503). */
  place(name: string, modelId: string, requestedMemory?: string): ChosenShare & { node: string } {
    const { inventory, pods, config } = this.sources;
    if (!inventory.ready() || !pods.ready()) throw new DispatchError(503, 'the dispatcher is still reading the cluster\'s nodes and pods', 2);
    const values = config();
    // A quantity may be written as a number in the values (20e9); the estimate reads text.
    const models = Object.fromEntries(Object.entries(values.models ?? {}).map(([id, model]) => [id, model && { ...model, gpuMemory: model.gpuMemory === undefined ? undefined : String(model.gpuMemory) }]));
    const need = memoryNeed(modelId, { ...values, models }, requestedMemory);
    if (!need.ok) throw new DispatchError(400, need.message);
    const shares = freeShares(inventory.nodes(), [...pods.list(), ...this.reserved.values()], { mpsActiveThreadPercentage: values.mpsActiveThreadPercentage });
    // The Service names a resource, not a node (Knative refuses node selectors unless a site
    // enables them): the scheduler may put the pod on any node where that resource is free. So
    // only resources that fit the model on every such node are chosen; nvidia.com/gpu and
    // gpu.shared mean different sizes on different nodes, the mig-<profile> names never do.
    const safe = schedulerSafe(shares, need.bytes);
    let choice = chooseShare(need.bytes, shares.filter((share) => safe.has(share.resource)), { gpuResources: values.gpuResources });
    if (!choice.ok) {
      const anywhere = chooseShare(need.bytes, shares, { gpuResources: values.gpuResources });
      if (anywhere.ok) {
        const reason = `${anywhere.resource} on ${anywhere.node} would fit, but other nodes offer ${anywhere.resource} with less memory and the scheduler may choose any of them`;
        choice = { ...choice, message: `${choice.message}; ${reason}` };
      } else choice = anywhere;
    }
    if (!choice.ok) {
      // A share that fits but is in use may be free in half a minute; when none is large enough,
      // only the cluster (or the configuration) changing helps, so the client is told to wait long.
      throw new DispatchError(503, `${modelId} needs ${need.detail}: ${choice.message}`, choice.retryable ? 30 : 300);
    }
    this.reserved.set(name, {
      metadata: { name: `reserved-${name}` },
      spec: { nodeName: choice.node, containers: [{ resources: { requests: { [choice.resource]: '1' } } }] },
      status: { phase: 'Pending' },
    });
    return { node: choice.node, resource: choice.resource, env: { ...choice.env } as Record<string, string> };
  }

  /** The Service is Ready (its pod now counts among the GPU pods) or failed: the reservation ends. */
  release(name: string): void {
    this.reserved.delete(name);
  }
}

/** Resources whose every free share, on every node, holds at least `needBytes` (memory known). */
function schedulerSafe(shares: readonly FreeShare[], needBytes: number): Set<string> {
  const unsafe = new Set<string>();
  for (const share of shares) if (share.free > 0 && (share.memoryBytes === undefined || share.memoryBytes < needBytes)) unsafe.add(share.resource);
  return new Set(shares.map((share) => share.resource).filter((resource) => !unsafe.has(resource)));
}

