/**
 * Forwarding to a model server (dispatcher/src/proxy/forward.ts), over real HTTP on
 * 127.0.0.1: a small fastify app forwards to the stand-ins of test/helpers/model-servers.ts,
 * and the tests call it as a client would. The model server's answer passes as it is (status,
 * body, events one by one); what goes wrong becomes 502/504 JSON before an answer and a clean
 * end (events) or a broken body (anything else) during one.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { createUpstreamAgent, forward, type ForwardOptions, type ForwardTimings } from '../../dispatcher/src/proxy/forward.ts';
import { parseRequest } from '../../dispatcher/src/request/parse-request.ts';
import { startOpenAiServer, startTgiServer, tokens, type ModelServer } from '../helpers/model-servers.ts';
import { freePort } from '../helpers/ports.ts';

interface Proxy {
  url: string;
  timings: ForwardTimings[];
  /** Resolves with the timings of the n-th exchange (from 1) once it is over. */
  exchange(n: number): Promise<ForwardTimings>;
  close(): Promise<void>;
}

type Settings = Partial<Pick<ForwardOptions, 'responseStartTimeoutMs' | 'totalTimeoutMs'>>;

/**
 * A dispatcher reduced to forwarding: POST /raw/* sends the body as it is to the same path on
 * `target`; any other POST is read by parseRequest and sent where it says.
 */
async function startProxy(target: () => string, settings: Settings = {}): Promise<Proxy> {
  const agent = createUpstreamAgent({ maxSockets: 8 });
  const timings: ForwardTimings[] = [];
  const waiting = new Map<number, (t: ForwardTimings) => void>();
  // forceCloseConnections: close() also drops connections fetch opened and never used, which
  // Node counts as active (so not idle) until its headers timeout, a minute later.
  const app: FastifyInstance = Fastify({ logger: false, requestIdHeader: 'x-request-id', forceCloseConnections: true });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  const options = (requestId: string, upstream: ForwardOptions['upstream']): ForwardOptions => ({
    baseUrl: target(),
    modelId: 'test/model',
    requestId,
    upstream,
    agent,
    responseStartTimeoutMs: settings.responseStartTimeoutMs ?? 5000,
    totalTimeoutMs: settings.totalTimeoutMs ?? 10_000,
    onTimings: (t) => {
      timings.push(t);
      waiting.get(timings.length)?.(t);
    },
  });
  app.post('/raw/*', async (request, reply) => {
    const path = request.url.slice('/raw'.length);
    await forward(reply, options(request.id, { path, body: request.body as Buffer, accept: String(request.headers.accept ?? 'application/json') }));
    return reply;
  });
  app.post('/*', async (request, reply) => {
    const parsed = parseRequest({ path: request.url, body: request.body }, { allowed: [], secret: ['HF_TOKEN'] });
    if (!parsed.ok) return reply.code(parsed.status).send({ error: parsed.error });
    await forward(reply, options(request.id, parsed.request.upstream));
    return reply;
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    timings,
    exchange: (n) => (timings[n - 1] ? Promise.resolve(timings[n - 1]!) : new Promise((resolve) => waiting.set(n, resolve))),
    close: async () => {
      await app.close();
      agent.destroy();
    },
  };
}

function post(url: string, body: unknown, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
}

/** The body as the chunks the client received, in order. */
async function readChunks(response: Response): Promise<string[]> {
  const chunks: string[] = [];
  const decoder = new TextDecoder();
  const reader = response.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(decoder.decode(value, { stream: true }));
  }
  return chunks;
}

/** The `data:` payloads and event names of an event stream. */
function events(text: string): Array<{ event?: string; data: string }> {
  return text.split('\n\n').filter((block) => block.trim() !== '').map((block) => {
    const lines = block.split('\n');
    const event = lines.find((line) => line.startsWith('event: '))?.slice('event: '.length);
    const data = lines.filter((line) => line.startsWith('data: ')).map((line) => line.slice('data: '.length)).join('\n');
    return event ? { event, data } : { data };
  });
}

interface Context {
  tgi: ModelServer;
  openai: ModelServer;
  proxy: Proxy;
  target: string;
}

/** Both stand-ins and a proxy in front of them for the whole suite, knobs reset before each test. */
function withStandIns(test: ReturnType<typeof suite<Context>>, proxyOptions?: Settings): void {
  test.before(async (context) => {
    context.tgi = await startTgiServer();
    context.openai = await startOpenAiServer();
    context.target = context.tgi.url;
    context.proxy = await startProxy(() => context.target, proxyOptions);
  });
  test.after(async ({ tgi, openai, proxy }) => {
    await proxy.close();
    await tgi.close();
    await openai.close();
  });
  test.before.each((context) => {
    context.tgi.knobs = {};
    context.openai.knobs = {};
    context.target = context.tgi.url;
  });
}

const forwarding = suite<Context>('dispatcher forward: answers pass through');
withStandIns(forwarding);

forwarding('a plain answer: the same status and body; x-request-id, content-type and accept reach the model server', async ({ tgi, proxy }) => {
  const direct = await post(`${tgi.url}/generate`, { inputs: 'Hi ' });
  const expected = await direct.text();
  const before = tgi.requests.length;
  const response = await post(`${proxy.url}/raw/generate`, { inputs: 'Hi ' }, { 'x-request-id': 'req-123', accept: 'application/json' });
  assert.is(response.status, 200);
  assert.is(await response.text(), expected);
  assert.is(response.headers.get('content-type'), 'application/json');
  assert.is(response.headers.get('x-request-id'), 'req-123');
  const got = tgi.requests[before]!;
  assert.is(got.path, '/generate');
  assert.is(got.headers['x-request-id'], 'req-123');
  assert.is(got.headers['content-type'], 'application/json');
  assert.is(got.headers.accept, 'application/json');
  assert.equal(got.json, { inputs: 'Hi ' });
  const timings = proxy.timings.at(-1)!;
  assert.is(timings.outcome, 'ok');
  assert.is(timings.status, 200);
  assert.ok(timings.responseStartMs !== undefined && timings.firstByteMs !== undefined && timings.totalMs >= timings.firstByteMs);
  assert.is(timings.bytes, Buffer.byteLength(expected));
});

forwarding('an SSIS body is parsed and sent as TGI\'s { inputs, parameters }', async ({ tgi, proxy }) => {
  const before = tgi.requests.length;
  const response = await post(proxy.url, { token: 'Deep ', par: { max_new_tokens: '3' }, env: { MODEL_ID: 'openai-community/gpt2' } });
  assert.is(response.status, 200);
  assert.equal(await response.json(), [{ generated_text: `Deep ${tokens(1).join('')}` }]);
  assert.equal(tgi.requests[before]!.json, { inputs: 'Deep ', parameters: { max_new_tokens: 3 } });
  assert.is(tgi.requests[before]!.path, '/');
});

forwarding('429 from the model server passes through with its body; hop-by-hop headers do not', async ({ tgi, proxy }) => {
  // x-hop is named by Connection: hop-by-hop, for this one connection only.
  tgi.knobs = { status: 429, body: { error: 'Model is overloaded', error_type: 'overloaded' }, headers: { 'retry-after': '1', connection: 'x-hop', 'x-hop': 'local', 'proxy-authenticate': 'Basic' } };
  const response = await post(`${proxy.url}/raw/generate`, { inputs: 'x' });
  assert.is(response.status, 429);
  assert.equal(await response.json(), { error: 'Model is overloaded', error_type: 'overloaded' });
  assert.is(response.headers.get('x-stand-in'), 'status');
  assert.is(response.headers.get('retry-after'), '1');
  assert.is(response.headers.get('x-hop'), null);
  assert.is(response.headers.get('proxy-authenticate'), null);
  assert.is(proxy.timings.at(-1)!.upstreamStatus, 429);
  assert.is(proxy.timings.at(-1)!.outcome, 'ok');
});

forwarding('TGI events arrive as separate chunks, in order, and the stream ends cleanly', async ({ tgi, proxy }) => {
  tgi.knobs = { chunks: 5, intervalMs: 30 };
  const response = await post(proxy.url, { token: 'Hi ', env: { MODEL_ID: 'm' }, subroute: '/generate_stream' });
  assert.is(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', 'text/event-stream');
  assert.is(response.headers.get('x-accel-buffering'), 'no');
  const chunks = await readChunks(response);
  assert.ok(chunks.length > 1, `one chunk only: ${JSON.stringify(chunks)}`);
  const received = events(chunks.join('')).map((event) => JSON.parse(event.data) as { index: number; token: { text: string }; generated_text: string | null });
  assert.equal(received.map((event) => event.index), [0, 1, 2, 3, 4]);
  assert.equal(received.map((event) => event.token.text), tokens(5));
  assert.is(received.at(-1)!.generated_text, `Hi ${tokens(5).join('')}`);
  // Every chunk is whole events: none was split.
  for (const chunk of chunks) assert.ok(chunk.endsWith('\n\n'), JSON.stringify(chunk));
  assert.is(tgi.requests.at(-1)!.headers.accept, 'text/event-stream');
});

forwarding('OpenAI chat with stream: true: data chunks then [DONE]', async (context) => {
  const { openai, proxy } = context;
  context.target = openai.url;
  openai.knobs = { chunks: 4, intervalMs: 20 };
  const body = { model: 'meta-llama/Llama-3.1-8B-Instruct', messages: [{ role: 'user', content: 'hi' }], stream: true };
  const response = await post(`${proxy.url}/v1/chat/completions`, body);
  assert.is(response.status, 200);
  const chunks = await readChunks(response);
  assert.ok(chunks.length > 1, `one chunk only: ${JSON.stringify(chunks)}`);
  const received = events(chunks.join(''));
  assert.is(received.at(-1)!.data, '[DONE]');
  const deltas = received.slice(0, -1).map((event) => (JSON.parse(event.data) as { choices: Array<{ delta: { content: string } }> }).choices[0]!.delta.content);
  assert.equal(deltas, tokens(4));
  // The body went verbatim to the same path.
  assert.is(openai.requests.at(-1)!.path, '/v1/chat/completions');
  assert.equal(openai.requests.at(-1)!.json, body);
});

const failures = suite<Context>('dispatcher forward: failures');

withStandIns(failures, { responseStartTimeoutMs: 300, totalTimeoutMs: 1500 });

failures('a stream cut mid-way: the events before it, then one error event, then a clean end', async ({ tgi, proxy }) => {
  tgi.knobs = { chunks: 6, intervalMs: 20, cutAfter: 2 };
  const response = await post(proxy.url, { token: 'x', env: { MODEL_ID: 'm' }, subroute: '/generate_stream' });
  assert.is(response.status, 200);
  const text = (await readChunks(response)).join(''); // resolves: the end is clean, not an error
  const received = events(text);
  assert.is(received.length, 3, text);
  assert.equal(received.slice(0, 2).map((event) => (JSON.parse(event.data) as { index: number }).index), [0, 1]);
  assert.is(received[2]!.event, 'error');
  const error = JSON.parse(received[2]!.data) as { error: string; model: string; requestId: string };
  assert.match(error.error, 'closed the connection in the middle of its answer');
  assert.is(error.model, 'test/model');
  assert.ok(error.requestId);
  assert.is(proxy.timings.at(-1)!.outcome, 'cut');
});

failures('half an event when the stream is cut is dropped, not passed on', async (context) => {
  const { proxy } = context;
  // A model server that sends one whole event and half of the next, then dies.
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: {"index":0}\n\ndata: {"ind');
    setTimeout(() => res.socket?.destroy(), 30);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  context.target = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const response = await post(`${proxy.url}/raw/generate_stream`, { inputs: 'x' }, { accept: 'text/event-stream' });
    const received = events((await readChunks(response)).join(''));
    assert.equal(received.map((event) => event.event ?? event.data), ['{"index":0}', 'error']);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

failures('a plain body cut mid-way: the client sees an incomplete body, not a short success', async (context) => {
  const { openai, proxy } = context;
  context.target = openai.url;
  openai.knobs = { chunks: 4, intervalMs: 20, cutAfter: 2 };
  const response = await post(`${proxy.url}/v1/completions`, { model: 'm', prompt: 'hi' });
  assert.is(response.status, 200);
  let error: unknown;
  try {
    await response.text();
  } catch (err) {
    error = err;
  }
  assert.ok(error instanceof Error, 'the body was read as if complete');
  assert.is(proxy.timings.at(-1)!.outcome, 'cut');
});

failures('connection refused: 502 JSON naming the model and request', async (context) => {
  const { proxy } = context;
  context.target = `http://127.0.0.1:${await freePort()}`;
  const response = await post(`${proxy.url}/raw/generate`, { inputs: 'x' }, { 'x-request-id': 'req-refused' });
  assert.is(response.status, 502);
  const body = (await response.json()) as { error: string; model: string; requestId: string };
  assert.match(body.error, 'refused the connection');
  assert.is(body.model, 'test/model');
  assert.is(body.requestId, 'req-refused');
  assert.is(proxy.timings.at(-1)!.outcome, 'unreachable');
});

failures('a name that does not resolve: 502', async (context) => {
  const { proxy } = context;
  context.target = 'http://no-such-model.invalid';
  const response = await post(`${proxy.url}/raw/generate`, { inputs: 'x' });
  assert.is(response.status, 502);
  assert.match(((await response.json()) as { error: string }).error, /did not resolve|could not be reached/);
});

failures('a model server closing the connection before its answer: 502', async ({ tgi, proxy }) => {
  tgi.knobs = { cutAfter: 0, chunks: 2 };
  const response = await post(`${proxy.url}/raw/generate`, { inputs: 'x' });
  assert.is(response.status, 502);
  assert.match(((await response.json()) as { error: string }).error, 'closed the connection before its answer');
});

failures('a slow first byte: 504 JSON, and the model server\'s request is aborted', async ({ tgi, proxy }) => {
  tgi.knobs = { delayMs: 5000 };
  const response = await post(`${proxy.url}/raw/generate`, { inputs: 'x' }, { 'x-request-id': 'req-slow' });
  assert.is(response.status, 504);
  const body = (await response.json()) as { error: string; requestId: string };
  assert.match(body.error, 'did not start answering within 300 ms');
  assert.is(body.requestId, 'req-slow');
  assert.is(await tgi.requests.at(-1)!.ended, 'aborted');
  assert.is(proxy.timings.at(-1)!.outcome, 'start-timeout');
});

failures('over the total timeout mid-stream: the events so far, then an error event', async ({ tgi, proxy }) => {
  tgi.knobs = { chunks: 200, intervalMs: 50 };
  const response = await post(proxy.url, { token: 'x', env: { MODEL_ID: 'm' }, subroute: '/generate_stream' });
  const received = events((await readChunks(response)).join(''));
  assert.ok(received.length < 201, 'the whole stream passed');
  assert.is(received.at(-1)!.event, 'error');
  assert.match(received.at(-1)!.data, 'did not finish within 1.5 s');
  assert.is(await tgi.requests.at(-1)!.ended, 'aborted');
  assert.is(proxy.timings.at(-1)!.outcome, 'total-timeout');
});

failures('a client who goes away mid-stream aborts the model server\'s request', async ({ tgi, proxy }) => {
  tgi.knobs = { chunks: 200, intervalMs: 20 };
  const controller = new AbortController();
  const done = proxy.timings.length + 1;
  const response = await post(proxy.url, { token: 'x', env: { MODEL_ID: 'm' }, subroute: '/generate_stream' }, {}, controller.signal);
  const reader = response.body!.getReader();
  await reader.read(); // the first event arrived
  controller.abort();
  await reader.read().catch(() => undefined);
  assert.is(await tgi.requests.at(-1)!.ended, 'aborted');
  const timings = await proxy.exchange(done);
  assert.is(timings.outcome, 'client-gone');
  assert.is(timings.status, 200);
});

failures('a client who goes away before the answer: the model server\'s request is aborted, the proxy serves on', async ({ tgi, proxy }) => {
  tgi.knobs = { delayMs: 200 };
  const controller = new AbortController();
  const done = proxy.timings.length + 1;
  const next = tgi.nextRequest();
  const pending = post(`${proxy.url}/raw/generate`, { inputs: 'x' }, {}, controller.signal).catch((err: unknown) => err);
  const arrived = await next;
  controller.abort();
  assert.instance(await pending, Error);
  assert.is(await arrived.ended, 'aborted');
  const timings = await proxy.exchange(done);
  assert.is(timings.outcome, 'client-gone');
  assert.is(timings.status, 499);
  tgi.knobs = {};
  assert.is((await post(`${proxy.url}/raw/generate`, { inputs: 'x' })).status, 200);
});

failures('a kept-alive connection the model server dropped is sent again, once, on a new one', async (context) => {
  const { proxy } = context;
  // Answers the first request of each connection, and drops the connection on its second: as a
  // server does that closes an idle connection just as the next request arrives on it.
  const served = new WeakMap<object, number>();
  let received = 0;
  const server = http.createServer((req, res) => {
    received++;
    const count = (served.get(req.socket) ?? 0) + 1;
    served.set(req.socket, count);
    req.resume();
    req.on('end', () => {
      if (count > 1) req.socket.destroy();
      else res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  context.target = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    assert.is((await post(`${proxy.url}/raw/generate`, { inputs: 'x' })).status, 200);
    assert.is(proxy.timings.at(-1)!.retried, false);
    const response = await post(`${proxy.url}/raw/generate`, { inputs: 'x' });
    assert.is(response.status, 200);
    assert.equal(await response.json(), { ok: true });
    assert.is(proxy.timings.at(-1)!.retried, true);
    assert.is(received, 3);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

failures('a status line no HTTP client should get (999): 502, and the proxy serves on', async (context) => {
  const { proxy } = context;
  const server = net.createServer((socket) => {
    socket.once('data', () => socket.end('HTTP/1.1 999 Odd\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  context.target = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const response = await post(`${proxy.url}/raw/generate`, { inputs: 'x' });
    assert.is(response.status, 502);
    assert.match(((await response.json()) as { error: string }).error, 'status 999 is not an HTTP status');
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
  context.target = context.tgi.url;
  assert.is((await post(`${proxy.url}/raw/generate`, { inputs: 'x' })).status, 200);
});

failures('a metrics callback that throws does not break the answer', async ({ tgi }) => {
  const agent = createUpstreamAgent();
  const app = Fastify({ forceCloseConnections: true });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  app.post('/', async (request, reply) => {
    await forward(reply, {
      baseUrl: tgi.url, modelId: 'm', requestId: 'r', agent, responseStartTimeoutMs: 5000, totalTimeoutMs: 5000,
      upstream: { path: '/generate', body: request.body as Buffer },
      onTimings: () => {
        throw new Error('metrics broke');
      },
    });
    return reply;
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  try {
    const response = await post(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}/`, { inputs: 'x' });
    assert.is(response.status, 200);
    assert.ok(await response.json());
  } finally {
    await app.close();
    agent.destroy();
  }
});

forwarding.run();
failures.run();
