import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadKubeConfig } from '#core/kube/client.ts';
import { chainsTo, DAY_MS, expiresAt, splitPemBundle } from '../../../webhook/src/tls/certificates.ts';
import { SelfManagedTls, type CertificateBundle, type SelfManagedTlsOptions } from '../../../webhook/src/tls/self-managed.ts';
import { startKubeStub, type KubeStub } from '../../helpers/kube-stub.ts';
import { waitFor } from './helpers.ts';

const NS = 'sonic';
const SECRETS = `/api/v1/namespaces/${NS}/secrets`;
const LEASES = `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`;
const MWCS = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';
const LEASE = 'supersonic-webhook-tls-writer';

interface Replica {
  tls: SelfManagedTls;
  seen: CertificateBundle[];
  logs: { level: string; msg: string }[];
}

const test = suite('webhook tls: self-managed certificates');
let stub: KubeStub;
let replicas: Replica[];

test.before.each(async () => {
  stub = await startKubeStub();
  replicas = [];
  stub.put(MWCS, {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: 'supersonic-webhook' },
    webhooks: [
      { name: 'pods.supersonic.dev', clientConfig: { service: { name: 'supersonic-webhook', namespace: NS, path: '/mutate' } } },
      { name: 'other.example.com', clientConfig: { service: { name: 'other', namespace: NS } } },
      { name: 'gpu.supersonic.dev', clientConfig: { service: { name: 'supersonic-webhook', namespace: NS }, caBundle: 'c3RhbGU=' } },
    ],
  });
});

test.after.each(async () => {
  await Promise.all(replicas.map((r) => r.tls.stop()));
  await stub.close();
});

function replica(identity: string, extra: Partial<SelfManagedTlsOptions> = {}, server = stub.url): Replica {
  const seen: CertificateBundle[] = [];
  const logs: Replica['logs'] = [];
  const log = (level: string) => (_obj: object, msg: string) => logs.push({ level, msg });
  const tls = new SelfManagedTls({
    kubeConfig: loadKubeConfig(server),
    namespace: NS,
    secretName: 'supersonic-webhook-tls',
    webhookConfigurationName: 'supersonic-webhook',
    serviceName: 'supersonic-webhook',
    leaseName: LEASE,
    identity,
    certValidityDays: 10,
    renewBeforeDays: 3,
    checkIntervalMs: 100,
    leaseDurationMs: 900,
    onCertificate: (bundle) => seen.push(bundle),
    log: { info: log('info'), warn: log('warn'), error: log('error') },
    ...extra,
  });
  const r = { tls, seen, logs };
  replicas.push(r);
  return r;
}

const count = (pattern: RegExp) => stub.requests.filter((line) => pattern.test(line)).length;
const secretWrites = () => count(/^(POST|PUT|PATCH) \/api\/v1\/namespaces\/sonic\/secrets/);
const caBundlePatches = () => count(/^PATCH \/apis\/admissionregistration/);
const secretData = (key: string) => Buffer.from(stub.get(SECRETS, 'supersonic-webhook-tls')?.data?.[key] ?? '', 'base64').toString();
const caBundles = () => stub.get(MWCS, 'supersonic-webhook')!.webhooks.map((w: any) => w.clientConfig.caBundle);
const b64 = (text: string) => Buffer.from(text).toString('base64');

test('first start creates the Secret and puts the CA into the caBundle of our webhooks only', async () => {
  const a = replica('pod-a');
  const bundle = await a.tls.start();
  const secret = stub.get(SECRETS, 'supersonic-webhook-tls')!;
  assert.is(secret.type, 'kubernetes.io/tls');
  assert.equal(Object.keys(secret.data).sort(), ['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
  assert.is(secretData('tls.crt'), bundle.cert);
  assert.is(secretData('ca.crt'), bundle.ca);
  assert.ok(chainsTo(bundle.cert, bundle.ca, Date.now()));
  assert.not.ok('caKey' in bundle, 'the CA key stays in the Secret');

  await waitFor(() => caBundles()[0], 'the caBundle patch');
  assert.equal(caBundles(), [b64(bundle.ca), undefined, b64(bundle.ca)]);
  assert.is(a.seen.length, 1);

  // Later checks find everything in place and write nothing.
  const reads = count(/^GET \/apis\/admissionregistration/);
  await waitFor(() => count(/^GET \/apis\/admissionregistration/) >= reads + 3, 'three more checks');
  assert.is(caBundlePatches(), 1);
  assert.is(secretWrites(), 1);
  assert.equal(a.logs.filter((l) => l.level === 'error'), []);
});

test('two replicas: one writes, both get the same certificate', async () => {
  const a = replica('pod-a');
  const b = replica('pod-b');
  const [fromA, fromB] = await Promise.all([a.tls.start(), b.tls.start()]);
  assert.is(fromA.cert, fromB.cert);
  await waitFor(() => caBundles()[0] === b64(fromA.ca), 'the caBundle patch');
  const leaseWrites = count(/^(PUT|POST) \/apis\/coordination/);
  await waitFor(() => count(/^(PUT|POST) \/apis\/coordination/) >= leaseWrites + 3, 'a few more lease renewals');
  assert.is(secretWrites(), 1);
  assert.is(caBundlePatches(), 1);
  assert.is([a, b].filter((r) => r.tls.isHolder).length, 1);
  assert.is(stub.get(LEASES, LEASE)!.spec.holderIdentity, a.tls.isHolder ? 'pod-a' : 'pod-b');
});

test('renewal near expiry keeps the CA, rewrites the Secret once and reaches both replicas', async () => {
  let now = Date.now();
  const a = replica('pod-a', { now: () => now });
  const b = replica('pod-b', { now: () => now });
  const first = (await Promise.all([a.tls.start(), b.tls.start()]))[0];
  now += 8 * DAY_MS; // 2 days left, renewBefore is 3

  await waitFor(() => a.seen.length === 2 && b.seen.length === 2, 'both replicas to reload');
  const [renewedA, renewedB] = [a.seen[1]!, b.seen[1]!];
  assert.is(renewedA.cert, renewedB.cert);
  assert.is.not(renewedA.cert, first.cert);
  assert.is(renewedA.ca, first.ca, 'same CA: no caBundle change needed');
  assert.is(secretData('tls.crt'), renewedA.cert);
  assert.ok(expiresAt(renewedA.cert) > expiresAt(first.cert));
  assert.is(secretWrites(), 2);
  assert.is(caBundlePatches(), 1);
});

test('a CA near its end is replaced with overlap: both CAs trusted before the new one is served', async () => {
  let now = Date.now();
  const a = replica('pod-a', { now: () => now });
  const b = replica('pod-b', { now: () => now });
  const first = (await Promise.all([a.tls.start(), b.tls.start()]))[0];
  const oldCa = first.ca;
  now = expiresAt(oldCa).getTime() - 5 * DAY_MS; // inside validity + renewBefore (13 days)

  await waitFor(() => a.seen.length === 2 && b.seen.length === 2, 'both replicas to reload');
  const rotated = a.seen[1]!;
  const [newCa, previous] = splitPemBundle(rotated.ca);
  assert.is(previous, oldCa, 'the old CA stays trusted');
  assert.ok(chainsTo(rotated.cert, newCa!), 'the new certificate comes from the new CA');
  assert.is(caBundles()[0], b64(rotated.ca));
  // The caBundle trusted both CAs before the Secret (and so any replica) changed.
  const lastIndex = (prefix: string) => stub.requests.map((l) => l.startsWith(prefix)).lastIndexOf(true);
  const lastPatch = lastIndex('PATCH /apis/admissionregistration');
  const lastWrite = lastIndex('PUT /api/v1/namespaces/sonic/secrets');
  assert.ok(lastPatch < lastWrite);

  now = expiresAt(oldCa).getTime() + DAY_MS; // the old CA has expired: drop it
  await waitFor(() => a.seen.length === 3 && b.seen.length === 3, 'the trimmed bundle');
  assert.equal(splitPemBundle(a.seen[2]!.ca), [newCa]);
  assert.is(a.seen[2]!.cert, rotated.cert);
  await waitFor(() => caBundles()[0] === b64(newCa!), 'the caBundle without the old CA');
});

test('the holder stopping hands the Lease over; the new holder repairs a deleted Secret', async () => {
  const a = replica('pod-a');
  const b = replica('pod-b');
  await Promise.all([a.tls.start(), b.tls.start()]);
  const [holder, other] = a.tls.isHolder ? [a, b] : [b, a];
  await holder.tls.stop();
  assert.is(stub.get(LEASES, LEASE)!.spec.holderIdentity, '', 'released');
  await waitFor(() => other.tls.isHolder, 'the other replica to take over');

  stub.remove(SECRETS, 'supersonic-webhook-tls');
  await waitFor(() => other.seen.length === 2, 'a new certificate');
  assert.is(secretData('tls.crt'), other.seen[1]!.cert);
  await waitFor(() => caBundles()[0] === b64(other.seen[1]!.ca), 'the caBundle for the new CA');
});

test('a crashed holder is replaced only after its Lease stops changing, whatever its renewTime says', async () => {
  // The ghost's clock is 26 years behind: renewTime alone would call the Lease long expired.
  const ghost = { metadata: { name: LEASE, namespace: NS }, spec: { holderIdentity: 'ghost', leaseDurationSeconds: 1, renewTime: '2000-01-01T00:00:00.000000Z' } };
  stub.put(LEASES, ghost);
  const b = replica('pod-b');
  const started = b.tls.start();
  const leaseReads = () => count(/^GET \/apis\/coordination/);
  // While the ghost keeps renewing, pod-b must wait.
  const target = leaseReads() + 10;
  while (leaseReads() < target) {
    stub.put(LEASES, ghost);
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  assert.not.ok(b.tls.isHolder);
  assert.is(stub.get(SECRETS, 'supersonic-webhook-tls'), undefined);
  // The ghost is gone: pod-b takes over after one lease duration and creates the certificate.
  const bundle = await started;
  assert.ok(b.tls.isHolder);
  assert.is(stub.get(LEASES, LEASE)!.spec.holderIdentity, 'pod-b');
  assert.is(stub.get(LEASES, LEASE)!.spec.leaseTransitions, 1);
  assert.is(secretData('tls.crt'), bundle.cert);
});

test('an API server that is down for a while is retried with backoff, logged, and never fatal', async () => {
  let up = false;
  const proxy: Server = createServer((req, res) => {
    if (!up) return res.socket?.destroy(); // connection reset, like an unreachable API server
    const target = new URL(stub.url);
    const upstream = httpRequest({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  try {
    const a = replica('pod-a', {}, `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`);
    const started = a.tls.start();
    await waitFor(() => a.logs.filter((l) => l.level === 'warn').length >= 3, 'failures to be logged');
    assert.is(a.seen.length, 0);
    up = true;
    const bundle = await started;
    assert.is(secretData('tls.crt'), bundle.cert);
    assert.equal(a.logs.filter((l) => l.level === 'error'), []);
  } finally {
    proxy.closeAllConnections();
    proxy.close();
  }
});

test('options that would renew on every check are refused', () => {
  assert.throws(() => replica('pod-a', { certValidityDays: 3, renewBeforeDays: 3 }), /renewBeforeDays/);
});

test.run();
