/**
 * The real webhook process with self-managed TLS, on Node 24 as the image runs it: it makes its
 * CA and serving certificate, keeps them in the Secret, writes the registration's caBundle, and
 * serves /mutate with a certificate that a client trusting that caBundle accepts for the
 * Service's DNS name, as the API server will.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
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

process_.run();
