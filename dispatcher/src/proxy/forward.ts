/**
 * Forwarding one request to a model server and its answer back to the caller, through a
 * fastify reply: the model server's own status, headers (less hop-by-hop ones) and body, the
 * body passed on chunk by chunk as it arrives, so server-sent events reach the caller one by
 * one. (SSIS-Dispatcher only logged the answer; the caller got a 202 and nothing else.)
 *
 * What goes wrong is answered, never thrown: an unreachable model server is a 502, no answer
 * in time a 504, both as JSON `{ error, model, requestId }`. Once the answer has begun its
 * status is sent and cannot change, so a model server that dies mid-answer ends a stream of
 * events with a last `event: error` and a clean end, and any other body by breaking the
 * connection, so the caller sees an incomplete body rather than a short one that looks whole.
 * A caller who goes away aborts the request to the model server (a generation nobody reads
 * would hold its GPU to the end).
 *
 * Use in a fastify handler (the reply is sent by forward(); the handler returns it):
 *   async (request, reply) => { await forward(reply, options); return reply; }
 */
import http from 'node:http';
import { PassThrough } from 'node:stream';
import type { FastifyReply } from 'fastify';
import { clip } from '#core/text/quote.ts';

export interface ForwardOptions {
  /** The model server: `http://<name>.<ns>.svc.cluster.local` in a cluster (a path prefix is kept). */
  baseUrl: string;
  /** For error answers and logs. */
  modelId: string;
  /** Sent as x-request-id to the model server, and back to the caller. */
  requestId: string;
  /**
   * What to send (parseRequest's `upstream` fits). Whether the answer is an event stream is
   * read from the model server's content-type, not from what was asked: a stream request
   * refused with a JSON 429 is passed on as JSON.
   */
  upstream: {
    /** Path on the model server, starting with '/'. */
    path: string;
    body: Buffer | string;
    accept?: string;
  };
  /** Keep-alive agent with bounded sockets (createUpstreamAgent), shared by all requests. */
  agent: http.Agent;
  /** Longest wait for the model server's status line, from the start (Knative's responseStartTimeoutSeconds). */
  responseStartTimeoutMs: number;
  /** Longest whole exchange, streaming included (Knative's timeoutSeconds). */
  totalTimeoutMs: number;
  /** More headers for the model server (e.g. traceparent). */
  headers?: Record<string, string>;
  /** Called once, when the exchange is over, with what happened and how long it took. */
  onTimings?: (timings: ForwardTimings) => void;
}

export type ForwardOutcome =
  /** The model server's whole answer reached the caller (whatever its status). */
  | 'ok'
  /** No connection, no address, or the connection closed before an answer: 502. */
  | 'unreachable'
  /** No status line within responseStartTimeoutMs: 504. */
  | 'start-timeout'
  /** Over totalTimeoutMs: 504 before the answer began, else the answer was cut. */
  | 'total-timeout'
  /** The model server closed the connection mid-answer. */
  | 'cut'
  /** The caller went away first. */
  | 'client-gone';

export interface ForwardTimings {
  outcome: ForwardOutcome;
  /** The status the caller got (the model server's, or 502/504; 499 when the caller left before any). */
  status: number;
  /** The model server's status, when it answered. */
  upstreamStatus?: number;
  /** Milliseconds to the model server's status line and headers. */
  responseStartMs?: number;
  /** Milliseconds to the first byte of the model server's body (time to first token, when streamed). */
  firstByteMs?: number;
  /** Milliseconds of the whole exchange. */
  totalMs: number;
  /** Body bytes received from the model server. */
  bytes: number;
  /** Whether the request was sent again after a kept-alive connection turned out closed. */
  retried: boolean;
}

export interface AgentOptions {
  /** Connections per model server (Knative's activator or the pod behind it). */
  maxSockets?: number;
  /** Connections to all model servers together. */
  maxTotalSockets?: number;
  /** Idle connections kept per model server. */
  maxFreeSockets?: number;
  /**
   * How long an idle connection is kept. Below the model servers' own keep-alive timeout
   * (uvicorn's, vLLM's server, is 5 s) so that we close idle connections before they do, and
   * rarely send on one they are closing.
   */
  idleTimeoutMs?: number;
}

/** The one agent the dispatcher reaches model servers with: keep-alive, bounded sockets. */
export function createUpstreamAgent(options: AgentOptions = {}): http.Agent {
  return new http.Agent({
    keepAlive: true,
    maxSockets: options.maxSockets ?? 256,
    maxTotalSockets: options.maxTotalSockets ?? 1024,
    maxFreeSockets: options.maxFreeSockets ?? 32,
    // Node's agent destroys an idle (free) socket on this timeout; on a socket in use it only
    // emits 'timeout', which nothing here listens to: long generations are bounded by ours.
    timeout: options.idleTimeoutMs ?? 4000,
    // The most recently used connection first, so the others go idle and are closed.
    scheduling: 'lifo',
  });
}

// RFC 9110 §7.6.1: meaningful for one connection only, never passed on by a proxy.
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection',
  'te', 'trailer', 'transfer-encoding', 'upgrade',
]);

/** An event stream holds back at most this much of an incomplete event before passing it on. */
const SSE_PENDING_MAX = 1 << 20;

/** The model server and the caller, once: resolves when the caller's answer is over (never rejects). */
export function forward(reply: FastifyReply, options: ForwardOptions): Promise<ForwardTimings> {
  return new Promise<ForwardTimings>((resolve) => {
    const { modelId, requestId } = options;
    const started = performance.now();
    const elapsed = () => Math.round((performance.now() - started) * 10) / 10;
    const res = reply.raw;

    let request: http.ClientRequest | undefined;
    let response: http.IncomingMessage | undefined;
    /** What the caller is being sent, once the answer has begun. */
    let body: PassThrough | undefined;
    let sse = false;
    /** For an event stream: the end of what arrived that is not yet a whole event. */
    let pending: Buffer = Buffer.alloc(0);
    /** Set once the exchange with the model server is decided; later events from it are ignored. */
    let upstreamDone = false;
    let outcome: ForwardOutcome | undefined;
    let status = 0;
    let retried = false;
    let bytes = 0;
    let responseStartMs: number | undefined;
    let firstByteMs: number | undefined;
    let resolved = false;

    const startTimer = setTimeout(guarded(() => {
      if (!response) answerError('start-timeout', 504, `the model server did not start answering within ${seconds(options.responseStartTimeoutMs)}`);
    }), options.responseStartTimeoutMs);
    const totalTimer = setTimeout(guarded(() => {
      const text = `the model server did not finish within ${seconds(options.totalTimeoutMs)}`;
      if (body) cut('total-timeout', text);
      else answerError('total-timeout', 504, text);
    }), options.totalTimeoutMs);

    // 'close' comes after 'finish' when the answer was sent whole, and alone when the caller
    // went away (or the answer was broken off on purpose, below).
    const callerClosed = guarded(onCallerClosed);
    res.once('close', callerClosed);

    let target: { hostname: string; port: string; prefix: string };
    try {
      const url = new URL(options.baseUrl);
      if (url.protocol !== 'http:') throw new Error(`only http: model servers are supported, not ${url.protocol}`);
      target = { hostname: url.hostname.replace(/^\[|\]$/g, ''), port: url.port, prefix: url.pathname.replace(/\/+$/, '') };
    } catch (err) {
      answerError('unreachable', 502, `the model server's address ${JSON.stringify(clip(options.baseUrl, 200))} is not usable: ${message(err)}`);
      return;
    }
    guarded(send)();

    /**
     * `handler`, made safe for an event callback: what it throws (a header Node refuses to
     * write, a status fastify refuses to set) ends this exchange, never the process.
     */
    function guarded<A extends unknown[]>(handler: (...args: A) => void): (...args: A) => void {
      return (...args: A) => {
        try {
          handler(...args);
        } catch (err) {
          try {
            const text = `the model server's answer could not be passed on: ${message(err)}`;
            if (body) cut('cut', text);
            else answerError('unreachable', 502, text);
          } catch {
            res.destroy();
            finish();
          }
        }
      };
    }

    function send(): void {
      const payload = options.upstream.body;
      const sent = http.request({
        agent: options.agent,
        method: 'POST',
        hostname: target.hostname,
        port: target.port || 80,
        path: `${target.prefix}${options.upstream.path}`,
        headers: {
          ...options.headers,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
          accept: options.upstream.accept ?? 'application/json',
          'x-request-id': requestId,
        },
      });
      request = sent;
      sent.on('error', guarded((err: NodeJS.ErrnoException) => {
        if (upstreamDone || request !== sent) return;
        if (response) return; // after the status line, the response reports (onResponseClosed)
        // A kept-alive connection the server closed while idle fails at once, before any
        // answer: sending again, once, on a new connection is Node's documented remedy
        // (reusedSocket), and the only request the model server saw was never answered.
        if (sent.reusedSocket && err.code === 'ECONNRESET' && !retried) {
          retried = true;
          send();
          return;
        }
        answerError('unreachable', 502, unreachableMessage(err, target.hostname));
      }));
      sent.on('response', guarded((incoming: http.IncomingMessage) => {
        if (upstreamDone || request !== sent) {
          incoming.resume();
          return;
        }
        response = incoming;
        responseStartMs = elapsed();
        clearTimeout(startTimer);
        sse = /^text\/event-stream\b/i.test(String(incoming.headers['content-type'] ?? ''));
        incoming.on('data', guarded(onData));
        incoming.on('end', guarded(onEnd));
        incoming.on('error', guarded(() => onResponseClosed()));
        incoming.on('close', guarded(() => onResponseClosed()));
      }));
      sent.end(payload);
    }

    function onData(chunk: Buffer): void {
      if (upstreamDone) return;
      firstByteMs ??= elapsed();
      bytes += chunk.length;
      if (!body) begin();
      const out = sse ? completeEvents(chunk) : chunk;
      if (out.length > 0) write(out);
    }

    function onEnd(): void {
      if (upstreamDone) return;
      upstreamDone = true;
      outcome = 'ok';
      if (!body) begin();
      if (pending.length > 0) write(pending);
      pending = Buffer.alloc(0);
      body!.end();
    }

    /** The model server's response closed: fine after 'end', a cut before it. */
    function onResponseClosed(): void {
      if (upstreamDone || response?.complete) return;
      if (body) cut('cut', 'the model server closed the connection in the middle of its answer');
      else answerError('unreachable', 502, 'the model server closed the connection before its answer');
    }

    /** The answer begins: the model server's status and headers, then a body fed as it arrives. */
    function begin(): void {
      const incoming = response!;
      const code = incoming.statusCode ?? 0;
      // Node reads any three digits as a status, and fastify sets only 100-599; a 1xx here is
      // no final answer either (Node reports 100 and 103 apart, and nothing is upgraded).
      if (code < 200 || code > 599) throw new Error(`status ${code} is not an HTTP status`);
      status = code;
      reply.code(status);
      // Headers the Connection header names are hop-by-hop too.
      const listed = new Set(String(incoming.headers.connection ?? '').toLowerCase().split(',').map((name) => name.trim()));
      for (const [name, value] of Object.entries(incoming.headers)) {
        if (value === undefined || HOP_BY_HOP.has(name) || listed.has(name)) continue;
        // An event stream may end with an error event of ours: its length is not the server's.
        if (sse && name === 'content-length') continue;
        reply.header(name, value);
      }
      reply.header('x-request-id', requestId);
      if (sse) {
        // No proxy in between (nginx, an ingress) may hold events back, nor any cache keep them.
        reply.header('cache-control', 'no-cache');
        reply.header('x-accel-buffering', 'no');
        res.socket?.setNoDelay(true);
      }
      body = new PassThrough();
      reply.send(body);
    }

    function write(chunk: Buffer): void {
      if (!body || body.destroyed) return;
      // Backpressure: a slow caller pauses the model server's stream rather than filling memory.
      if (!body.write(chunk) && response && !response.isPaused()) {
        response.pause();
        body.once('drain', () => response?.resume());
      }
    }

    /**
     * The whole events of what arrived, keeping an incomplete one back until its end comes, so
     * a stream cut mid-event never passes on half an event (which would reach the caller as a
     * broken `data:` line just before our error event).
     */
    function completeEvents(chunk: Buffer): Buffer {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      let end = 0;
      for (const boundary of ['\n\n', '\r\r', '\r\n\r\n']) {
        const at = pending.lastIndexOf(boundary);
        if (at >= 0) end = Math.max(end, at + boundary.length);
      }
      if (end === 0 && pending.length <= SSE_PENDING_MAX) return Buffer.alloc(0);
      if (end === 0) end = pending.length; // an event this large is passed on as it is
      const out = pending.subarray(0, end);
      pending = pending.subarray(end);
      return out;
    }

    /** The answer has begun and cannot be completed: end an event stream cleanly, break off any other body. */
    function cut(why: ForwardOutcome, text: string): void {
      if (upstreamDone) return;
      upstreamDone = true;
      outcome = why;
      request?.destroy();
      if (!body || body.destroyed) return;
      if (sse) {
        pending = Buffer.alloc(0); // half an event is dropped, not passed on
        body.end(`event: error\ndata: ${JSON.stringify({ error: text, model: modelId, requestId })}\n\n`);
      } else {
        body.destroy(new Error(text));
      }
    }

    /** Before the answer began: a JSON error in its place. */
    function answerError(why: ForwardOutcome, code: number, text: string): void {
      if (upstreamDone) return;
      upstreamDone = true;
      outcome = why;
      status = code;
      request?.destroy();
      response?.resume();
      if (res.destroyed) {
        finish();
        return;
      }
      // Nothing of the model server's headers may stay (its content-length least of all).
      for (const name of Object.keys(reply.getHeaders())) reply.removeHeader(name);
      if (!res.headersSent) for (const name of res.getHeaderNames()) res.removeHeader(name);
      reply.code(code).header('x-request-id', requestId).header('content-type', 'application/json; charset=utf-8');
      reply.send(JSON.stringify({ error: text, model: modelId, requestId }));
    }

    function onCallerClosed(): void {
      if (!res.writableFinished && !upstreamDone) {
        // The caller went away: stop the model server's work for it.
        upstreamDone = true;
        outcome = 'client-gone';
        if (!body) status = 499; // nginx's "client closed request": nothing was sent
        request?.destroy();
        body?.destroy();
      }
      finish();
    }

    function finish(): void {
      if (resolved) return;
      resolved = true;
      clearTimeout(startTimer);
      clearTimeout(totalTimer);
      res.off('close', callerClosed);
      const timings: ForwardTimings = {
        outcome: outcome ?? 'client-gone',
        status,
        ...(response?.statusCode !== undefined ? { upstreamStatus: response.statusCode } : {}),
        ...(responseStartMs !== undefined ? { responseStartMs } : {}),
        ...(firstByteMs !== undefined ? { firstByteMs } : {}),
        totalMs: elapsed(),
        bytes,
        retried,
      };
      try {
        options.onTimings?.(timings);
      } catch {
        // A metrics callback that throws must not take the request down with it.
      }
      resolve(timings);
    }
  });
}

function unreachableMessage(err: NodeJS.ErrnoException, host: string): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'the model server refused the connection (nothing listens there: not started, or gone)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `the model server's name ${JSON.stringify(clip(host, 200))} did not resolve (${err.code})`;
    case 'ECONNRESET':
    case 'EPIPE':
      return `the model server closed the connection before its answer (${err.code})`;
    default:
      return `the model server could not be reached: ${message(err)}`;
  }
}

/** An error as a message line: its text, and its code when the text does not say it. */
function message(err: unknown): string {
  if (!(err instanceof Error)) return clip(String(err), 200);
  const code = (err as NodeJS.ErrnoException).code;
  return clip(code && !err.message.includes(code) ? `${err.message} (${code})` : err.message, 200);
}

function seconds(ms: number): string {
  return ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`;
}
