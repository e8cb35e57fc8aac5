/**
 * The models' Knative Services as the dispatcher sees them: a watched view of the Services it
 * manages in its namespace (the shared list-watch loop), and `ensure`, which gives a model's
 * cluster-local URL once its Service is Ready, creating it first when it does not exist.
 *
 * What SSIS got wrong, and how this does it:
 * - one create per model however many requests arrive together: one promise per model in this
 *   process (single flight), and a create another dispatcher replica won (409) is "already
 *   exists", not an error;
 * - the wait for Ready follows the watch, bounded (readyTimeoutMs); Ready=False for the current
 *   generation (RevisionFailed, an unschedulable pod, ProgressDeadlineExceeded) ends it with a
 *   clear error instead of waiting forever;
 * - no Kubernetes error ends the process: each becomes a DispatchError with an HTTP status.
 */
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { describeApiError, statusOf } from '#core/kube/api-errors.ts';
import { ListWatchLoop, type ListPage } from '#core/kube/list-watch.ts';
import { DispatchError } from '../errors.ts';
import { INSTANCE_LABEL, LAST_USED_ANNOTATION, MANAGED_BY, MANAGED_BY_LABEL, MODEL_ID_ANNOTATION, type KnativeService } from './service-spec.ts';

const GROUP = 'serving.knative.dev';
const VERSION = 'v1';
const PLURAL = 'services';

interface Condition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
}

/** The parts of a Knative Service the dispatcher reads. */
export interface KsvcLike {
  metadata?: { name?: string; generation?: number; annotations?: Record<string, string>; deletionTimestamp?: string };
  status?: { observedGeneration?: number; conditions?: Condition[]; address?: { url?: string }; url?: string };
}

/** What is kept of each Service: small, whatever the size of the object. */
export interface ModelServiceState {
  name: string;
  modelId?: string;
  ready: 'True' | 'False' | 'Unknown';
  /** Ready or not, for the Service's current spec (Knative has seen its generation). */
  current: boolean;
  reason?: string;
  message?: string;
  url?: string;
  lastUsed?: number;
  deleting: boolean;
}

export interface ModelServicesOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  /** The dispatcher's release: only its own Services are watched and managed. */
  instance: string;
  readyTimeoutMs: () => number;
  /** How often at most a Service's last-used annotation is written (idle clean-up reads it). */
  touchIntervalMs?: number;
  onError?: (err: unknown) => void;
  /** A Service was created by this replica (for metrics: create to Ready). */
  onCreated?: (name: string) => void;
  /** A Service this replica created became Ready: `createdAt` is when (ms since the epoch). */
  onReady?: (name: string, createdAt: number) => void;
}

export interface ModelObjects {
  service: KnativeService;
  secret?: Record<string, any>;
}

export class ModelServices {
  private readonly view = new Map<string, ModelServiceState>();
  private readonly waiters = new Set<() => void>();
  private readonly inflight = new Map<string, Promise<string>>();
  private readonly touched = new Map<string, number>();
  private readonly createdAt = new Map<string, number>();
  private readonly custom: CustomObjectsApi;
  private readonly core: CoreV1Api;
  private readonly loop: ListWatchLoop<KsvcLike>;
  private readonly options: ModelServicesOptions;

  constructor(options: ModelServicesOptions) {
    this.options = options;
    const { kubeConfig, namespace, instance } = options;
    this.custom = kubeConfig.makeApiClient(CustomObjectsApi);
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    const labelSelector = `${MANAGED_BY_LABEL}=${MANAGED_BY},${INSTANCE_LABEL}=${instance}`;
    this.loop = new ListWatchLoop<KsvcLike>({
      path: `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}`,
      labelSelector,
      list: (page) =>
        this.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, labelSelector, ...page }) as Promise<ListPage<KsvcLike>>,
      onList: (items) => {
        const names = new Set<string>();
        for (const item of items) names.add(this.upsert(item));
        for (const name of [...this.view.keys()]) if (!names.has(name)) this.view.delete(name);
        this.notify();
      },
      onEvent: (type, item) => {
        if (type === 'DELETED') this.view.delete(item.metadata!.name!);
        else this.upsert(item);
        this.notify();
      },
      onError: options.onError,
    });
  }

  start(): Promise<void> {
    return this.loop.start(this.options.kubeConfig);
  }

  stop(): void {
    this.loop.stop();
    this.notify();
  }

  ready(): boolean {
    return this.loop.status().ready;
  }

  states(): ModelServiceState[] {
    return [...this.view.values()];
  }

  /** True while this process creates or waits for the model's Service. */
  isPending(name: string): boolean {
    return this.inflight.has(name);
  }

  /**
   * The model's URL once its Service is Ready. `build` is called only when the Service must be
   * created (not on the warm path), so placement runs only for a model that has no Service.
   */
  ensure(name: string, build: () => ModelObjects | Promise<ModelObjects>): Promise<string> {
    const url = this.servingUrl(name);
    if (url) return Promise.resolve(url);
    let flight = this.inflight.get(name);
    if (!flight) {
      flight = this.createAndWait(name, build).finally(() => this.inflight.delete(name));
      this.inflight.set(name, flight);
    }
    return flight;
  }

  /** The warm path: the URL of a Service that is Ready now, from the watched view (no API call); else undefined. */
  servingUrl(name: string): string | undefined {
    const state = this.view.get(name);
    if (!state || !isServing(state)) return undefined;
    this.touch(name);
    return state.url;
  }

  private async createAndWait(name: string, build: () => ModelObjects | Promise<ModelObjects>): Promise<string> {
    const deadline = Date.now() + this.options.readyTimeoutMs();
    if (!this.view.has(name)) await this.create(name, await build());
    const url = await this.waitReady(name, deadline);
    this.touch(name);
    return url;
  }

  private async create(name: string, objects: ModelObjects): Promise<void> {
    const { namespace } = this.options;
    try {
      // The Secret first: a container whose secretKeyRef names no Secret would not start.
      if (objects.secret) {
        try {
          await this.core.createNamespacedSecret({ namespace, body: objects.secret as never });
        } catch (err) {
          // Another request or replica made it: its values stay (a caller's token never
          // replaces the one a shared Service already uses).
          if (statusOf(err) !== 409) throw err;
        }
      }
      // Strict: the CRD would otherwise prune a field it does not know, silently.
      await this.custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, body: objects.service, fieldValidation: 'Strict' });
      this.createdAt.set(name, Date.now());
      this.options.onCreated?.(name);
    } catch (err) {
      if (statusOf(err) === 409) return; // another replica created it first
      throw kubernetesError(err, `creating the Knative Service ${namespace}/${name}`);
    }
  }

  /** Resolves with the URL when the Service is Ready for its current spec; rejects on Ready=False or the deadline. */
  private waitReady(name: string, deadline: number): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const check = () => {
        const state = this.view.get(name);
        if (state && isServing(state)) {
          finish();
          const created = this.createdAt.get(name);
          this.createdAt.delete(name);
          if (created !== undefined) this.options.onReady?.(name, created);
          resolve(state.url!);
        } else if (state?.current && state.ready === 'False') {
          finish();
          reject(failedService(state));
        }
      };
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      const timer = setTimeout(() => {
        finish();
        reject(notReady(name, this.view.get(name), this.options.readyTimeoutMs()));
      }, Math.max(0, deadline - Date.now()));
      this.waiters.add(check);
      check();
    });
  }

  /** Records use on the Service (at most once per touchIntervalMs), so idle clean-up on any replica sees it. */
  private touch(name: string): void {
    const now = Date.now();
    const interval = this.options.touchIntervalMs ?? 60_000;
    if (now - (this.touched.get(name) ?? 0) < interval) return;
    this.touched.set(name, now);
    const body = { metadata: { annotations: { [LAST_USED_ANNOTATION]: new Date(now).toISOString() } } };
    const { namespace } = this.options;
    this.custom
      .patchNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name, body }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch))
      .catch((err) => this.options.onError?.(new Error(`recording use of ${name}: ${describeApiError(err)}`)));
  }

  /** Deletes a model's Service and Secret (idle clean-up). 404 is fine: someone else did. */
  async remove(name: string, secretName: string): Promise<void> {
    const { namespace } = this.options;
    for (const request of [
      () => this.custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name }),
      () => this.core.deleteNamespacedSecret({ namespace, name: secretName }),
    ]) {
      try {
        await request();
      } catch (err) {
        if (statusOf(err) !== 404) throw kubernetesError(err, `deleting ${namespace}/${name}`);
      }
    }
  }

  private upsert(item: KsvcLike): string {
    const name = item.metadata?.name ?? '';
    const ready = item.status?.conditions?.find((c) => c.type === 'Ready');
    const lastUsed = Date.parse(item.metadata?.annotations?.[LAST_USED_ANNOTATION] ?? '');
    this.view.set(name, {
      name,
      modelId: item.metadata?.annotations?.[MODEL_ID_ANNOTATION],
      ready: ready?.status === 'True' ? 'True' : ready?.status === 'False' ? 'False' : 'Unknown',
      current: (item.status?.observedGeneration ?? 0) >= (item.metadata?.generation ?? 1),
      reason: ready?.reason,
      message: ready?.message,
      url: item.status?.address?.url ?? item.status?.url,
      lastUsed: Number.isNaN(lastUsed) ? undefined : lastUsed,
      deleting: !!item.metadata?.deletionTimestamp,
    });
    return name;
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

function isServing(state: ModelServiceState): boolean {
  return state.ready === 'True' && state.current && !!state.url && !state.deleting;
}

/** Ready=False: the revision cannot run. Unschedulable is capacity (try again later); the rest is the model's own failure. */
function failedService(state: ModelServiceState): DispatchError {
  const why = `${state.reason ?? 'NotReady'}${state.message ? `: ${state.message}` : ''}`;
  const capacity = /unschedulable|insufficient/i.test(why);
  return new DispatchError(capacity ? 503 : 502, `the model server ${state.name}${state.modelId ? ` (${state.modelId})` : ''} failed to start: ${why}`, capacity ? 30 : undefined);
}

function notReady(name: string, state: ModelServiceState | undefined, timeoutMs: number): DispatchError {
  const seen = state ? `last seen Ready=${state.ready}${state.reason ? ` (${state.reason}${state.message ? `: ${state.message}` : ''})` : ''}` : 'not seen yet';
  return new DispatchError(504, `the model server ${name} was not Ready within ${Math.round(timeoutMs / 1000)} s (${seen}); it may still be starting`, 30);
}

/** An API server failure: 503 and Retry-After when it may pass (unreachable, 429, 5xx), 502 otherwise. */
export function kubernetesError(err: unknown, doing: string): DispatchError {
  const code = statusOf(err);
  const transient = code === undefined || code === 429 || code >= 500;
  return new DispatchError(transient ? 503 : 502, `Kubernetes refused ${doing}: ${describeApiError(err)}`, transient ? 5 : undefined);
}
