/**
 * Rotation under load loses zero requests: a real HTTPS server on 127.0.0.1 reloads its
 * certificate from a Secret-volume-like directory twice while clients keep sending requests over
 * kept-alive connections and fresh ones. Bounded by a request cap and a time cap, not by speed.
 */
import { Agent, createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { applySecureContext, watchCertificateFiles } from '#core/tls/reload.ts';
import { createCertificateAuthority, createServingCertificate, DAY_MS, fingerprint } from '../../../webhook/src/tls/certificates.ts';
import { get, SERVERNAME, secretVolume, waitFor } from './helpers.ts';

const test = suite('webhook tls: rotation under load');

const MIN_REQUESTS = 2000;
const MAX_REQUESTS = 20_000; // hard stop should the rotations somehow never finish
const WORKERS = 8;
const NEW_CONNECTION_EVERY = 5; // every 5th request opens its own connection

test('two rotations during 2000+ requests: every request gets a 200, new connections see each new certificate', async () => {
  const ca = await createCertificateAuthority();
  const certs = await Promise.all([1, 2, 3].map(() => createServingCertificate(ca, { dnsNames: [SERVERNAME], validityMs: DAY_MS })));
  const [first, second, third] = certs as [(typeof certs)[0], (typeof certs)[0], (typeof certs)[0]];
  const volume = await secretVolume({ 'tls.crt': first.cert, 'tls.key': first.key });
  const server = createServer({ cert: first.cert, key: first.key }, (_req, res) => res.end('ok'));
  server.keepAliveTimeout = 60_000; // no idle-close races with the client pool during the test
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const watcher = watchCertificateFiles({
    certFile: volume.path('tls.crt'),
    keyFile: volume.path('tls.key'),
    intervalMs: 20,
    onChange: (pair) => applySecureContext(server, pair),
  });
  const pool = new Agent({ keepAlive: true, maxSockets: 4 });

  let sent = 0;
  let ok = 0;
  const failures: string[] = [];
  const seenOnNewConnections = new Set<string>();
  let rotationsDone = false;

  async function worker(): Promise<void> {
    while (sent < MAX_REQUESTS && (sent < MIN_REQUESTS || !rotationsDone)) {
      const fresh = ++sent % NEW_CONNECTION_EVERY === 0;
      try {
        const probe = await get(port, ca.cert, fresh ? false : pool);
        if (probe.status === 200) ok++;
        else failures.push(`status ${probe.status}`);
        if (fresh) seenOnNewConnections.add(probe.fingerprint);
      } catch (err) {
        failures.push(String(err));
      }
    }
  }

  async function rotate(to: typeof first, after: number): Promise<number> {
    await waitFor(() => sent >= after || failures.length > 0, `${after} requests`, 60_000);
    await volume.update({ 'tls.crt': to.cert, 'tls.key': to.key });
    await waitFor(async () => (await get(port, ca.cert, false)).fingerprint === fingerprint(to.cert), 'the reload', 60_000);
    return sent;
  }

  try {
    await watcher.ready;
    const load = Promise.all(Array.from({ length: WORKERS }, worker));
    const rotations = (async () => {
      const firstDoneAt = await rotate(second, 400);
      await rotate(third, firstDoneAt + 400);
      rotationsDone = true;
    })();
    await Promise.all([load, rotations]);

    assert.equal(failures, []);
    assert.is(ok, sent);
    assert.ok(sent >= MIN_REQUESTS && sent < MAX_REQUESTS, `sent ${sent}`);
    for (const cert of [first, second, third]) {
      assert.ok(seenOnNewConnections.has(fingerprint(cert.cert)), 'each certificate served new connections under load');
    }
    assert.is((await get(port, ca.cert, false)).fingerprint, fingerprint(third.cert), 'after the rotations: the newest');
  } finally {
    watcher.close();
    pool.destroy();
    server.close();
    await volume.remove();
  }
});

test.run();
