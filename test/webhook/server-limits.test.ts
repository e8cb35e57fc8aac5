/**
 * The server limits (webhook/src/server-limits.ts), one at a time, on the webhook's own app
 * served over HTTPS on 127.0.0.1 with small limits, so each shows in a second or two: Node's
 * timeouts close slow clients after `timeoutSeconds`, bodies are bounded one by one and
 * together, and the connection cap makes room by closing the connection idle or slow the
 * longest, never one being answered. test/webhook/denial-of-service.test.ts runs the real
 * process under the chart's memory limit against thousands of such clients.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { connect as connectTcp, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../webhook/src/app.ts';
import { createWebhookMetrics } from '../../webhook/src/metrics.ts';
import { BODY_LIMIT, KEEP_ALIVE_TIMEOUT_MS, SMALL_BODY } from '../../webhook/src/server-limits.ts';
import { createCertificateAuthority, createServingCertificate, DAY_MS } from '../../webhook/src/tls/certificates.ts';
import type { PodMutationDeps } from '../../webhook/src/admission/mutate-pod.ts';
import { FIXTURES, testConfig, testDeps } from '../helpers/webhook.ts';
import { httpsCall } from '../helpers/webhook-process.ts';

const MiB = 2 ** 20;
const REVIEW = readFileSync(join(FIXTURES, 'create-gpu-profile', 'review.json'), 'utf8');
/** A pod asking for CVMFS: its answer waits for the claim lookup, which a test can hold. */
const CVMFS_REVIEW = readFileSync(join(FIXTURES, 'create-cvmfs-auth', 'review.json'), 'utf8');

interface Served {
  app: FastifyInstance;
  port: number;
  ca: string;
  close(): Promise<void>;
}

let pair: { key: string; cert: string; ca: string } | undefined;
async function servingPair() {
  if (!pair) {
    const authority = await createCertificateAuthority();
    const serving = await createServingCertificate(authority, { dnsNames: ['localhost'], validityMs: DAY_MS });
    pair = { key: serving.key, cert: serving.cert, ca: authority.cert };
  }
  return pair;
}

/** The app over HTTPS with the chart's defaults, changed by `limits`. */
async function serve(limits: { timeoutSeconds?: number; maxConnections?: number; maxBodyMiBInFlight?: number }, deps: Partial<PodMutationDeps> = {}): Promise<Served> {
  const config = testConfig();
  config.values.timeoutSeconds = limits.timeoutSeconds ?? config.values.timeoutSeconds;
  config.values.limits.maxConnections = limits.maxConnections ?? config.values.limits.maxConnections;
  config.values.limits.maxBodyMiBInFlight = limits.maxBodyMiBInFlight ?? config.values.limits.maxBodyMiBInFlight;
  const { key, cert, ca } = await servingPair();
  const app = buildApp({ https: { key, cert }, metrics: createWebhookMetrics(), ready: () => true, deps: { ...testDeps(config), ...deps } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as { port: number }).port;
  return {
    app,
    port,
    ca,
    // The clients' sockets first: a server without the limits would wait for them for ever.
    close: () => {
      for (const socket of clients) socket.destroy();
      clients.clear();
      return app.close();
    },
  };
}

/** Every client socket a test opened, destroyed when its server closes. */
const clients = new Set<Socket>();

/** A TLS connection that has sent `text`; resolves once the handshake is done. */
type Client = TLSSocket & { answer: () => string; gone: Promise<number> };

function openTls(port: number, text = ''): Promise<Client> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let answer = '';
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false }, () => {
      if (text) socket.write(text);
      resolve(Object.assign(socket, { answer: () => answer, gone }));
    });
    clients.add(socket);
    const gone = new Promise<number>((done) => socket.on('close', () => done(Date.now() - started)));
    socket.on('data', (chunk) => (answer += chunk));
    socket.on('error', (err) => (socket.connecting ? reject(err) : undefined));
  });
}

/** Resolves with the milliseconds until `socket` closes, or rejects after `ms`. */
function closesWithin(socket: { gone: Promise<number> }, ms: number, what: string): Promise<number> {
  return Promise.race([socket.gone, new Promise<number>((_, reject) => setTimeout(() => reject(new Error(`${what} still open after ${ms} ms`)), ms))]);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const limits = suite('webhook server limits');

limits('Node\'s timeouts are the registration\'s: handshake, headers and request within timeoutSeconds; idle keep-alive longer than the API server\'s 90 s', async () => {
  const served = await serve({ timeoutSeconds: 7 });
  try {
    const server = served.app.server as typeof served.app.server & { headersTimeout: number; requestTimeout: number; keepAliveTimeout: number };
    assert.is(server.requestTimeout, 7000);
    assert.is(server.headersTimeout, 7000);
    assert.ok(server.keepAliveTimeout > 90_000, `keepAliveTimeout ${server.keepAliveTimeout} ms`);
    assert.is(server.keepAliveTimeout, KEEP_ALIVE_TIMEOUT_MS);
  } finally {
    await served.close();
  }
});

limits('a client that trickles its headers, or its body, is closed after timeoutSeconds (408)', async () => {
  const served = await serve({ timeoutSeconds: 1 });
  try {
    const headers = await openTls(served.port, 'POST /mutate HTTP/1.1\r\nHost: webhook\r\nX-Slow: ');
    const body = await openTls(served.port, `POST /mutate HTTP/1.1\r\nHost: webhook\r\nContent-Type: application/json\r\nContent-Length: ${REVIEW.length}\r\n\r\n`);
    const drip = setInterval(() => {
      if (!headers.destroyed) headers.write('a');
      if (!body.destroyed) body.write(' ');
    }, 200);
    try {
      // Node checks once a second: closed between 1 and about 2 s, not never.
      for (const [socket, what] of [[headers, 'slow headers'], [body, 'slow body']] as const) {
        const ms = await closesWithin(socket, 4000, what);
        assert.ok(ms >= 900, `${what} closed after ${ms} ms, before the timeout`);
        assert.match(socket.answer(), /^HTTP\/1\.1 408/, `${what}: ${socket.answer().slice(0, 80)}`);
      }
    } finally {
      clearInterval(drip);
    }
  } finally {
    await served.close();
  }
});

limits('a connection that never starts its TLS handshake, or never sends a request, is closed after timeoutSeconds', async () => {
  const served = await serve({ timeoutSeconds: 1 });
  try {
    const tcp: Socket = connectTcp(served.port, '127.0.0.1');
    clients.add(tcp);
    const tcpClosed = new Promise<number>((resolve) => {
      const started = Date.now();
      tcp.on('close', () => resolve(Date.now() - started));
    });
    tcp.on('error', () => {});
    const silent = await openTls(served.port);
    assert.ok((await closesWithin({ gone: tcpClosed }, 4000, 'a connection without a handshake')) >= 900);
    assert.ok((await closesWithin(silent, 4000, 'a TLS connection without a request')) >= 900);
  } finally {
    await served.close();
  }
});

limits(`a body over ${BODY_LIMIT / MiB} MiB is refused unread when its length is declared, and when it is not, as soon as it passes the limit`, async () => {
  const served = await serve({});
  try {
    const agent = new Agent({ ca: served.ca });
    const declared = await openTls(served.port, `POST /mutate HTTP/1.1\r\nHost: webhook\r\nContent-Type: application/json\r\nContent-Length: ${BODY_LIMIT + 1}\r\n\r\n`);
    await closesWithin(declared, 2000, 'a connection declaring a body over the limit');
    assert.match(declared.answer(), /"code":413/);
    assert.match(declared.answer(), /connection: close/i);

    const chunked = await openTls(served.port, 'POST /mutate HTTP/1.1\r\nHost: webhook\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
    const piece = Buffer.alloc(MiB, ' ');
    for (let sent = 0; sent <= BODY_LIMIT && !chunked.destroyed; sent += piece.length) chunked.write(Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]));
    await closesWithin(chunked, 5000, 'a chunked body over the limit');
    assert.match(chunked.answer(), /"code":413/);

    // Just under the limit is read, and answered for what it is.
    const under = JSON.stringify({ ...JSON.parse(REVIEW), padding: ' '.repeat(BODY_LIMIT - REVIEW.length - 100) });
    const { status, text } = await httpsCall(agent, served.port, '/mutate', under);
    assert.is(status, 200);
    assert.is(JSON.parse(text).response.allowed, true, text.slice(0, 200));
    agent.destroy();
  } finally {
    await served.close();
  }
});

limits('bodies in flight are bounded together: past the room a body gets 503 and its connection closes; small reviews keep the last quarter', async () => {
  // 8 MiB in flight: big bodies may hold 6 MiB of it, small ones all 8.
  const served = await serve({ maxBodyMiBInFlight: 8 });
  const agent = new Agent({ ca: served.ca });
  const held: Client[] = [];
  try {
    // Two 3 MiB bodies, each sent but for its last byte, hold 6 MiB (minus two bytes).
    const size = 3 * MiB;
    for (let i = 0; i < 2; i++) {
      const socket = await openTls(served.port, `POST /mutate HTTP/1.1\r\nHost: webhook\r\nContent-Type: application/json\r\nContent-Length: ${size}\r\n\r\n`);
      socket.write(Buffer.alloc(size - 1, ' '));
      held.push(socket);
    }
    await sleep(500);
    const third = await openTls(served.port, `POST /mutate HTTP/1.1\r\nHost: webhook\r\nContent-Type: application/json\r\nContent-Length: ${size}\r\n\r\n`);
    third.write(Buffer.alloc(size, ' '));
    await closesWithin(third, 3000, 'a body past the room');
    assert.match(third.answer(), /^HTTP\/1\.1 503/, third.answer().slice(0, 200));
    assert.match(third.answer(), /retry-after: 1/i);
    // An ordinary review is still answered: small bodies may use the last quarter.
    assert.ok(REVIEW.length < SMALL_BODY);
    const { status, text } = await httpsCall(agent, served.port, '/mutate', REVIEW);
    assert.is(status, 200, text);
    assert.is(JSON.parse(text).response.allowed, true);
    // The held bodies complete and are answered; then the room is free again.
    for (const socket of held) socket.end(' ');
    for (const socket of held) await closesWithin(socket, 3000, 'a held body');
    for (const socket of held) assert.match(socket.answer(), /^HTTP\/1\.1 200/, socket.answer().slice(0, 200));
    const again = await openTls(served.port, `POST /mutate HTTP/1.1\r\nHost: webhook\r\nContent-Type: application/json\r\nContent-Length: ${size}\r\nConnection: close\r\n\r\n`);
    again.end(Buffer.alloc(size, ' '));
    await closesWithin(again, 3000, 'a big body once the room is free');
    assert.match(again.answer(), /^HTTP\/1\.1 200/, again.answer().slice(0, 200));
  } finally {
    for (const socket of held) socket.destroy();
    agent.destroy();
    await served.close();
  }
});

limits('when the connections are full, a new one takes the place of the one idle or slow the longest; one being answered is kept', async () => {
  let releaseClaim: () => void = () => {};
  const claimHeld = new Promise<void>((resolve) => (releaseClaim = resolve));
  const served = await serve({ maxConnections: 16 }, { claimExists: async () => (await claimHeld, true) });
  const sockets: TLSSocket[] = [];
  try {
    // A review whose answer waits on the claim lookup: its connection is being answered.
    const answering = await openTls(served.port, `POST /mutate HTTP/1.1\r\nHost: webhook\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(CVMFS_REVIEW)}\r\n\r\n${CVMFS_REVIEW}`);
    await sleep(200);
    // Then 40 slow clients, oldest first.
    for (let i = 0; i < 40; i++) {
      sockets.push(await openTls(served.port, 'POST /mutate HTTP/1.1\r\nHost: webhook\r\nX-Slow: '));
      await sleep(5);
    }
    await sleep(300);
    const open = sockets.filter((s) => !s.destroyed && !s.closed);
    assert.ok(open.length <= 15, `${open.length} of 40 slow connections still open, with a cap of 16 (one being answered)`);
    assert.ok(open.length >= 10, `only ${open.length} slow connections open: the cap closed more than it had to`);
    // The newest survived, the oldest went.
    assert.ok(!sockets.at(-1)!.destroyed && !sockets.at(-1)!.closed, 'the newest connection was closed');
    assert.ok(sockets[0]!.closed || sockets[0]!.destroyed, 'the oldest slow connection is still open');
    // A real review on a new connection is answered, however full.
    const agent = new Agent({ ca: served.ca });
    const { status } = await httpsCall(agent, served.port, '/mutate', REVIEW);
    agent.destroy();
    assert.is(status, 200);
    // The review being answered kept its connection, and gets its answer.
    assert.ok(!answering.destroyed, 'the connection being answered was closed');
    releaseClaim();
    for (let i = 0; i < 50 && !answering.answer().includes('\r\n\r\n'); i++) await sleep(20);
    assert.match(answering.answer(), /^HTTP\/1\.1 200/);
    assert.match(answering.answer(), /"allowed":true/);
  } finally {
    releaseClaim();
    for (const socket of sockets) socket.destroy();
    await served.close();
  }
});

limits.run();
