/**
 * What one webhook replica accepts, so that no client able to reach its Service (any pod of the
 * cluster, unless a NetworkPolicy says otherwise) can exhaust its memory or hold it busy. With
 * `failurePolicy: Fail`, replicas killed by a slow client or a huge body stop pod creation in
 * every labelled namespace; the API server itself never needs more than these limits allow:
 *
 * - Time: the API server waits `timeoutSeconds` for an answer, then fails the call. A request,
 *   its TLS handshake or its headers that have not arrived by then are of no use to anyone, so
 *   each is given that long (the defaults: 120 s for the handshake and 60 s for headers, Node's,
 *   and none for the whole request, fastify's). Node checks the last two every
 *   CONNECTIONS_CHECKING_INTERVAL_MS.
 * - Connections: at most `limits.maxConnections` at once. When full, a new connection takes the
 *   place of the one that has been idle, or busy sending its request, the longest: a slow client
 *   cannot keep the API server out, as it could if new connections were refused (Node's
 *   `server.maxConnections` drops the newest). Only connections whose complete request is being
 *   answered are kept, and only for `timeoutSeconds`.
 * - Bytes: a body may be BODY_LIMIT at most, and the bodies being received or answered together
 *   `limits.maxBodyMiBInFlight`. A body that would go over is refused at once (503, the
 *   connection closed); the last quarter of that room is kept for bodies under SMALL_BODY, so
 *   reviews of ordinary pods are answered while big bodies are refused.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import { Counter, type Registry } from 'prom-client';
import type { WebhookValues } from './config.ts';

const MiB = 2 ** 20;

/**
 * The API server accepts request bodies of up to 3 MiB (its MaxRequestBodyBytes), so an object
 * in a review is at most that in JSON, and in practice far less: etcd stores at most 1.5 MiB.
 * The review around it (uid, kinds, userInfo with groups and extra, options) adds a few KiB, and
 * an object sent as protobuf or YAML, then defaulted and changed by earlier mutating webhooks,
 * can grow a little when the API server writes it as JSON. 4 MiB leaves room for all of that and
 * refuses anything the API server could not have sent. (The registration sends CREATE only, so a
 * review holds one object; an UPDATE review would hold two.) Not configurable: it follows the API
 * server's own constant, not a site's choice.
 */
export const BODY_LIMIT = 4 * MiB;

/**
 * Bodies are "small" up to this size: an ordinary pod's review is 5 to 50 KiB. They may use the
 * last quarter of the room for bodies in flight, which bigger ones may not.
 */
export const SMALL_BODY = 256 * 1024;

/**
 * How long an idle kept-alive connection stays open. The API server's webhook client closes its
 * idle connections after 90 s (Go's http.Transport IdleConnTimeout, which client-go keeps); ours
 * waits longer, so the client always closes first and never sends a review on a connection we
 * are closing (Go does not retry a POST that meets a closed connection, and the pod would be
 * refused). Idle connections cost little, and when the connections are full the one idle (or
 * slow) the longest makes room for a new one.
 */
export const KEEP_ALIVE_TIMEOUT_MS = 100_000;

/** How often Node closes connections past their headers or request timeout (its default, 30 s, would let a slow client live 35 s, not 5). */
export const CONNECTIONS_CHECKING_INTERVAL_MS = 1000;

export interface ServerLimits {
  /** The handshake, the headers and the whole request must arrive within this: `timeoutSeconds`. */
  requestTimeoutMs: number;
  maxConnections: number;
  maxBodyBytesInFlight: number;
}

export function serverLimits(values: Pick<WebhookValues, 'timeoutSeconds' | 'limits'>): ServerLimits {
  return {
    requestTimeoutMs: values.timeoutSeconds * 1000,
    maxConnections: values.limits.maxConnections,
    maxBodyBytesInFlight: values.limits.maxBodyMiBInFlight * MiB,
  };
}

/** The options of Node's HTTPS server (and so fastify's `https`) that carry the timeouts. */
export function serverTimeouts(limits: ServerLimits) {
  return {
    handshakeTimeout: limits.requestTimeoutMs,
    headersTimeout: limits.requestTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS,
  };
}

/** Counts of what the limits refused, as metrics and, at most every LOG_EVERY_MS, one log line. */
export interface Refusals {
  count(reason: RefusalReason): void;
  stop(): void;
}

export type RefusalReason = 'connection-replaced' | 'connection-refused' | 'body-too-large' | 'bodies-in-flight';

const LOG_EVERY_MS = 10_000;

export function createRefusals(registry: Registry | undefined, warn: (figures: Record<string, number>, message: string) => void): Refusals {
  const name = 'supersonic_webhook_limit_refusals_total';
  const counter = (registry?.getSingleMetric(name) as Counter<'reason'> | undefined) ?? new Counter({
    name,
    help: 'What the server limits refused, by reason: connection-replaced (an idle or slow connection closed to make room), connection-refused (full, all answering), body-too-large, bodies-in-flight.',
    labelNames: ['reason'],
    registers: registry ? [registry] : [],
  });
  let pending: Record<string, number> = {};
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    const figures = pending;
    pending = {};
    warn(figures, 'server limits refused connections or bodies (a client too slow, too big or too many: see supersonic_webhook_limit_refusals_total)');
  };
  return {
    count(reason) {
      counter.inc({ reason });
      pending[reason] = (pending[reason] ?? 0) + 1;
      timer ??= setTimeout(flush, LOG_EVERY_MS).unref();
    },
    stop() {
      if (timer) clearTimeout(timer);
    },
  };
}

/**
 * The connection cap. Connections are kept in the order of their last change of state (opened,
 * request begun, answered), so the first in that order that is not being answered is the one idle
 * or sending the longest.
 */
export class ConnectionGuard {
  private readonly connections = new Map<Socket, { since: number; answering: boolean }>();
  private readonly max: number;
  private readonly answerTimeoutMs: number;
  private readonly refusals: Refusals;

  constructor(max: number, answerTimeoutMs: number, refusals: Refusals) {
    this.max = max;
    this.answerTimeoutMs = answerTimeoutMs;
    this.refusals = refusals;
  }

  /**
   * Counts every TCP connection of `server` from its first moment, before the TLS handshake.
   * After the server's own listener (which wraps the socket in TLS), so closing a new one here
   * closes its TLS socket too.
   */
  attach(server: Server): void {
    server.on('connection', (socket: Socket) => this.opened(socket));
  }

  get size(): number {
    return this.connections.size;
  }

  private opened(socket: Socket): void {
    this.connections.set(socket, { since: Date.now(), answering: false });
    socket.once('close', () => this.connections.delete(socket));
    if (this.connections.size <= this.max) return;
    const victim = this.victim();
    if (victim) {
      this.refusals.count('connection-replaced');
      this.connections.delete(victim);
      victim.destroy();
    } else {
      this.refusals.count('connection-refused');
      socket.destroy();
    }
  }

  private victim(): Socket | undefined {
    const now = Date.now();
    for (const [socket, state] of this.connections) {
      if (!state.answering || now - state.since > this.answerTimeoutMs) return socket;
    }
    return undefined;
  }

  /** The request's headers have arrived: the connection is busy from now. */
  requestBegun(request: IncomingMessage): void {
    this.update(request, false);
  }

  /** The whole request has arrived: the connection is kept until its answer is sent. */
  answering(request: IncomingMessage): void {
    this.update(request, true);
  }

  /** The answer is sent: the connection is idle from now. */
  answered(request: IncomingMessage): void {
    this.update(request, false);
  }

  private update(request: IncomingMessage, answering: boolean): void {
    const socket = transportOf(request.socket);
    if (!this.connections.has(socket)) return;
    // Deleted and set again, so the order of the map stays the order of the last change.
    this.connections.delete(socket);
    this.connections.set(socket, { since: Date.now(), answering });
  }
}

/**
 * The TCP socket under a request's TLS socket (the one the 'connection' event gave): Node keeps
 * it as `_parent`. Without TLS, the request's socket is the TCP socket itself.
 */
function transportOf(socket: Socket): Socket {
  return ((socket as Socket & { _parent?: Socket })._parent as Socket | undefined) ?? socket;
}

export class BodyTooLarge extends Error {
  readonly statusCode = 413;
  constructor() {
    super(`the request body exceeds ${BODY_LIMIT / MiB} MiB, more than the API server sends`);
  }
}

export class Overloaded extends Error {
  readonly statusCode = 503;
  constructor() {
    super('the webhook is receiving too many request bodies at once; try again');
  }
}

/**
 * Request bodies, read within BODY_LIMIT and the room for bodies in flight. A body holds its
 * bytes from the moment they arrive until its answer is sent (or its connection closes): the
 * text, then the parsed review, live that long.
 */
export class BodyBudget {
  private inFlight = 0;
  private readonly held = new WeakMap<IncomingMessage, number>();
  private readonly max: number;
  private readonly refusals: Refusals;

  constructor(max: number, refusals: Refusals) {
    this.max = max;
    this.refusals = refusals;
  }

  get bytesInFlight(): number {
    return this.inFlight;
  }

  /** A fastify content-type parser: the body as text, or BodyTooLarge or Overloaded. */
  read(request: IncomingMessage, done: (err: Error | null, body?: string) => void): void {
    const declared = Number(request.headers['content-length']);
    if (declared > BODY_LIMIT) return this.refuse('body-too-large', new BodyTooLarge(), done);
    const chunks: Buffer[] = [];
    let received = 0;
    const stop = () => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onError);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > BODY_LIMIT) {
        stop();
        this.release(request);
        return this.refuse('body-too-large', new BodyTooLarge(), done);
      }
      // Small bodies may use all the room; bigger ones leave its last quarter to small ones.
      const room = received <= SMALL_BODY ? this.max : this.max - Math.floor(this.max / 4);
      if (this.inFlight + chunk.length > room) {
        stop();
        this.release(request);
        return this.refuse('bodies-in-flight', new Overloaded(), done);
      }
      this.take(request, chunk.length);
      chunks.push(chunk);
    };
    const onEnd = () => {
      stop();
      done(null, (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received)).toString('utf8'));
    };
    const onError = (err: Error) => {
      stop();
      this.release(request);
      done(err);
    };
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onError);
    request.resume();
  }

  /** The answer is sent, or the connection closed: the body's bytes are free again. */
  release(request: IncomingMessage): void {
    const bytes = this.held.get(request);
    if (bytes === undefined) return;
    this.held.delete(request);
    this.inFlight -= bytes;
  }

  private take(request: IncomingMessage, bytes: number): void {
    this.inFlight += bytes;
    this.held.set(request, (this.held.get(request) ?? 0) + bytes);
  }

  private refuse(reason: RefusalReason, err: Error, done: (err: Error) => void): void {
    this.refusals.count(reason);
    done(err);
  }
}
