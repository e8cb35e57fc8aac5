/**
 * An in-process stand-in for the few Kubernetes API endpoints our servers call, honest about
 * what they return: real status codes (404, 409 with a Status body), resourceVersion bumps and
 * optimistic concurrency on update, JSON Patch and merge patch, and watch streams of
 * ADDED/MODIFIED/DELETED events. Objects are kept per collection path, for example
 * `/api/v1/nodes`, `/api/v1/namespaces/ns/secrets`,
 * `/apis/coordination.k8s.io/v1/namespaces/ns/leases`,
 * `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations`.
 * Listens on 127.0.0.1 only.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import fastJsonPatch from 'fast-json-patch';

type Obj = Record<string, any>;

export interface KubeStub {
  url: string;
  /** Every request received, as "METHOD path?query". */
  requests: string[];
  put(collection: string, object: Obj): Obj;
  get(collection: string, name: string): Obj | undefined;
  remove(collection: string, name: string): void;
  list(collection: string): Obj[];
  /** Ends every open watch stream cleanly, as the API server does when a watch times out. */
  endWatches(): void;
  close(): Promise<void>;
}

export async function startKubeStub(): Promise<KubeStub> {
  const store = new Map<string, Map<string, Obj>>();
  const watchers = new Map<string, Set<ServerResponse>>();
  const requests: string[] = [];
  let version = 1;

  const collectionOf = (path: string) => store.get(path) ?? store.set(path, new Map()).get(path)!;
  const notify = (collection: string, type: string, object: Obj) => {
    for (const res of watchers.get(collection) ?? []) res.write(JSON.stringify({ type, object }) + '\n');
  };
  const save = (collection: string, object: Obj, type: 'ADDED' | 'MODIFIED'): Obj => {
    const stored = structuredClone(object);
    stored.metadata = { ...stored.metadata, resourceVersion: String(++version) };
    stored.metadata.uid ??= `uid-${version}`;
    collectionOf(collection).set(stored.metadata.name, stored);
    notify(collection, type, stored);
    return structuredClone(stored);
  };
  const status = (res: ServerResponse, code: number, reason: string, message: string) => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message, reason, code }));
  };
  const send = (res: ServerResponse, body: Obj) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://stub');
    requests.push(`${req.method} ${url.pathname}${url.search}`);
    const body = await readBody(req);
    const isCollection = store.has(url.pathname) || /\/(nodes|secrets|leases|mutatingwebhookconfigurations|persistentvolumeclaims|configmaps|services)$/.test(url.pathname);
    const collection = isCollection ? url.pathname : url.pathname.slice(0, url.pathname.lastIndexOf('/'));
    const name = isCollection ? undefined : url.pathname.slice(url.pathname.lastIndexOf('/') + 1);
    const items = collectionOf(collection);

    if (req.method === 'GET' && !name && url.searchParams.get('watch') === 'true') {
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      res.flushHeaders(); // watch clients wait for the headers before any event arrives
      const set = watchers.get(collection) ?? watchers.set(collection, new Set()).get(collection)!;
      set.add(res);
      req.on('close', () => set.delete(res));
      return;
    }
    if (req.method === 'GET' && !name) {
      return send(res, { kind: 'List', apiVersion: 'v1', metadata: { resourceVersion: String(version) }, items: [...items.values()] });
    }
    if (req.method === 'POST') {
      const object = JSON.parse(body);
      if (items.has(object.metadata?.name)) return status(res, 409, 'AlreadyExists', `${object.metadata.name} already exists`);
      res.statusCode = 201;
      return send(res, save(collection, object, 'ADDED'));
    }
    const current = name ? items.get(name) : undefined;
    if (!current) return status(res, 404, 'NotFound', `${collection}/${name} not found`);
    if (req.method === 'GET') return send(res, current);
    if (req.method === 'PUT') {
      const object = JSON.parse(body);
      const sent = object.metadata?.resourceVersion;
      if (sent && sent !== current.metadata.resourceVersion) {
        return status(res, 409, 'Conflict', `the object has been modified; please apply your changes to the latest version`);
      }
      return send(res, save(collection, object, 'MODIFIED'));
    }
    if (req.method === 'PATCH') {
      const type = String(req.headers['content-type'] ?? '');
      const patched = type.includes('json-patch')
        ? fastJsonPatch.applyPatch(structuredClone(current), JSON.parse(body), true, false).newDocument
        : mergePatch(structuredClone(current), JSON.parse(body));
      return send(res, save(collection, patched, 'MODIFIED'));
    }
    if (req.method === 'DELETE') {
      items.delete(name!);
      notify(collection, 'DELETED', current);
      return send(res, current);
    }
    status(res, 405, 'MethodNotAllowed', `${req.method} not supported by the stub`);
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err) => status(res, 500, 'InternalError', String(err)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    put: (collection, object) => {
      const exists = collectionOf(collection).has(object.metadata.name);
      return save(collection, object, exists ? 'MODIFIED' : 'ADDED');
    },
    get: (collection, name) => structuredClone(collectionOf(collection).get(name)),
    remove: (collection, name) => {
      const current = collectionOf(collection).get(name);
      collectionOf(collection).delete(name);
      if (current) notify(collection, 'DELETED', current);
    },
    list: (collection) => [...collectionOf(collection).values()].map((o) => structuredClone(o)),
    endWatches: () => {
      // Forget them at once too: a put before the 'close' event must not write after end.
      for (const set of watchers.values()) {
        for (const res of set) res.end();
        set.clear();
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const set of watchers.values()) for (const res of set) res.end();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let data = '';
    req.on('data', (chunk) => (data += chunk));
    req.on('end', () => resolve(data));
  });
}

/** RFC 7386 merge patch. */
function mergePatch(target: any, patch: any): any {
  if (!patch || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out = target && typeof target === 'object' && !Array.isArray(target) ? target : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}
