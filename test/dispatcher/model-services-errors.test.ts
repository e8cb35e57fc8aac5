/**
 * What the API server's failures become on the request path (dispatcher/src/knative/
 * model-services.ts): a 500 or a 429 on create is a 503 the caller may retry, a 403 a 502 that
 * names it, and nothing throws out of the dispatcher. The real API server cannot be made to
 * answer a create with 500 on demand, so a few lines of plain HTTP (client-node allows http://
 * only with skipTLSVerify) play it here: an empty list, a
 * watch that stays open, and the create answered with the status under test (a Status body, as
 * the API server sends).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type Server } from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';
import { DispatchError } from '../../dispatcher/src/errors.ts';
import { ModelServices } from '../../dispatcher/src/knative/model-services.ts';

interface Context {
  server: Server;
  url: string;
  createStatus: number;
  creates: number;
}

const errors = suite<Context>('dispatcher: API server failures on create', {} as Context);

errors.before(async (context) => {
  context.createStatus = 500;
  context.creates = 0;
  context.server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.method === 'GET' && req.url?.includes('watch=true')) {
      res.writeHead(200);
      return; // held open, no events
    }
    if (req.method === 'GET') return res.end(JSON.stringify({ kind: 'ServiceList', apiVersion: 'serving.knative.dev/v1', metadata: { resourceVersion: '1' }, items: [] }));
    context.creates++;
    res.writeHead(context.createStatus);
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: context.createStatus, reason: 'InternalError', message: `stand-in answered ${context.createStatus}` }));
  });
  await new Promise<void>((resolve) => context.server.listen(0, '127.0.0.1', resolve));
  context.url = `http://127.0.0.1:${(context.server.address() as { port: number }).port}`;
});

errors.after((context) => {
  context.server.closeAllConnections();
  return new Promise<void>((resolve) => context.server.close(() => resolve()));
});

function services(url: string): ModelServices {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({ clusters: [{ name: 'c', server: url, skipTLSVerify: true }], users: [{ name: 'u' }], contexts: [{ name: 'c', cluster: 'c', user: 'u' }], currentContext: 'c' });
  return new ModelServices({ kubeConfig, namespace: 'models', instance: 'test', readyTimeoutMs: () => 5000 });
}

const objects = () => ({ service: { apiVersion: 'serving.knative.dev/v1' as const, kind: 'Service' as const, metadata: { name: 'm-1', namespace: 'models', labels: {}, annotations: {} }, spec: {} } });

async function failure(view: ModelServices): Promise<DispatchError> {
  try {
    await view.ensure('m-1', objects);
  } catch (err) {
    assert.instance(err, DispatchError);
    return err as DispatchError;
  }
  throw new Error('ensure did not fail');
}

for (const [status, expected, retry] of [[500, 503, 5], [429, 503, 5], [403, 502, undefined]] as const) {
  errors(`a create answered ${status} is a ${expected}${retry ? ' with Retry-After' : ''}, naming the API server's message`, async (context) => {
    context.createStatus = status;
    const view = services(context.url);
    await view.start();
    try {
      const error = await failure(view);
      assert.is(error.status, expected);
      assert.is(error.retryAfterSeconds, retry);
      assert.match(error.message, new RegExp(`Kubernetes refused creating the Knative Service models/m-1: HTTP ${status}: stand-in answered ${status}`));
      assert.not.ok(view.isPending('m-1'), 'the failed attempt is not left in flight');
      const before = context.creates;
      await failure(view);
      assert.is(context.creates, before + 1, 'the next request tries again');
    } finally {
      view.stop();
    }
  });
}

errors.run();
