/**
 * A stand-in for Prometheus's /api/v1/query, for what the real one will not do on demand: answer
 * slowly, answer too much, answer garbage, or refuse. Each request is handed to `answer`, which
 * writes the response (or never does). Records the queries it got.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';

export interface StandIn {
  url: string;
  queries: string[];
  close(): Promise<void>;
}

/** `tls`: serve HTTPS with this certificate (the URL then names localhost, as its SAN does). */
export async function startStandIn(answer: (req: IncomingMessage, res: ServerResponse) => void, tls?: { cert: string; key: string }): Promise<StandIn> {
  const queries: string[] = [];
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    queries.push(new URL(req.url ?? '/', 'http://x').searchParams.get('query') ?? '');
    answer(req, res);
  };
  const server: Server = tls ? createTlsServer(tls, handle) : createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const url = tls ? `https://localhost:${port}` : `http://127.0.0.1:${port}`;
  return {
    url,
    queries,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
