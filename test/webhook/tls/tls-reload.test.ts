import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createCertificateAuthority, createServingCertificate, DAY_MS, fingerprint, type PemPair } from '../../../webhook/src/tls/certificates.ts';
import { applySecureContext, watchCertificateFiles } from '#core/tls/reload.ts';
import { get, SERVERNAME, secretVolume, waitFor } from './helpers.ts';

const test = suite('webhook tls: hot reload');

let ca: PemPair;
const leaf = () => createServingCertificate(ca, { dnsNames: [SERVERNAME], validityMs: DAY_MS });

test.before(async () => {
  ca = await createCertificateAuthority();
});

async function listen(pair: PemPair): Promise<{ server: Server; port: number }> {
  const server = createServer({ cert: pair.cert, key: pair.key, minVersion: 'TLSv1.2' }, (_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

test('a kubelet-style ..data swap reaches new handshakes; an open connection keeps working', async () => {
  const first = await leaf();
  const second = await leaf();
  const volume = await secretVolume({ 'tls.crt': first.cert, 'tls.key': first.key });
  const { server, port } = await listen(first);
  const changes: string[] = [];
  const watcher = watchCertificateFiles({
    certFile: volume.path('tls.crt'),
    keyFile: volume.path('tls.key'),
    intervalMs: 20,
    onChange: (pair) => {
      changes.push(fingerprint(pair.cert));
      applySecureContext(server, pair, { minVersion: 'TLSv1.2' });
    },
  });
  const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    await watcher.ready;
    assert.equal(changes, [fingerprint(first.cert)], 'the first pair is delivered once');

    const before = await get(port, ca.cert, keepAlive);
    assert.is(before.fingerprint, fingerprint(first.cert));

    await volume.update({ 'tls.crt': second.cert, 'tls.key': second.key });
    await waitFor(async () => (await get(port, ca.cert, false)).fingerprint === fingerprint(second.cert), 'the new certificate');

    const reused = await get(port, ca.cert, keepAlive);
    assert.ok(reused.reusedSocket, 'same connection as before the rotation');
    assert.is(reused.status, 200);
    assert.is(reused.fingerprint, fingerprint(first.cert), 'an open connection keeps its handshake');
    assert.equal(changes, [fingerprint(first.cert), fingerprint(second.cert)]);
  } finally {
    watcher.close();
    keepAlive.destroy();
    server.close();
    await volume.remove();
  }
});

test('a certificate whose key has not arrived yet is reported and skipped until the pair matches', async () => {
  const first = await leaf();
  const second = await leaf();
  const dir = await mkdtemp(join(tmpdir(), 'tls-files-'));
  const certFile = join(dir, 'tls.crt');
  const keyFile = join(dir, 'tls.key');
  await writeFile(certFile, first.cert);
  await writeFile(keyFile, first.key);
  const delivered: string[] = [];
  const errors: unknown[] = [];
  const watcher = watchCertificateFiles({
    certFile,
    keyFile,
    intervalMs: 60_000, // driven by check() below
    onChange: (pair) => delivered.push(fingerprint(pair.cert)),
    onError: (err) => errors.push(err),
  });
  try {
    await watcher.ready;
    await writeFile(certFile, second.cert); // written by hand, not atomically: the key lags
    assert.is(await watcher.check(), false);
    assert.is(errors.length, 1);
    assert.is(await watcher.check(), false);
    assert.is(errors.length, 1, 'the same bad pair is reported once');
    await writeFile(keyFile, second.key);
    assert.is(await watcher.check(), true);
    assert.equal(delivered, [fingerprint(first.cert), fingerprint(second.cert)]);
    assert.is(await watcher.check(), false, 'unchanged content is not delivered again');
  } finally {
    watcher.close();
    await rm(dir, { recursive: true });
  }
});

test('missing files are reported, not thrown', async () => {
  const errors: unknown[] = [];
  const watcher = watchCertificateFiles({
    certFile: '/nonexistent/tls.crt',
    keyFile: '/nonexistent/tls.key',
    onChange: () => assert.unreachable('nothing to deliver'),
    onError: (err) => errors.push(err),
  });
  await watcher.ready;
  watcher.close();
  assert.is((errors[0] as NodeJS.ErrnoException).code, 'ENOENT');
});

test('applySecureContext keeps the TLS options it is given (setSecureContext resets them)', async () => {
  const first = await leaf();
  const { server, port } = await listen(first);
  try {
    applySecureContext(server, await leaf(), { minVersion: 'TLSv1.3' });
    const tls12Only = new Agent({ maxVersion: 'TLSv1.2' });
    let refused = false;
    await get(port, ca.cert, tls12Only).catch(() => (refused = true));
    assert.ok(refused, 'a TLS 1.2 client is refused after the reload');
    assert.is((await get(port, ca.cert, false)).status, 200);
  } finally {
    server.close();
  }
});

test.run();
