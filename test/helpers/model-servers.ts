/**
 * Stand-ins for the model servers the dispatcher forwards to, on 127.0.0.1 (a free port): one
 * like Hugging Face TGI, one like vLLM's OpenAI server. They answer the routes those servers
 * answer, in their shapes, and have knobs for what the dispatcher must survive: a slow first
 * byte, a stream of N events at an interval, a connection cut after N chunks, a given status
 * (TGI's 429 "Model is overloaded"). Each records the requests it got, so a test can check what
 * the dispatcher forwarded.
 */
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Knobs {
  /** Milliseconds before the status line (the first byte of the answer). */
  delayMs?: number;
  /**
   * Tokens generated (1 by default, 3 for streams): a stream sends one event per token, a JSON
   * answer is written in this many pieces (chunked), so a cut can fall inside it.
   */
  chunks?: number;
  /** Milliseconds between pieces (10 by default). */
  intervalMs?: number;
  /** Destroy the connection after this many pieces (0: after the headers). */
  cutAfter?: number;
  /** Answer every POST with this status and `body` instead. */
  status?: number;
  /** The body of a `status` answer (an object is sent as JSON). */
  body?: unknown;
  /** More headers on a `status` answer (e.g. retry-after). */
  headers?: Record<string, string>;
  /** The status of GET /health (200 by default). */
  healthStatus?: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The body read as JSON, when it is. */
  json?: unknown;
  /** How the exchange ended: the answer sent whole, or the connection closed before that. */
  ended: Promise<'completed' | 'aborted'>;
}

export interface ModelServer {
  /** `http://127.0.0.1:<port>`, what the dispatcher forwards to. */
  url: string;
  port: number;
  /** Every request received, in order. */
  requests: RecordedRequest[];
  /** The knobs in force; change them between requests. */
  knobs: Knobs;
  /** Resolves with the next request received (or the n-th, counting from 1, if already there). */
  nextRequest(n?: number): Promise<RecordedRequest>;
  close(): Promise<void>;
}

type Route = (request: RecordedRequest, res: ServerResponse, knobs: Knobs) => Promise<void>;

/** Like TGI: `POST /` (compat_generate), `/generate`, `/generate_stream` (SSE), `GET /health`. */
export function startTgiServer(knobs: Knobs = {}): Promise<ModelServer> {
  return start(knobs, {
    '/': (request, res, k) => {
      const body = request.json as { inputs?: string; stream?: boolean } | undefined;
      if (body?.stream) return tgiStream(res, k, body.inputs ?? '');
      return json(res, k, [{ generated_text: generated(body?.inputs ?? '', k) }]);
    },
    '/generate': (request, res, k) => json(res, k, { generated_text: generated((request.json as { inputs?: string })?.inputs ?? '', k) }),
    '/generate_stream': (request, res, k) => tgiStream(res, k, (request.json as { inputs?: string })?.inputs ?? ''),
  });
}

/** Like vLLM's OpenAI server: `POST /v1/chat/completions`, `/v1/completions` (SSE when `stream: true`), `GET /health`. */
export function startOpenAiServer(knobs: Knobs = {}): Promise<ModelServer> {
  const route = (kind: 'chat' | 'text'): Route => (request, res, k) => {
    const body = (request.json ?? {}) as { model?: string; stream?: boolean };
    const model = body.model ?? 'unknown';
    if (body.stream) return openAiStream(res, k, kind, model);
    const content = tokens(pieces(k, 1)).join('');
    const choice = kind === 'chat'
      ? { index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }
      : { index: 0, text: content, finish_reason: 'stop' };
    return json(res, k, { id: 'cmpl-1', object: kind === 'chat' ? 'chat.completion' : 'text_completion', created: 0, model, choices: [choice], usage: { prompt_tokens: 1, completion_tokens: pieces(k, 1), total_tokens: 1 + pieces(k, 1) } });
  };
  return start(knobs, { '/v1/chat/completions': route('chat'), '/v1/completions': route('text') });
}

/** The tokens a stand-in generates: "tok0 ", "tok1 ", ... */
export function tokens(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `tok${i} `);
}

function generated(inputs: string, knobs: Knobs): string {
  return `${inputs}${tokens(pieces(knobs, 1)).join('')}`;
}

function pieces(knobs: Knobs, otherwise: number): number {
  return knobs.chunks ?? otherwise;
}

async function start(initial: Knobs, routes: Record<string, Route>): Promise<ModelServer> {
  const requests: RecordedRequest[] = [];
  const waiting: Array<{ n: number; resolve: (request: RecordedRequest) => void }> = [];
  const server: ModelServer = {
    url: '',
    port: 0,
    requests,
    knobs: initial,
    nextRequest(n = requests.length + 1) {
      const there = requests[n - 1];
      return there ? Promise.resolve(there) : new Promise((resolve) => waiting.push({ n, resolve }));
    },
    close: () => new Promise<void>((resolve) => {
      http_.closeAllConnections();
      http_.close(() => resolve());
    }),
  };

  const http_ = http.createServer((req, res) => {
    void handle(req, res).catch(() => res.destroy());
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    let json: unknown;
    try {
      json = body ? JSON.parse(body) : undefined;
    } catch {
      json = undefined;
    }
    const ended = new Promise<'completed' | 'aborted'>((resolve) => {
      res.once('close', () => resolve(res.writableFinished ? 'completed' : 'aborted'));
    });
    const path = (req.url ?? '/').split('?')[0]!;
    const recorded: RecordedRequest = { method: req.method ?? 'GET', path, headers: req.headers, body, ...(json !== undefined ? { json } : {}), ended };
    requests.push(recorded);
    for (const wait of waiting.filter((w) => w.n === requests.length)) {
      waiting.splice(waiting.indexOf(wait), 1);
      wait.resolve(recorded);
    }

    const knobs = { ...server.knobs };
    if (req.method === 'GET' && path === '/health') {
      res.writeHead(knobs.healthStatus ?? 200, { 'content-type': 'text/plain' }).end(knobs.healthStatus && knobs.healthStatus !== 200 ? 'unhealthy' : '');
      return;
    }
    const route = routes[path];
    if (req.method !== 'POST' || !route) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `no route ${req.method} ${path}` }));
      return;
    }
    if (!(await pause(res, knobs.delayMs ?? 0))) return;
    if (knobs.status !== undefined) {
      const text = typeof knobs.body === 'string' ? knobs.body : JSON.stringify(knobs.body ?? { error: `status ${knobs.status}` });
      res.writeHead(knobs.status, { 'content-type': typeof knobs.body === 'string' ? 'text/plain' : 'application/json', 'x-stand-in': 'status', ...knobs.headers }).end(text);
      return;
    }
    await route(recorded, res, knobs);
  }

  await new Promise<void>((resolve) => http_.listen(0, '127.0.0.1', resolve));
  server.port = (http_.address() as AddressInfo).port;
  server.url = `http://127.0.0.1:${server.port}`;
  return server;
}

/** Waits `ms`; false if the connection closed meanwhile (nothing more to write). */
function pause(res: ServerResponse, ms: number): Promise<boolean> {
  if (ms <= 0) return Promise.resolve(!res.destroyed);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      res.off('close', closed);
      resolve(!res.destroyed);
    }, ms);
    const closed = () => {
      clearTimeout(timer);
      resolve(false);
    };
    res.once('close', closed);
  });
}

/**
 * Writes `parts` one by one at the knobs' interval. With `cutAfter`, the connection is
 * destroyed where piece number cutAfter would go (after the interval, so what was written is
 * on the wire), and the body never ends properly even when every piece was written.
 */
async function writeParts(res: ServerResponse, knobs: Knobs, parts: string[]): Promise<void> {
  for (let i = 0; i <= parts.length; i++) {
    if (i > 0 && !(await pause(res, knobs.intervalMs ?? 10))) return;
    if (knobs.cutAfter !== undefined && i === Math.min(knobs.cutAfter, parts.length)) {
      res.socket?.destroy();
      return;
    }
    if (i === parts.length) break;
    res.write(parts[i]);
  }
  res.end();
}

/** A JSON body, written in `chunks` pieces (chunked encoding) when there are several. */
function json(res: ServerResponse, knobs: Knobs, value: unknown): Promise<void> {
  const text = JSON.stringify(value);
  const count = Math.max(1, Math.min(pieces(knobs, 1), text.length));
  if (count === 1 && knobs.cutAfter === undefined) {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
    return Promise.resolve();
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.flushHeaders();
  const size = Math.ceil(text.length / count);
  const parts = Array.from({ length: count }, (_, i) => text.slice(i * size, (i + 1) * size)).filter((part) => part !== '');
  return writeParts(res, knobs, parts);
}

function sseHead(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.flushHeaders();
}

/** TGI's /generate_stream: one `data:` event per token, the last with generated_text. */
function tgiStream(res: ServerResponse, knobs: Knobs, inputs: string): Promise<void> {
  const words = tokens(pieces(knobs, 3));
  const events = words.map((text, i) => {
    const last = i === words.length - 1;
    const event = { index: i, token: { id: i, text, logprob: 0, special: false }, generated_text: last ? `${inputs}${words.join('')}` : null, details: null };
    return `data: ${JSON.stringify(event)}\n\n`;
  });
  sseHead(res);
  return writeParts(res, knobs, events);
}

/** OpenAI's stream: `data: {chunk}` events, then `data: [DONE]`. */
function openAiStream(res: ServerResponse, knobs: Knobs, kind: 'chat' | 'text', model: string): Promise<void> {
  const events = tokens(pieces(knobs, 3)).map((text, i) => {
    const choice = kind === 'chat' ? { index: 0, delta: i === 0 ? { role: 'assistant', content: text } : { content: text }, finish_reason: null } : { index: 0, text, finish_reason: null };
    return `data: ${JSON.stringify({ id: 'cmpl-1', object: kind === 'chat' ? 'chat.completion.chunk' : 'text_completion', created: 0, model, choices: [choice] })}\n\n`;
  });
  events.push('data: [DONE]\n\n');
  sseHead(res);
  return writeParts(res, knobs, events);
}
