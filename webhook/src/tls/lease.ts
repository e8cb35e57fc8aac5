/**
 * A coordination.k8s.io/v1 Lease as a "one writer at a time" lock. The caller runs
 * tryAcquireOrRenew() every third of the duration; this class only does one round of it.
 *
 * Clock skew: the Lease's renewTime is written for humans but never compared with our clock.
 * As in client-go's leader election, a foreign Lease counts as expired only when its
 * resourceVersion has not changed for leaseDurationSeconds, measured on our own monotonic clock
 * from when we first saw that version; so only clock rates must agree, not wall clocks, and a
 * wall-clock step (NTP) changes nothing. A newcomer therefore waits one full duration before
 * taking over from a crashed holder; a holder that stops cleanly hands the Lease back (empty
 * holderIdentity) for an immediate takeover. Every write is a compare-and-swap on
 * resourceVersion: a 409 means another replica won the round.
 */
import { orUndefinedOn404, statusOf } from '#core/kube/api-errors.ts';
import { performance } from 'node:perf_hooks';
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease, type V1OwnerReference } from '@kubernetes/client-node';

export interface LeaseLockOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  name: string;
  identity: string;
  durationMs: number;
  /** The owner a new Lease names, so garbage collection removes it with its owner. */
  owner?: () => Promise<V1OwnerReference | undefined>;
}

export class LeaseLock {
  private readonly api: CoordinationV1Api;
  private holding = false;
  private lastRenewAt = -Infinity; // monotonic time the last successful renewal was sent
  private observed?: { resourceVersion: string; at: number };

  private readonly options: LeaseLockOptions;

  constructor(options: LeaseLockOptions) {
    this.options = options;
    this.api = options.kubeConfig.makeApiClient(CoordinationV1Api);
  }

  /**
   * True while we hold the Lease and renewed it recently enough to be sure: we step down a
   * third of a duration before anyone else may take over, leaving room for request latency and
   * clock-rate drift.
   */
  get isHolder(): boolean {
    return this.holding && performance.now() - this.lastRenewAt < (this.options.durationMs * 2) / 3;
  }

  /** One round: take the Lease if it is absent, released or expired; renew it if it is ours. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.options;
    const lease = await orUndefinedOn404(this.api.readNamespacedLease({ name, namespace }));
    if (lease) {
      const readAt = performance.now();
      const resourceVersion = lease.metadata?.resourceVersion ?? '';
      if (resourceVersion !== this.observed?.resourceVersion) this.observed = { resourceVersion, at: readAt };
      const holder = lease.spec?.holderIdentity ?? '';
      const durationMs = (lease.spec?.leaseDurationSeconds ?? 0) * 1000 || this.options.durationMs;
      if (holder && holder !== identity && readAt - this.observed.at < durationMs) return (this.holding = false);
    }
    const sentAt = performance.now();
    try {
      const body = this.body(lease, lease ? undefined : await this.options.owner?.());
      const saved = lease
        ? await this.api.replaceNamespacedLease({ name, namespace, body })
        : await this.api.createNamespacedLease({ namespace, body });
      this.observed = { resourceVersion: saved.metadata?.resourceVersion ?? '', at: sentAt };
      this.lastRenewAt = sentAt;
      return (this.holding = true);
    } catch (err) {
      if (statusOf(err) !== 409) throw err;
      return (this.holding = false);
    }
  }

  /** Hands the Lease back if we still hold it; true if we did. */
  async release(): Promise<boolean> {
    const wasHolding = this.holding;
    this.holding = false;
    if (!wasHolding) return false;
    const { namespace, name, identity } = this.options;
    const lease = await orUndefinedOn404(this.api.readNamespacedLease({ name, namespace }));
    if (!lease || lease.spec?.holderIdentity !== identity) return false;
    const spec = { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: new V1MicroTime(Date.now()) };
    await this.api.replaceNamespacedLease({ name, namespace, body: { ...lease, spec } });
    return true;
  }

  private body(existing: V1Lease | undefined, owner?: V1OwnerReference): V1Lease {
    const { namespace, name, identity, durationMs } = this.options;
    const mine = existing?.spec?.holderIdentity === identity;
    const wall = new V1MicroTime(Date.now()); // MicroTime: the API server wants microseconds
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: existing?.metadata ?? { name, namespace, ...(owner ? { ownerReferences: [owner] } : {}) },
      spec: {
        holderIdentity: identity,
        // Rounded up, so others never count us gone before we stop acting as holder.
        leaseDurationSeconds: Math.ceil(durationMs / 1000),
        acquireTime: mine ? existing?.spec?.acquireTime : wall,
        renewTime: wall,
        leaseTransitions: (existing?.spec?.leaseTransitions ?? 0) + (existing && !mine ? 1 : 0),
      },
    };
  }
}
