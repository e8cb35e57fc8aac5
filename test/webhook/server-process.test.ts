/**
 * The real webhook process with self-managed TLS, on Node 24 as the image runs it: it makes its
 * CA and serving certificate, keeps them in the Secret, writes the registration's caBundle, and
 * serves /mutate with a certificate that a client trusting that caBundle accepts for the
 * Service's DNS name, as the API server will.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { X509Certificate } from 'node:crypto';
import { Agent } from 'node:https';
import { connect } from 'node:tls';
import { join } from 'node:path';
import fastJsonPatch from 'fast-json-patch';
import { FIXTURES } from '../helpers/webhook.ts';
import { CONFIGURATION, httpsCall, imageRuntime, MWCS, SECRETS, startWebhookProcess, TLS_SECRET } from '../helpers/webhook-process.ts';

const process_ = suite('webhook process: self-managed TLS');
const CASE = join(FIXTURES, 'create-several-containers');

process_('makes its CA, stores it, writes the caBundle, and serves a certificate that chains to it', async () => {
  const webhook = await startWebhookProcess(imageRuntime(), { tls: 'self-managed' });
  try {
    const secret = webhook.stub.get(SECRETS, TLS_SECRET);
    assert.equal(Object.keys(secret?.data ?? {}).sort(), ['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    assert.match(webhook.ca, /^-----BEGIN CERTIFICATE-----/);
    const caBundle = webhook.stub.get(MWCS, CONFIGURATION)?.webhooks?.[0]?.clientConfig?.caBundle;
    assert.ok(caBundle, 'no caBundle written');
    assert.ok(Buffer.from(caBundle, 'base64').toString().includes(webhook.ca.trim()), 'the caBundle holds the CA in the Secret');

    // As the API server calls it: trusting only the caBundle, for the Service's DNS name.
    const agent = new Agent({ ca: Buffer.from(caBundle, 'base64').toString() });
    const review = readFileSync(join(CASE, 'review.json'), 'utf8');
    const { status, text } = await httpsCall(agent, webhook.port, '/mutate', review, webhook.servername);
    agent.destroy();
    assert.is(status, 200);
    const patch = JSON.parse(Buffer.from(JSON.parse(text).response.patch, 'base64').toString());
    const patched = fastJsonPatch.applyPatch(JSON.parse(review).request.object, patch, true, false).newDocument;
    assert.equal(patched, JSON.parse(readFileSync(join(CASE, 'patched-pod.json'), 'utf8')));

    // A client that expects another name is refused: the certificate is for the Service only.
    const strict = new Agent({ ca: webhook.ca });
    const wrongName = await httpsCall(strict, webhook.port, '/healthz', undefined, 'example.com').then(() => 'accepted', (err) => String(err));
    strict.destroy();
    assert.match(wrongName, /altnames|ERR_TLS_CERT_ALTNAME_INVALID/);
  } finally {
    await webhook.close();
  }
});

process_('gives a client timeoutSeconds (from its configuration) to send its request, then answers 408 and closes', async () => {
  const webhook = await startWebhookProcess(imageRuntime(), { tls: 'self-managed', editValues: (values) => (values.timeoutSeconds = 1) });
  try {
    const socket = connect({ host: '127.0.0.1', port: webhook.port, servername: webhook.servername, ca: webhook.ca });
    await once(socket, 'secureConnect');
    const started = Date.now();
    socket.write('POST /mutate HTTP/1.1\r\nHost: webhook\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{');
    const drip = setInterval(() => socket.write(' '), 200);
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk));
    const closed = await Promise.race([once(socket, 'close').then(() => Date.now() - started), new Promise<number>((resolve) => setTimeout(() => resolve(-1), 5000))]);
    clearInterval(drip);
    socket.destroy();
    assert.ok(closed >= 900, closed < 0 ? 'a slow request was still open after 5 s' : `closed after ${closed} ms, before timeoutSeconds`);
    assert.match(answer, /^HTTP\/1\.1 408/);
  } finally {
    await webhook.close();
  }
});

/** A TLS handshake with the process: the protocol and suite agreed, or the error. */
async function handshake(port: number, options: Record<string, unknown>): Promise<{ protocol?: string | null; cipher?: string; error?: string }> {
  const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...options });
  try {
    await Promise.race([once(socket, 'secureConnect'), new Promise((_, reject) => setTimeout(() => reject(new Error('handshake timed out')), 5000))]);
    return { protocol: socket.getProtocol(), cipher: socket.getCipher().name };
  } catch (err) {
    return { error: String(err) };
  } finally {
    socket.destroy();
  }
}

process_('TLS: 1.2 and up with Mozilla intermediate suites only, no renegotiation, the same after a certificate reload', async () => {
  const webhook = await startWebhookProcess(imageRuntime(), { tls: 'files', logLevel: 'info' });
  try {
    const check = async (when: string) => {
      assert.is((await handshake(webhook.port, {})).protocol, 'TLSv1.3', when);
      const tls12 = await handshake(webhook.port, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256' });
      assert.is(tls12.protocol, 'TLSv1.2', `${when}: ${tls12.error}`);
      assert.match(tls12.cipher ?? '', /^ECDHE-(RSA|ECDSA)-AES128-GCM-SHA256$/);
      // @SECLEVEL=0 lets this client offer what OpenSSL would not; the server must still refuse.
      const old = await handshake(webhook.port, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0' });
      assert.ok(old.error, `${when}: TLS 1.1 accepted (${old.protocol})`);
      for (const weak of ['AES128-SHA', 'AES128-GCM-SHA256', 'ECDHE-RSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA256', 'ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES128-SHA']) {
        const result = await handshake(webhook.port, { maxVersion: 'TLSv1.2', ciphers: weak });
        assert.ok(result.error, `${when}: TLS 1.2 with ${weak} accepted (${result.cipher})`);
      }
      // A renegotiation the client asks for is refused; the connection is not served again from scratch.
      const socket = connect({ host: '127.0.0.1', port: webhook.port, rejectUnauthorized: false, maxVersion: 'TLSv1.2' });
      await once(socket, 'secureConnect');
      const renegotiated = await new Promise<string>((resolve) => {
        const timer = setTimeout(() => resolve('no answer'), 3000);
        // OpenSSL reports the server's no_renegotiation alert on the socket, not to the callback.
        socket.on('error', (err) => {
          clearTimeout(timer);
          resolve(`refused: ${err.message}`);
        });
        const ok = socket.renegotiate({ rejectUnauthorized: false }, (err) => {
          clearTimeout(timer);
          resolve(err ? `refused: ${err.message}` : 'renegotiated');
        });
        if (!ok) { clearTimeout(timer); resolve('refused locally'); }
      });
      socket.destroy();
      assert.match(renegotiated, /^refused.*no renegotiation/, `${when}: ${renegotiated}`);
    };
    await check('at start');
    // The certificate's expiry, as a metric, follows the certificate in use.
    const expiry = async () => {
      const text = (await httpsCall(new Agent({ rejectUnauthorized: false }), webhook.port, '/metrics')).text;
      return Number(/^supersonic_webhook_certificate_expiry_timestamp_seconds (\S+)$/m.exec(text)?.[1]);
    };
    const expiresAt = (pem: string) => Date.parse(new X509Certificate(pem).validTo) / 1000;
    assert.is(await expiry(), expiresAt(readFileSync(join(webhook.tlsDir, 'tls.crt'), 'utf8')));
    // A new certificate (as cert-manager renews it) must not reset the policy (setSecureContext starts from nothing).
    const { createCertificateAuthority, createServingCertificate, DAY_MS } = await import('../../webhook/src/tls/certificates.ts');
    const authority = await createCertificateAuthority();
    const serving = await createServingCertificate(authority, { dnsNames: ['localhost'], validityMs: 3 * DAY_MS });
    const dir = webhook.tlsDir;
    writeFileSync(join(dir, 'tls.key'), serving.key);
    writeFileSync(join(dir, 'tls.crt'), serving.cert);
    const deadline = Date.now() + 20_000;
    while (!webhook.logs().includes('serving certificate reloaded') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
    assert.ok(webhook.logs().includes('serving certificate reloaded'), 'the new certificate was not picked up');
    await check('after a reload');
    assert.is(await expiry(), expiresAt(serving.cert));
  } finally {
    await webhook.close();
  }
});

process_('every line the process writes on start, to stdout and stderr, is JSON', async () => {
  for (const tls of ['files', 'self-managed'] as const) {
    const webhook = await startWebhookProcess(imageRuntime(), { tls, logLevel: 'info' });
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const lines = (webhook.logs() + webhook.stderr()).split('\n').filter((line) => line.trim() !== '');
      assert.ok(lines.some((line) => line.includes('"serving"')), `${tls}: no "serving" line`);
      for (const line of lines) {
        let parsed: unknown;
        try { parsed = JSON.parse(line); } catch { assert.unreachable(`${tls}: not JSON: ${line}`); }
        assert.type(parsed, 'object');
      }
    } finally {
      await webhook.close();
    }
  }
});

process_.run();
