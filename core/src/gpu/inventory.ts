/**
 * The cluster's GPU nodes, kept current by listing and then watching /api/v1/nodes (the shared
 * list-watch loop, ../kube/list-watch.ts, which re-lists and re-watches with back-off). Only the
 * small DescribedNode of nodes that offer GPUs is kept, not the Node objects (whose images and
 * conditions run to tens of kB each), and the list is read page by page, each page reduced to
 * those before the next is asked for, so a whole list of Node objects is never held at once
 * and memory stays flat on clusters with thousands of nodes (make bench measures it with 5,000).
 * A malformed node is counted and skipped; it never stops the loop.
 */
import { isDeepStrictEqual } from 'node:util';
import type { KubeConfig } from '@kubernetes/client-node';
import { listNodePage } from './node-pages.ts';
import { ListWatchLoop, type ListWatchOptions, type ListWatchStatus } from '../kube/list-watch.ts';
import { describeNodeInterned, type DescribedNode, type NodeLike } from './node-gpus.ts';

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

/**
 * Nodes per list page. Real GPU nodes are 10 to 20 kB each serialised, several times that once
 * parsed, and a page is garbage as soon as it is described: 250 keeps the peak charged with
 * 5,000 nodes about 20 MB under that of 500 per page, in 20 requests (make bench measured 100,
 * 250 and 500: memory charged with 5,000 nodes, and time to ready).
 */
export const NODE_PAGE_SIZE = 250;

/** Distinct label values shared before the pool starts over: a few per node of a 10,000-node cluster. */
const MAX_INTERNED = 50_000;

/** A listed node that offers no GPU: only its name is kept, to drop it from the view if it was there. */
interface Skipped {
  skipped: string;
}

export class NodeInventory {
  private readonly described = new Map<string, DescribedNode>();
  private snapshot: DescribedNode[] | undefined;
  private readonly options: InventoryOptions & { staleAfterMs: number; now: () => number };
  private loop: ListWatchLoop<NodeLike, DescribedNode | Skipped> | undefined;
  /**
   * One string per distinct label value (describeNodeInterned). Values that come and go (a
   * hostname, a timestamp) would grow it for ever, so past a bound it starts over: the nodes
   * keep the strings they hold, and the next ones share anew.
   */
  private strings = new Map<string, string>();
  private readonly intern = (value: string): string => {
    if (value.length <= 10) return value; // V8 already keeps one copy of short parsed strings
    const known = this.strings.get(value);
    if (known !== undefined) return known;
    if (this.strings.size >= MAX_INTERNED) this.strings = new Map();
    this.strings.set(value, value);
    return value;
  };
  /** Set by fromNodes: a fixed view, ready without a loop. */
  private fixed = false;

  constructor(options: InventoryOptions = {}) {
    this.options = { staleAfterMs: 600_000, now: Date.now, pageSize: NODE_PAGE_SIZE, ...options };
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
      this.loop = new ListWatchLoop<NodeLike, DescribedNode | Skipped>({
        ...this.options,
        path: NODES,
        list: (page) => listNodePage(kubeConfig, page),
        // Each page's Node objects become DescribedNodes (or just the name of one without GPUs)
        // as the page arrives; the full objects are dropped with their page.
        keep: (node) => this.describe(node),
        onList: (nodes) => this.replaceDescribed(nodes),
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

  /** A node as the view keeps it, its strings shared through the pool. */
  private describe(node: NodeLike): DescribedNode | Skipped {
    const described = describeNodeInterned(node, this.intern);
    // Nodes without GPUs (or cordoned ones) are not kept: they cannot satisfy any request.
    return described.offers.length > 0 ? described : { skipped: described.name };
  }

  /**
   * The listed nodes become the inventory, node by node, so that a re-list (each time a watch
   * ends, every few minutes) that finds what was there changes nothing, and the snapshot stays.
   */
  private replaceAll(nodes: NodeLike[]): void {
    const described: Array<DescribedNode | Skipped> = [];
    for (const node of nodes) {
      try {
        described.push(this.describe(node));
      } catch (err) {
        this.loop?.report(err);
      }
    }
    this.replaceDescribed(described);
  }

  private replaceDescribed(nodes: Array<DescribedNode | Skipped>): void {
    const listed = new Set<string>();
    for (const node of nodes) {
      const name = 'skipped' in node ? node.skipped : node.name;
      if (!name) continue;
      listed.add(name);
      if ('skipped' in node) this.remove(name);
      else this.keep(node);
    }
    for (const name of [...this.described.keys()]) if (!listed.has(name)) this.remove(name);
  }

  private upsert(node: NodeLike): void {
    const described = this.describe(node);
    if ('skipped' in described) return described.skipped ? this.remove(described.skipped) : undefined;
    if (!described.name) return;
    this.keep(described);
  }

  private keep(described: DescribedNode): void {
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
