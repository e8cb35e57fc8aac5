/**
 * The cluster's GPU nodes, kept current by listing and then watching /api/v1/nodes. Only the
 * small DescribedNode of nodes that offer GPUs is kept, not the Node objects (whose images and
 * conditions run to tens of kB each), so memory stays flat on clusters with thousands of nodes.
 *
 * The API server ends every watch after a few minutes, and a watch can also fail or be told its
 * resourceVersion is too old (410 Gone). Each time, this re-lists (which also catches anything
 * missed between two watches) and watches again, after a delay that grows while things keep
 * failing. A malformed event is counted and skipped; it never stops the loop.
 */
import { isDeepStrictEqual } from 'node:util';
import { CoreV1Api, Watch, type KubeConfig } from '@kubernetes/client-node';
import { describeNode, type DescribedNode, type NodeLike } from './node-gpus.ts';

export interface InventoryOptions {
  /** First retry delay; doubles per consecutive failure up to maxBackoffMs. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Asked of the API server; a watch still open 30 s after this is abandoned as dead. */
  watchTimeoutSeconds?: number;
  /** Nodes per list page, so one response never holds the whole cluster. */
  pageSize?: number;
  /** Told about list/watch failures and skipped events (for logs); never throws back. */
  onError?: (err: unknown) => void;
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

export interface InventoryStatus {
  ready: boolean;
  watching: boolean;
  lists: number;
  /** Watch events applied (added, modified, deleted nodes). */
  events: number;
  errors: number;
  /** Failures in a row since the last healthy round; the back-off before the next grows with it. */
  failures: number;
  /** When the last list succeeded (ms since the epoch); undefined before the first. */
  lastListAt: number | undefined;
  /** Ready, but no list for longer than staleAfterMs and no watch running: see stale(). */
  stale: boolean;
  /** GPU nodes in the view, by what they give. */
  nodesByKind: Record<OfferKind, number>;
}

const NODES = '/api/v1/nodes';

export class NodeInventory {
  private readonly described = new Map<string, DescribedNode>();
  private snapshot: DescribedNode[] | undefined;
  private readonly options: Required<Omit<InventoryOptions, 'onError'>> & Pick<InventoryOptions, 'onError'>;
  private lastListAt: number | undefined;
  private isReady = false;
  private isWatching = false;
  private stopped = false;
  private lists = 0;
  private events = 0;
  private errors = 0;
  private failures = 0;
  /** Ends the current watch or backoff sleep; set while one is running. */
  private interrupt: (() => void) | undefined;
  private running: Promise<void> | undefined;

  constructor(options: InventoryOptions = {}) {
    this.options = { initialBackoffMs: 500, maxBackoffMs: 30_000, watchTimeoutSeconds: 300, pageSize: 500, staleAfterMs: 600_000, now: Date.now, ...options };
  }

  /** A fixed inventory, for tests and for tools that already hold the nodes. */
  static fromNodes(nodes: NodeLike[]): NodeInventory {
    const inventory = new NodeInventory();
    inventory.replaceAll(nodes);
    inventory.isReady = true;
    return inventory;
  }

  /** Starts the list/watch loop; resolves after the first successful list (or on stop()). */
  start(kubeConfig: KubeConfig): Promise<void> {
    if (this.running) return this.running; // one loop per inventory
    this.stopped = false;
    this.running = new Promise<void>((resolve) => {
      void this.run(kubeConfig, resolve);
    });
    return this.running;
  }

  stop(): void {
    this.stopped = true;
    this.running = undefined;
    this.isWatching = false;
    this.interrupt?.();
  }

  /** True once the first list has arrived: before that, "no GPUs" would be a lie. */
  ready(): boolean {
    return this.isReady;
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
    if (!this.isReady || this.lastListAt === undefined || this.isWatching) return false;
    return this.options.now() - this.lastListAt > this.options.staleAfterMs;
  }

  status(): InventoryStatus {
    const nodesByKind: Record<OfferKind, number> = { mig: 0, mps: 0, whole: 0, shared: 0 };
    for (const node of this.nodes()) for (const kind of new Set(node.offers.map((offer) => offer.kind))) nodesByKind[kind]++;
    return {
      ready: this.isReady, watching: this.isWatching, lists: this.lists, events: this.events, errors: this.errors, failures: this.failures,
      lastListAt: this.lastListAt, stale: this.stale(), nodesByKind,
    };
  }

  private async run(kubeConfig: KubeConfig, onFirstList: () => void): Promise<void> {
    const api = kubeConfig.makeApiClient(CoreV1Api);
    const watch = new Watch(kubeConfig);
    while (!this.stopped) {
      try {
        const resourceVersion = await this.list(api);
        if (this.stopped) break;
        // The API server answers again: whatever failed before, the back-off starts over.
        this.failures = 0;
        this.isReady = true;
        onFirstList();
        const started = Date.now();
        const error = await this.watchOnce(watch, resourceVersion);
        // A watch the server closed normally after a while is healthy; one that errored or
        // closed at once (a misbehaving proxy, say) counts as a failure so retries slow down.
        this.failures = error === undefined && Date.now() - started > 1000 ? 0 : this.failures + 1;
        if (error !== undefined) this.report(error);
      } catch (err) {
        this.failures++;
        this.report(err);
      }
      if (this.stopped) break;
      await this.sleep(this.backoff(this.failures));
    }
    onFirstList(); // a caller awaiting start() is not left hanging after stop()
  }

  private async list(api: CoreV1Api): Promise<string> {
    const seen: NodeLike[] = [];
    let page = await api.listNode({ limit: this.options.pageSize });
    seen.push(...(page.items as NodeLike[]));
    while (page.metadata?._continue) {
      page = await api.listNode({ limit: this.options.pageSize, _continue: page.metadata._continue });
      seen.push(...(page.items as NodeLike[]));
    }
    this.replaceAll(seen);
    this.lists++;
    this.lastListAt = this.options.now();
    return page.metadata?.resourceVersion ?? '';
  }

  /** Resolves when the watch ends: undefined when the server closed it, else the error. */
  private watchOnce(watch: Watch, resourceVersion: string): Promise<unknown> {
    return new Promise<unknown>((resolve) => {
      let controller: AbortController | undefined;
      let finished = false;
      const finish = (error: unknown) => {
        if (finished) return;
        finished = true;
        clearTimeout(deadline);
        this.isWatching = false;
        this.interrupt = undefined;
        controller?.abort();
        resolve(error ?? undefined);
      };
      // The server should end the watch at timeoutSeconds; if it has not 30 s later, the
      // connection is probably dead without anyone having noticed (no FIN through a NAT, say).
      const deadline = setTimeout(() => finish(new Error('watch outlived its timeout; restarting')), (this.options.watchTimeoutSeconds + 30) * 1000);
      this.interrupt = () => finish(undefined);
      const query = { resourceVersion, allowWatchBookmarks: true, timeoutSeconds: this.options.watchTimeoutSeconds };
      watch
        .watch(NODES, query, (type, object) => {
          if (!finished && this.apply(type, object) === 'restart') finish(new Error(`watch error: ${describeStatus(object)}`));
        }, (err) => finish(err ?? undefined))
        .then((started) => {
          controller = started;
          if (finished) started.abort();
          else this.isWatching = true;
        }, finish);
    });
  }

  /** Applies one watch event; 'restart' when the server says the watch is no longer valid. */
  private apply(type: string, object: unknown): 'ok' | 'restart' {
    try {
      if (type === 'ERROR') return 'restart'; // typically 410 Gone: our resourceVersion is too old
      if (type === 'BOOKMARK') return 'ok';
      const name = (object as NodeLike | undefined)?.metadata?.name;
      if (typeof name !== 'string' || name === '') throw new Error(`watch event ${type} without a node name`);
      if (type === 'DELETED') this.remove(name);
      else if (type === 'ADDED' || type === 'MODIFIED') this.upsert(object as NodeLike);
      else throw new Error(`unknown watch event type ${JSON.stringify(type)}`);
      this.events++;
    } catch (err) {
      this.report(err);
    }
    return 'ok';
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
        this.report(err);
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

  private report(err: unknown): void {
    this.errors++;
    try {
      this.options.onError?.(err);
    } catch {
      // a logging callback must not break the loop
    }
  }

  private backoff(failures: number): number {
    const { initialBackoffMs, maxBackoffMs } = this.options;
    const delay = Math.min(maxBackoffMs, initialBackoffMs * 2 ** Math.min(failures, 20));
    return delay * (0.8 + Math.random() * 0.4); // jitter, so replicas do not re-list in step
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.interrupt = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.interrupt = done;
    });
  }
}

function describeStatus(object: unknown): string {
  const status = object as { code?: number; message?: string } | undefined;
  return `${status?.code ?? '?'} ${status?.message ?? ''}`.trim();
}
