/**
 * The node view on a big cluster: the list is read in pages (`limit` + `continue`), each page
 * reduced to the few GPU facts kept before the next is asked for, so a whole list of Node
 * objects is never held at once. Memory and time themselves are measured by `make bench`.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NODE_PAGE_SIZE, NodeInventory } from '#core/gpu/inventory.ts';
import { listNodePage } from '#core/gpu/node-pages.ts';
import { statusOf } from '#core/kube/api-errors.ts';
import { loadKubeConfig } from '#core/kube/client.ts';
import { ListWatchLoop, type ListPage } from '#core/kube/list-watch.ts';
import { bigClusterNode, startNodeListServer } from '../../helpers/big-cluster.ts';

const test = suite('node view, paginated');

test('lists a big cluster page by page, with continue tokens, and keeps only its GPU nodes', async () => {
  const count = 2 * NODE_PAGE_SIZE + 17;
  const api = await startNodeListServer(count);
  const inventory = new NodeInventory();
  try {
    await inventory.start(loadKubeConfig(api.url));
    const lists = api.requests.filter((request) => request.startsWith('GET /api/v1/nodes?') && !request.includes('watch=true'));
    assert.equal(lists, [
      `GET /api/v1/nodes?limit=${NODE_PAGE_SIZE}`,
      `GET /api/v1/nodes?limit=${NODE_PAGE_SIZE}&continue=${NODE_PAGE_SIZE}`,
      `GET /api/v1/nodes?limit=${NODE_PAGE_SIZE}&continue=${2 * NODE_PAGE_SIZE}`,
    ]);
    // One node kind in seven has no GPU (big-cluster.ts).
    const gpuNodes = Array.from({ length: count }, (_, i) => i).filter((i) => i % 7 !== 6).length;
    assert.is(inventory.nodes().length, gpuNodes);
    const first = inventory.nodes().find((node) => node.name === 'node-00000')!;
    assert.equal(first.offers, [{ kind: 'whole', resource: 'nvidia.com/gpu', count: 4, memoryMiB: 46068 }]);
    // The labels stay (a pod's nodeSelector may name any), the rest of the Node object does not.
    assert.is(first.labels['topology.kubernetes.io/zone'], 'ucsd');
    assert.equal(Object.keys(first).sort(), ['labels', 'memoryMiB', 'migStrategy', 'name', 'offers', 'product', 'sharing']);
  } finally {
    inventory.stop();
    await api.close();
  }
});

test('ListWatchLoop reduces each page with keep before asking for the next, and skips an item keep throws on', async () => {
  const order: string[] = [];
  const pages: Array<ListPage<{ metadata: { name: string } }>> = [
    { items: [{ metadata: { name: 'a' } }, { metadata: { name: 'bad' } }], metadata: { _continue: 'p2' } },
    { items: [{ metadata: { name: 'b' } }], metadata: { resourceVersion: '7' } },
  ];
  const errors: unknown[] = [];
  let listed: string[] | undefined;
  // A server that holds the watch open, so the loop rests after the list.
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.flushHeaders();
    req.on('close', () => res.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const loop = new ListWatchLoop<{ metadata: { name: string } }, string>({
    path: '/api/v1/nodes',
    list: async (page) => {
      order.push(`list ${page._continue ?? 'first'}`);
      return pages[page._continue ? 1 : 0]!;
    },
    keep: (item) => {
      order.push(`keep ${item.metadata.name}`);
      if (item.metadata.name === 'bad') throw new Error('malformed');
      return item.metadata.name.toUpperCase();
    },
    onList: (items) => (listed = items),
    onEvent: () => {},
    onError: (err) => errors.push(err),
  });
  try {
    await loop.start(loadKubeConfig(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
    assert.equal(order, ['list first', 'keep a', 'keep bad', 'list p2', 'keep b']);
    assert.equal(listed, ['A', 'B']);
    assert.is(errors.length, 1);
    assert.is(loop.status().errors, 1);
  } finally {
    loop.stop();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('listNodePage: a refused list is an error with the status code, as client-node gives it', async () => {
  const server = createServer((_req, res) => {
    res.writeHead(403, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', code: 403, message: 'nodes is forbidden' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const error = await listNodePage(loadKubeConfig(`http://127.0.0.1:${(server.address() as AddressInfo).port}`), { limit: 10 }).then(
      () => undefined,
      (err: unknown) => err,
    );
    assert.is(statusOf(error), 403);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

test('the big-cluster nodes weigh what real ones do', () => {
  const size = JSON.stringify(bigClusterNode(2)).length;
  assert.ok(size > 8_000 && size < 20_000, String(size));
});

test.run();
