/**
 * The cluster's GPU nodes, kept current by listing and then watching /api/v1/nodes (the shared
 * list-watch loop, ../kube/list-watch.ts, which re-lists and re-watches with back-off). Only the
 * small DescribedNode of nodes that offer GPUs is kept, not the Node objects (whose images and
 * conditions run to tens of kB each), so memory stays flat on clusters with thousands of nodes.
 * A malformed node is counted and skipped; it never stops the loop.
 */
import { isDeepStrictEqual } from 'node:util';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { ListWatchLoop, type ListWatchOptions, type ListWatchStatus } from '../kube/list-watch.ts';
import { describeNode, type DescribedNode, type NodeLike } from './node-gpus.ts';

export interface InventoryOptions extends Pick<ListWatchOptions<NodeLike>, 'initialBackoffMs' | 'maxBackoffMs' | 'watchTimeoutSeconds' | 'pageSize' | 'onError'> {
  /**
   * How long the node view may go without a successful list while no watch runs before it is
   * stale (stale()): default 10 minutes, two full list/watch rounds at the default watch
   * timeout, so a healthy loop never gets near it, and the maximal back-off (30 s) many times over.
   */
  staleAfterMs?: number;
  /** The clock (ms since the epoch); tests move it. */
  now?: () => number;
}

/** What a node can give: a node offering several kinds is counted under each. */
export const OFFER_KINDS = ['mig', 'mps', 'whole', 'shared'] as const;
export type OfferKind = (typeof OFFER_KINDS)[number];

export interface InventoryStatus extends ListWatchStatus {
  /** Ready, but no list for longer than staleAfterMs and no watch running: see stale(). */
  stale: boolean;
  /** GPU nodes in the view, by what they give. */
  nodesByKind: Record<OfferKind, number>;
}

const NODES = '/api/v1/nodes';

export class NodeInventory {
  private readonly described = new Map<string, DescribedNode>();
  private snapshot: DescribedNode[] | undefined;
  private readonly options: InventoryOptions & { staleAfterMs: number; now: () => number };
  private loop: ListWatchLoop<NodeLike> | undefined;
  /** Set by fromNodes: a fixed view, ready without a loop. */
  private fixed = false;

  constructor(options: InventoryOptions = {}) {
    this.options = { staleAfterMs: 600_000, now: Date.now, ...options };
  }

  /** A fixed inventory, for tests and for tools that already hold the nodes. */
  static fromNodes(nodes: NodeLike[]): NodeInventory {
    const inventory = new NodeInventory();
    inventory.replaceAll(nodes);
    inventory.fixed = true;
    return inventory;
  }

  /** Starts the list/watch loop; resolves after the first successful list (or on stop()). */
  start(kubeConfig: KubeConfig): Promise<void> {
    if (!this.loop) {
      const api = kubeConfig.makeApiClient(CoreV1Api);
      this.loop = new ListWatchLoop<NodeLike>({
        ...this.options,
        path: NODES,
        list: (page) => api.listNode(page) as Promise<{ items: NodeLike[]; metadata?: { resourceVersion?: string; _continue?: string } }>,
        onList: (nodes) => this.replaceAll(nodes),
        onEvent: (type, node) => (type === 'DELETED' ? this.remove(node.metadata!.name!) : this.upsert(node)),
      });
    }
    return this.loop.start(kubeConfig);
  }

  stop(): void {
    this.loop?.stop();
  }

  /** True once the first list has arrived: before that, "no GPUs" would be a lie. */
  ready(): boolean {
    return this.fixed || (this.loop?.status().ready ?? false);
  }

  nodes(): DescribedNode[] {
    this.snapshot ??= [...this.described.values()];
    return this.snapshot;
  }

  /**
   * True when the view may be out of date by more than staleAfterMs: no list has succeeded for
   * that long and no watch is running to keep it current. A fixed inventory (fromNodes) never is.
   * Before the first list it is not "stale" but not ready().
   */
  stale(): boolean {
    const loop = this.loop?.status();
    if (!loop?.ready || loop.lastListAt === undefined || loop.watching) return false;
    return this.options.now() - loop.lastListAt > this.options.staleAfterMs;
  }

  status(): InventoryStatus {
    const nodesByKind: Record<OfferKind, number> = { mig: 0, mps: 0, whole: 0, shared: 0 };
    for (const node of this.nodes()) for (const kind of new Set(node.offers.map((offer) => offer.kind))) nodesByKind[kind]++;
    const loop: ListWatchStatus = this.loop?.status() ?? { ready: false, watching: false, lists: 0, events: 0, errors: 0, failures: 0, lastListAt: undefined };
    return { ...loop, ready: this.ready(), stale: this.stale(), nodesByKind };
  }

  /**
   * The listed nodes become the inventory, node by node, so that a re-list (each time a watch
   * ends, every few minutes) that finds what was there changes nothing, and the snapshot stays.
   */
  private replaceAll(nodes: NodeLike[]): void {
    const listed = new Set<string>();
    for (const node of nodes) {
      try {
        this.upsert(node);
        listed.add(node.metadata?.name ?? '');
      } catch (err) {
        this.loop?.report(err);
      }
    }
    for (const name of [...this.described.keys()]) if (!listed.has(name)) this.remove(name);
  }

  private upsert(node: NodeLike): void {
    const described = describeNode(node);
    if (!described.name) return;
    // Nodes without GPUs (or cordoned ones) are not kept: they cannot satisfy any request.
    if (described.offers.length === 0) return this.remove(described.name);
    // Most events are status updates that change nothing here; the snapshot then stays, and
    // with it the GPU resolutions remembered for it (resolve-cached.ts).
    if (isDeepStrictEqual(this.described.get(described.name), described)) return;
    this.described.set(described.name, described);
    this.snapshot = undefined;
  }

  private remove(name: string): void {
    if (this.described.delete(name)) this.snapshot = undefined;
  }
}
