/**
 * The one list-and-watch loop of both servers: the webhook's node inventory and TLS Secret, the
 * dispatcher's Knative Services and pods. It lists (page by page), then watches from the list's
 * resourceVersion, and when the watch ends, as the API server ends every watch after a few
 * minutes, or fails, or is told its resourceVersion is too old (410 Gone), it lists again
 * (which also catches anything missed between two watches) and watches again, after a delay
 * that grows while things keep failing. A handler that throws is counted and skipped; it never
 * stops the loop.
 *
 * Without `list`, each round only watches, from the current state: the API server then sends
 * every existing object as ADDED first, so one object named by a field selector (the TLS Secret)
 * needs no list permission.
 */
import { Watch, type KubeConfig } from '@kubernetes/client-node';

export interface ListPage<T> {
  items: T[];
  metadata?: { resourceVersion?: string; _continue?: string };
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface ListWatchOptions<T, K = T> {
  /** The API path watched, e.g. /api/v1/nodes or /api/v1/namespaces/x/secrets. */
  path: string;
  /** Selectors for the watch (give the same to `list`). */
  fieldSelector?: string;
  labelSelector?: string;
  /** One page of the list; absent: every round watches from the current state instead. */
  list?: (page: { limit: number; _continue?: string }) => Promise<ListPage<T>>;
  /**
   * Each listed item, as its page arrives, reduced to what is kept (undefined: nothing); by
   * default the item itself. Only one page of full objects is then held at a time, never the
   * whole list (5,000 Node objects are 50 MB of JSON, several times that once parsed). What it
   * throws is reported and skips that item.
   */
  keep?: (item: T) => K | undefined;
  /** Everything listed (as `keep` made it), each round: what is not in it is gone. */
  onList?: (items: K[]) => void;
  onEvent: (type: WatchEventType, object: T) => void;
  /** Each time a watch ends, before the next round (the TLS Secret then checks itself again). */
  onWatchEnd?: (error: unknown) => void;
  /** Told about failures and skipped events (for logs); never throws back. */
  onError?: (err: unknown) => void;
  /** First retry delay; doubles per consecutive failure up to maxBackoffMs. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Asked of the API server; a watch still open 30 s after this is abandoned as dead. */
  watchTimeoutSeconds?: number;
  /** Objects per list page, so one response never holds the whole cluster. */
  pageSize?: number;
  /** A watch that lasted less than this counts as a failure (a proxy that closes at once, say). */
  healthyAfterMs?: number;
  /** The clock (ms since the epoch) of lastListAt; tests move it. */
  now?: () => number;
}

export interface ListWatchStatus {
  /** The first round has listed (or, without `list`, the first watch is open). */
  ready: boolean;
  watching: boolean;
  lists: number;
  /** Watch events applied (added, modified, deleted). */
  events: number;
  errors: number;
  /** Failures in a row since the last healthy round; the back-off before the next grows with it. */
  failures: number;
  /** When the last list succeeded (ms since the epoch); undefined before the first. */
  lastListAt: number | undefined;
}

type Settings<T> = Required<Pick<ListWatchOptions<T, unknown>, 'initialBackoffMs' | 'maxBackoffMs' | 'watchTimeoutSeconds' | 'pageSize' | 'healthyAfterMs' | 'now'>>;

export class ListWatchLoop<T extends { metadata?: { name?: string } }, K = T> {
  private readonly options: ListWatchOptions<T, K> & Settings<T>;
  private isReady = false;
  private isWatching = false;
  private stopped = false;
  private lists = 0;
  private events = 0;
  private errors = 0;
  private failures = 0;
  private lastListAt: number | undefined;
  /** Ends the current watch or back-off sleep; set while one is running. */
  private interrupt: (() => void) | undefined;
  private running: Promise<void> | undefined;

  constructor(options: ListWatchOptions<T, K>) {
    this.options = { initialBackoffMs: 500, maxBackoffMs: 30_000, watchTimeoutSeconds: 300, pageSize: 500, healthyAfterMs: 1000, now: Date.now, ...options };
  }

  /** Starts the loop; resolves after the first list (or first open watch), or on stop(). */
  start(kubeConfig: KubeConfig): Promise<void> {
    if (this.running) return this.running; // one loop per ListWatchLoop
    this.stopped = false;
    this.running = new Promise<void>((resolve) => void this.run(kubeConfig, resolve));
    return this.running;
  }

  stop(): void {
    this.stopped = true;
    this.running = undefined;
    this.isWatching = false;
    this.interrupt?.();
  }

  status(): ListWatchStatus {
    return { ready: this.isReady, watching: this.isWatching, lists: this.lists, events: this.events, errors: this.errors, failures: this.failures, lastListAt: this.lastListAt };
  }

  private async run(kubeConfig: KubeConfig, onFirstRound: () => void): Promise<void> {
    const watch = new Watch(kubeConfig);
    while (!this.stopped) {
      try {
        const resourceVersion = await this.listAll();
        if (this.stopped) break;
        // The API server answers again: whatever failed before, the back-off starts over.
        if (this.options.list) {
          this.failures = 0;
          this.isReady = true;
          onFirstRound();
        }
        const started = Date.now();
        const error = await this.watchOnce(watch, resourceVersion, onFirstRound);
        // A watch the server closed normally after a while is healthy; one that errored or
        // closed at once counts as a failure, so retries slow down.
        this.failures = error === undefined && Date.now() - started > this.options.healthyAfterMs ? 0 : this.failures + 1;
        if (error !== undefined) this.report(error);
        this.call(() => this.options.onWatchEnd?.(error));
      } catch (err) {
        this.failures++;
        this.report(err);
      }
      if (this.stopped) break;
      await this.sleep(this.backoff(this.failures));
    }
    onFirstRound(); // a caller awaiting start() is not left hanging after stop()
  }

  /** Lists every page, keeping what `keep` makes of each item, and hands them over; '' (watch from now) without `list`. */
  private async listAll(): Promise<string> {
    const { list, pageSize, keep } = this.options;
    if (!list) return '';
    const kept: K[] = [];
    let next: string | undefined;
    let resourceVersion = '';
    do {
      // Only this page's objects are referenced past this block, and only through `kept`.
      const page: ListPage<T> = await list(next ? { limit: pageSize, _continue: next } : { limit: pageSize });
      for (const item of page.items) {
        try {
          const value = keep ? keep(item) : (item as unknown as K);
          if (value !== undefined) kept.push(value);
        } catch (err) {
          this.report(err);
        }
      }
      next = page.metadata?._continue || undefined;
      resourceVersion = page.metadata?.resourceVersion ?? '';
    } while (next);
    this.call(() => this.options.onList?.(kept));
    this.lists++;
    this.lastListAt = this.options.now();
    return resourceVersion;
  }

  /** Resolves when the watch ends: undefined when the server closed it, else the error. */
  private watchOnce(watch: Watch, resourceVersion: string, onOpen: () => void): Promise<unknown> {
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
      const { fieldSelector, labelSelector } = this.options;
      const query = {
        ...(resourceVersion ? { resourceVersion } : {}),
        ...(fieldSelector ? { fieldSelector } : {}),
        ...(labelSelector ? { labelSelector } : {}),
        allowWatchBookmarks: true,
        timeoutSeconds: this.options.watchTimeoutSeconds,
      };
      watch
        .watch(this.options.path, query, (type, object) => {
          if (!finished && this.apply(type, object) === 'restart') finish(new Error(`watch error: ${describeStatus(object)}`));
        }, (err) => finish(err ?? undefined))
        .then((started) => {
          controller = started;
          if (finished) return started.abort();
          this.isWatching = true;
          if (!this.options.list) {
            this.failures = 0;
            this.isReady = true;
            onOpen();
          }
        }, finish);
    });
  }

  /** Applies one watch event; 'restart' when the server says the watch is no longer valid. */
  private apply(type: string, object: unknown): 'ok' | 'restart' {
    if (type === 'ERROR') return 'restart'; // typically 410 Gone: our resourceVersion is too old
    if (type === 'BOOKMARK') return 'ok';
    this.call(() => {
      const name = (object as T | undefined)?.metadata?.name;
      if (typeof name !== 'string' || name === '') throw new Error(`watch event ${type} without a name`);
      if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED') throw new Error(`unknown watch event type ${JSON.stringify(type)}`);
      this.options.onEvent(type, object as T);
      this.events++;
    });
    return 'ok';
  }

  /** Runs a handler; what it throws is reported and skipped. */
  private call(handler: () => void): void {
    try {
      handler();
    } catch (err) {
      this.report(err);
    }
  }

  /** Counts a failure and tells onError: for handlers that skip one bad item of many. */
  report(err: unknown): void {
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
