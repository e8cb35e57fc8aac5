/**
 * Self-managed TLS for clusters without cert-manager: one replica at a time (the holder of a
 * coordination.k8s.io Lease) keeps a CA and a serving certificate in a Secret and the CA in the
 * caBundle of our MutatingWebhookConfiguration; every replica follows the Secret and hot-reloads.
 *
 * Lessons from Vault's injector (vault-helm #580, #704, #787): replicas must never mint CAs of
 * their own, so every write is a compare-and-swap (create fails if the Secret exists, updates
 * carry the resourceVersion read) and the Lease only keeps replicas from racing for nothing; the
 * caBundle is patched only when it differs, and CA replacement trusts old and new CA together
 * before any replica serves a certificate from the new one.
 */
import {
  AdmissionregistrationV1Api,
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1OwnerReference,
  type V1Secret,
} from '@kubernetes/client-node';
import {
  chainsTo,
  createCertificateAuthority,
  createServingCertificate,
  DAY_MS,
  dnsNamesOf,
  expiresAt,
  matchesKey,
  needsRenewal,
  serviceDnsNames,
  splitPemBundle,
  type PemPair,
} from './certificates.ts';
import { ListWatchLoop } from '#core/kube/list-watch.ts';
import { describeApiError as describe, orUndefinedOn404, statusOf } from '#core/kube/api-errors.ts';
import { LeaseLock } from './lease.ts';

export interface CertificateBundle {
  cert: string;
  key: string;
  /** PEM bundle: the signing CA first, then a previous CA while a CA replacement overlaps. */
  ca: string;
}

export interface Logger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface SelfManagedTlsOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  secretName: string;
  webhookConfigurationName: string;
  serviceName: string;
  /** Pod name: the Lease holder identity. */
  identity: string;
  /** Called on every replica whenever the Secret's certificate, key or CA bundle changes. */
  onCertificate: (bundle: CertificateBundle) => void;
  certValidityDays?: number; // default 90
  renewBeforeDays?: number; // default 30
  leaseName?: string; // default: serviceName (the chart's Role grants that Lease name)
  checkIntervalMs?: number; // default 60 s: re-read the Secret, and as holder re-check it and the caBundle
  leaseDurationMs?: number; // default 15 s
  log?: Logger;
  /** Wall clock for certificate validity decisions (tests move it); Lease timing uses a monotonic clock. */
  now?: () => number;
}

interface Stored extends CertificateBundle {
  caKey: string;
}

const silent: Logger = { info() {}, warn() {}, error() {} };

export class SelfManagedTls {
  private readonly core: CoreV1Api;
  private readonly admission: AdmissionregistrationV1Api;
  private readonly lease: LeaseLock;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly validityMs: number;
  private readonly renewBeforeMs: number;
  private readonly leaseName: string;
  private readonly checkIntervalMs: number;
  private readonly leaseDurationMs: number;

  private stopped = false;
  private current?: CertificateBundle;
  private lastSeq = 0; // orders Secret observations, see deliver()
  private seq = 0;
  private readonly reported = new Map<string, string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private checkTimer?: NodeJS.Timeout;
  private checkRunning?: Promise<void>;
  private checkAgain = false;
  private checkFailures = 0;
  private started = false;
  private leaseRunning?: Promise<void>;
  private secretWatch?: ListWatchLoop<V1Secret>;
  private readonly ready: {
    promise: Promise<CertificateBundle>;
    resolve(bundle: CertificateBundle): void;
    reject(err: Error): void;
  };

  private readonly options: SelfManagedTlsOptions;

  // Fields are assigned here rather than as parameter properties: the sources stay erasable
  // TypeScript (tsconfig's erasableSyntaxOnly), which Node 24 runs as it is (make bench).
  constructor(options: SelfManagedTlsOptions) {
    this.options = options;
    this.core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.admission = options.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
    this.log = options.log ?? silent;
    this.now = options.now ?? Date.now;
    this.validityMs = (options.certValidityDays ?? 90) * DAY_MS;
    this.renewBeforeMs = (options.renewBeforeDays ?? 30) * DAY_MS;
    this.leaseName = options.leaseName ?? options.serviceName;
    this.checkIntervalMs = options.checkIntervalMs ?? 60_000;
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.lease = new LeaseLock({
      kubeConfig: options.kubeConfig,
      namespace: options.namespace,
      name: this.leaseName,
      identity: options.identity,
      durationMs: this.leaseDurationMs,
      owner: () => this.owner(),
    });
    // A certificate that is due for renewal the moment it is issued would be reissued on every check.
    if (this.renewBeforeMs >= this.validityMs) throw new Error('renewBeforeDays must be smaller than certValidityDays');
    let resolve!: (b: CertificateBundle) => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<CertificateBundle>((res, rej) => ((resolve = res), (reject = rej)));
    promise.catch(() => {}); // stop() before start() is awaited must not be an unhandled rejection
    this.ready = { promise, resolve, reject };
  }

  /** Resolves with the first certificate, created by this replica or by the holder. */
  start(): Promise<CertificateBundle> {
    if (this.started) return this.ready.promise;
    this.started = true;
    void this.leaseLoop();
    this.wakeCheck();
    this.watchSecret();
    return this.ready.promise;
  }

  /** Stops all loops and hands the Lease back so another replica can take over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    clearTimeout(this.checkTimer);
    this.secretWatch?.stop();
    await Promise.allSettled([this.checkRunning, this.leaseRunning]);
    try {
      if (await this.lease.release()) this.log.info({ lease: this.leaseName }, 'released the TLS Lease');
    } catch (err) {
      this.log.warn({ err: describe(err) }, 'could not release the TLS Lease; another replica takes over when it expires');
    }
    this.ready.reject(new Error('SelfManagedTls stopped before a certificate was available'));
  }

  get certificate(): CertificateBundle | undefined {
    return this.current;
  }

  /** True while this replica holds the Lease (and so writes the Secret and caBundle). */
  get isHolder(): boolean {
    return this.lease.isHolder;
  }

  // ---- Lease ------------------------------------------------------------------------------

  private async leaseLoop(failures = 0): Promise<void> {
    if (this.stopped) return;
    const wasHolder = this.lease.isHolder;
    this.leaseRunning = this.lease.tryAcquireOrRenew().then(() => undefined);
    try {
      await this.leaseRunning;
      failures = 0;
    } catch (err) {
      failures++;
      this.log.warn({ err: describe(err), attempt: failures }, 'TLS Lease update failed; retrying');
    }
    if (this.lease.isHolder && !wasHolder) {
      const { identity } = this.options;
      this.log.info({ lease: this.leaseName, identity }, 'holding the TLS Lease: this replica maintains the certificate');
      this.wakeCheck();
    } else if (wasHolder && !this.lease.isHolder) {
      this.log.warn({ lease: this.leaseName }, 'no longer holding the TLS Lease');
    }
    const period = this.leaseDurationMs / 3;
    this.later(() => void this.leaseLoop(failures), failures ? backoff(failures, period) : period);
  }

  // ---- Secret and caBundle ----------------------------------------------------------------

  /** Runs a check now, or right after the one in progress. */
  private wakeCheck(): void {
    if (this.stopped) return;
    if (this.checkRunning) {
      this.checkAgain = true;
      return;
    }
    clearTimeout(this.checkTimer);
    this.checkRunning = this.checkLoop();
  }

  private async checkLoop(): Promise<void> {
    try {
      if (this.isHolder) await this.reconcile();
      else this.deliver(...(await this.readSecret()));
      this.checkFailures = 0;
    } catch (err) {
      this.checkFailures++;
      const level = statusOf(err) === 409 ? 'info' : 'warn'; // a conflict only means another writer was first
      this.log[level]({ err: describe(err), attempt: this.checkFailures }, 'TLS certificate check failed; retrying');
    }
    this.checkRunning = undefined;
    if (this.stopped) return;
    // Poll faster while waiting for the holder's first certificate.
    const period = this.current ? this.checkIntervalMs : Math.min(this.checkIntervalMs, 1000);
    const delay = this.checkAgain ? 0 : this.checkFailures ? backoff(this.checkFailures, period) : period;
    this.checkAgain = false;
    this.checkTimer = setTimeout(() => this.wakeCheck(), delay).unref();
  }

  private async readSecret(): Promise<[V1Secret | undefined, number]> {
    const seq = ++this.seq;
    const { secretName: name, namespace } = this.options;
    return [await orUndefinedOn404(this.core.readNamespacedSecret({ name, namespace })), seq];
  }

  /** Holder only: make sure the Secret holds a usable, not-yet-due certificate and the caBundle trusts its CA. */
  private async reconcile(): Promise<void> {
    const { namespace, secretName: name } = this.options;
    let [secret, seq] = await this.readSecret();
    const stored = readData(secret);
    const plan = await this.plan(stored);
    if (plan) {
      if (!this.isHolder) return; // lost the Lease while generating keys; the new holder decides
      // A new CA while the old one still works: have the API server trust both before any replica serves the new one.
      if (plan.overlap) await this.ensureCaBundle(plan.next.ca);
      const body: V1Secret = {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: secret?.metadata ?? { name, namespace, labels: { 'app.kubernetes.io/managed-by': 'supersonic-webhook' }, ...(await this.ownedBy()) },
        type: secret?.type ?? 'kubernetes.io/tls', // type is immutable: keep whatever exists
        data: { ...secret?.data, ...encodeData(plan.next) },
      };
      seq = ++this.seq;
      secret = secret
        ? await this.core.replaceNamespacedSecret({ name, namespace, body })
        : await this.core.createNamespacedSecret({ namespace, body });
      const expires = expiresAt(plan.next.cert).toISOString();
      this.log.info({ reason: plan.reason, secret: name, expiresAt: expires }, 'wrote the webhook TLS Secret');
    }
    this.deliver(secret, seq);
    await this.ensureCaBundle(plan?.next.ca ?? stored.ca);
  }

  /** What the Secret should hold instead, or undefined when it is fine as it is. */
  private async plan(stored: Stored): Promise<{ next: Stored; reason: string; overlap: boolean } | undefined> {
    const now = this.now();
    const [signer = '', ...previous] = splitPemBundle(stored.ca);
    const caUsable = matchesKey(signer, stored.caKey) && chainsTo(signer, signer); // a self-signed CA with its key
    let ca: PemPair = { cert: signer, key: stored.caKey };
    let caBundle = [signer, ...previous.filter((pem) => !needsRenewal(pem, 0, now))]; // expired previous CAs go
    let reason: string | undefined;
    let overlap = false;
    // Replaced early enough that a full-length serving certificate never outlives its CA.
    if (!caUsable || needsRenewal(signer, this.validityMs + this.renewBeforeMs, now)) {
      overlap = caUsable && !needsRenewal(signer, 0, now);
      reason = !stored.ca ? 'no CA yet' : caUsable ? 'CA expires soon' : 'CA unusable';
      ca = await createCertificateAuthority({ now });
      caBundle = overlap ? [ca.cert, signer] : [ca.cert];
    }
    const dnsNames = serviceDnsNames(this.options.serviceName, this.options.namespace);
    let leaf: PemPair = { cert: stored.cert, key: stored.key };
    reason ??= leafProblem(leaf, ca.cert, dnsNames, this.renewBeforeMs, now);
    if (reason) leaf = await createServingCertificate(ca, { dnsNames, validityMs: this.validityMs, now });
    const next = { ...leaf, ca: caBundle.join(''), caKey: ca.key };
    if (!reason && next.ca === stored.ca) return undefined;
    return { next, reason: reason ?? 'expired previous CA removed from the bundle', overlap };
  }

  /**
   * What the Secret and the Lease we create belong to: our MutatingWebhookConfiguration, which
   * the chart installs and `helm uninstall` deletes, so garbage collection then deletes them
   * too (a namespaced object may have a cluster-scoped owner). Helm never knew them, so it
   * could not. Without the configuration (yet), they are created without an owner.
   */
  private async owner(): Promise<V1OwnerReference | undefined> {
    const name = this.options.webhookConfigurationName;
    const uid = (await orUndefinedOn404(this.admission.readMutatingWebhookConfiguration({ name })))?.metadata?.uid;
    return uid ? { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', name, uid } : undefined;
  }

  private async ownedBy(): Promise<{ ownerReferences?: V1OwnerReference[] }> {
    const owner = await this.owner();
    return owner ? { ownerReferences: [owner] } : {};
  }

  /** Every webhook that calls our Service gets our CA bundle; patched only where it differs. */
  private async ensureCaBundle(caPem: string): Promise<void> {
    const name = this.options.webhookConfigurationName;
    const mwc = await orUndefinedOn404(this.admission.readMutatingWebhookConfiguration({ name }));
    if (!mwc) return this.reportOnce('mwc', 'missing', { name }, 'MutatingWebhookConfiguration not found; caBundle not set');
    const want = Buffer.from(caPem).toString('base64');
    const ops: object[] = [];
    const ours = (mwc.webhooks ?? []).map((webhook, i) => ({ webhook, i })).filter(({ webhook }) => {
      const service = webhook.clientConfig?.service;
      return service?.name === this.options.serviceName && service.namespace === this.options.namespace;
    });
    if (!ours.length) return this.reportOnce('mwc', 'no-webhooks', { name }, 'no webhook in the configuration calls our Service');
    this.reported.delete('mwc');
    for (const { webhook, i } of ours) {
      const have = webhook.clientConfig.caBundle;
      if (have && Buffer.from(have, 'base64').toString().trim() === caPem.trim()) continue;
      // The test pins the index to the webhook we looked at, in case the list changed meanwhile.
      ops.push({ op: 'test', path: `/webhooks/${i}/name`, value: webhook.name });
      ops.push({ op: have === undefined ? 'add' : 'replace', path: `/webhooks/${i}/clientConfig/caBundle`, value: want });
    }
    if (!ops.length) return;
    const jsonPatch = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);
    await this.admission.patchMutatingWebhookConfiguration({ name, body: ops }, jsonPatch);
    this.log.info({ name, webhooks: ours.map(({ webhook }) => webhook.name) }, 'patched caBundle');
  }

  /**
   * Hands a valid certificate from the Secret to onCertificate, once per distinct content.
   * `seq` is taken when the read started or the watch event arrived: a GET that started before
   * a newer watch event was handled must not bring the older certificate back.
   */
  private deliver(secret: V1Secret | undefined, seq: number): void {
    if (seq < this.lastSeq || !secret) return;
    this.lastSeq = seq;
    const { cert, key, ca } = readData(secret);
    if (!cert || !key || !ca) return; // not written yet, or being repaired by the holder
    if (this.current && cert === this.current.cert && key === this.current.key && ca === this.current.ca) return;
    if (!matchesKey(cert, key) || !splitPemBundle(ca).some((pem) => chainsTo(cert, pem))) {
      const msg = 'TLS Secret holds a certificate that does not match its key or CA; keeping the current one';
      return this.reportOnce('secret', cert + key + ca, { secret: this.options.secretName }, msg);
    }
    this.reported.delete('secret');
    this.current = { cert, key, ca };
    const expires = expiresAt(cert).toISOString();
    this.log.info({ secret: this.options.secretName, expiresAt: expires }, 'loaded the webhook serving certificate');
    try {
      this.options.onCertificate(this.current);
    } catch (err) {
      this.log.error({ err: describe(err) }, 'onCertificate failed');
    }
    this.ready.resolve(this.current);
  }

  /**
   * The watch makes rotations reach every replica at once; the periodic check covers missed
   * events. The shared list-watch loop, without a list: the Secret is named by a field selector,
   * which RBAC authorizes as that name, and each round's watch starts with it as ADDED.
   */
  private watchSecret(): void {
    const { namespace, secretName } = this.options;
    this.secretWatch = new ListWatchLoop<V1Secret>({
      path: `/api/v1/namespaces/${namespace}/secrets`,
      fieldSelector: `metadata.name=${secretName}`,
      initialBackoffMs: 100,
      healthyAfterMs: 10_000,
      onEvent: (type, secret) => {
        if (secret.metadata?.name !== secretName) return;
        if (type === 'ADDED' || type === 'MODIFIED') this.deliver(secret, ++this.seq);
        if (this.isHolder) this.wakeCheck(); // deleted or edited behind our back: repair
      },
      onWatchEnd: () => this.wakeCheck(),
      onError: (err) => this.log.warn({ err: describe(err) }, 'TLS Secret watch ended; reconnecting'),
    });
    void this.secretWatch.start(this.options.kubeConfig);
  }

  private later(fn: () => void, ms: number): void {
    if (this.stopped) return;
    const timer = setTimeout(() => (this.timers.delete(timer), fn()), ms).unref();
    this.timers.add(timer);
  }

  /** Logs a problem once until it changes or goes away, rather than on every check. */
  private reportOnce(topic: string, detail: string, obj: object, msg: string): void {
    if (this.reported.get(topic) === detail) return;
    this.reported.set(topic, detail);
    this.log.warn(obj, msg);
  }
}

function leafProblem(leaf: PemPair, caCert: string, dnsNames: string[], renewBeforeMs: number, now: number): string | undefined {
  if (!leaf.cert) return 'no certificate yet';
  if (!matchesKey(leaf.cert, leaf.key) || !chainsTo(leaf.cert, caCert)) return 'certificate does not match its key or CA';
  if (!dnsNames.every((name) => dnsNamesOf(leaf.cert).includes(name))) return 'certificate lacks a Service DNS name';
  if (needsRenewal(leaf.cert, renewBeforeMs, now)) return 'certificate expires soon';
  return undefined;
}

function readData(secret: V1Secret | undefined): Stored {
  const field = (k: string) => Buffer.from(secret?.data?.[k] ?? '', 'base64').toString('utf8');
  return { cert: field('tls.crt'), key: field('tls.key'), ca: field('ca.crt'), caKey: field('ca.key') };
}

function encodeData(s: Stored): Record<string, string> {
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  return { 'tls.crt': b64(s.cert), 'tls.key': b64(s.key), 'ca.crt': b64(s.ca), 'ca.key': b64(s.caKey) };
}

/** Exponential, capped, with jitter so replicas do not retry in lockstep. */
function backoff(failures: number, capMs: number): number {
  const ms = Math.min(capMs, 200 * 2 ** Math.min(failures - 1, 20));
  return ms / 2 + (Math.random() * ms) / 2;
}
