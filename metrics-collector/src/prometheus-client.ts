/**
 * One bounded instant query to Prometheus's HTTP API (GET <url>/api/v1/query): a deadline on the
 * whole exchange (connect, answer, body), a cap on the bytes read, and the site's CA for an https
 * Prometheus with a private certificate. Every failure is a PrometheusError saying what went wrong
 * in words for the caller; nothing here can hang or end the process.
 */
import http from 'node:http';
import https from 'node:https';

export type Failure = 'unreachable' | 'timeout' | 'too-large' | 'bad-answer';

export class PrometheusError extends Error {
  readonly failure: Failure;
  constructor(failure: Failure, message: string) {
    super(message);
    this.failure = failure;
  }
}

export interface PrometheusClientOptions {
  /** Base URL, with an optional path prefix (http://prometheus.monitoring:9090/prometheus). */
  url: string;
  timeoutMs: number;
  maxBytes: number;
  /** PEM CA bundle for https; undefined: the system CAs. */
  ca?: string | Buffer;
}

export interface PrometheusClient {
  /** The parsed JSON of a 200 answer. */
  query(query: string): Promise<unknown>;
  /** Closes the kept-alive connections. */
  close(): void;
}

export function prometheusClient(options: PrometheusClientOptions): PrometheusClient {
  const base = new URL(options.url);
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new Error(`the scheme must be http or https, not ${base.protocol.replace(/:$/, '')}`);
  const secure = base.protocol === 'https:';
  // Kept-alive connections: perf_analyzer asks every second or so.
  const agent = secure ? new https.Agent({ keepAlive: true, maxSockets: 4, ...(options.ca ? { ca: options.ca } : {}) }) : new http.Agent({ keepAlive: true, maxSockets: 4 });
  const where = `${base.origin}${base.pathname.replace(/\/$/, '')}`;

  const query = (query: string): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const target = new URL(`${where}/api/v1/query`);
      target.searchParams.set('query', query);
      let settled = false;
      const fail = (failure: Failure, message: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        request.destroy();
        reject(new PrometheusError(failure, message));
      };
      const request = (secure ? https : http).request(target, { method: 'GET', agent, headers: { accept: 'application/json' } }, (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const declared = Number(response.headers['content-length']);
        if (declared > options.maxBytes) return fail('too-large', `Prometheus at ${where} answered ${declared} bytes, more than the ${options.maxBytes} allowed`);
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > options.maxBytes) return fail('too-large', `Prometheus at ${where} answered more than the ${options.maxBytes} bytes allowed`);
          chunks.push(chunk);
        });
        response.on('error', (err) => fail('unreachable', `Prometheus at ${where} broke off its answer: ${err.message}`));
        response.on('end', () => {
          if (settled) return;
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown;
          try {
            body = JSON.parse(text);
          } catch {
            return fail('bad-answer', `Prometheus at ${where} answered HTTP ${response.statusCode} that is not JSON`);
          }
          const status = response.statusCode ?? 0;
          // Prometheus answers query errors (bad_data, timeout, ...) as JSON with a 4xx/5xx status.
          if (status !== 200) {
            const error = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
            return fail('bad-answer', `Prometheus at ${where} refused the query (HTTP ${status}${error.errorType ? `, ${String(error.errorType)}` : ''}): ${String(error.error ?? 'no reason given').slice(0, 300)}`);
          }
          settled = true;
          clearTimeout(timer);
          resolve(body);
        });
      });
      const timer = setTimeout(() => fail('timeout', `Prometheus at ${where} did not answer within ${options.timeoutMs} ms`), options.timeoutMs);
      request.on('error', (err) => fail('unreachable', `Prometheus at ${where} is unreachable: ${err.message}`));
      request.end();
    });
  return { query, close: () => agent.destroy() };
}
