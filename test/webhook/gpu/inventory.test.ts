import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NODE_PAGE_SIZE, NodeInventory } from '#core/gpu/inventory.ts';
import { loadKubeConfig } from '#core/kube/client.ts';
import { startKubeStub, type KubeStub } from '../../helpers/kube-stub.ts';
import { cpuOnly, gpuNode, mixedA100, plainL40 } from './fixtures.ts';

const NODES = '/api/v1/nodes';

/** Polls until `check` holds; watch events arrive asynchronously. */
async function until(check: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const names = (inventory: NodeInventory) => inventory.nodes().map((node) => node.name).sort();

const fixed = suite('NodeInventory.fromNodes');

fixed('describes the nodes and keeps only those that offer GPUs', () => {
  const inventory = NodeInventory.fromNodes([plainL40('a'), cpuOnly('b'), mixedA100('c'), gpuNode('d', {}, { 'nvidia.com/gpu': '2' }, { unschedulable: true })]);
  assert.ok(inventory.ready());
  assert.equal(names(inventory), ['a', 'c']);
  assert.equal(inventory.nodes().find((node) => node.name === 'a')!.offers, [{ kind: 'whole', resource: 'nvidia.com/gpu', count: 4, memoryMiB: 49152 }]);
  assert.is(inventory.nodes(), inventory.nodes(), 'the snapshot is reused until something changes');
});

fixed.run();

const watched = suite('NodeInventory against the API server stub');

let stub: KubeStub;
let inventory: NodeInventory;
const errors: unknown[] = [];

watched.before.each(async () => {
  stub = await startKubeStub();
  errors.length = 0;
  inventory = new NodeInventory({ initialBackoffMs: 10, maxBackoffMs: 50, onError: (err) => errors.push(err) });
});

watched.after.each(async () => {
  inventory.stop();
  await stub.close();
});

watched('not ready before the first list; ready with the listed GPU nodes after it', async () => {
  stub.put(NODES, plainL40('l40-1'));
  stub.put(NODES, cpuOnly('cpu-1'));
  assert.not.ok(inventory.ready());
  await inventory.start(loadKubeConfig(stub.url));
  assert.ok(inventory.ready());
  assert.equal(names(inventory), ['l40-1']);
  assert.ok(stub.requests.some((request) => request.startsWith(`GET /api/v1/nodes?limit=${NODE_PAGE_SIZE}`)), stub.requests.join('\n'));
  await until(() => inventory.status().watching, 'the watch');
  assert.ok(stub.requests.some((request) => /^GET \/api\/v1\/nodes\?.*watch=true/.test(request)), stub.requests.join('\n'));
});

watched('added, modified and deleted nodes arrive through the watch', async () => {
  stub.put(NODES, plainL40('l40-1'));
  await inventory.start(loadKubeConfig(stub.url));
  await until(() => inventory.status().watching, 'the watch');

  stub.put(NODES, plainL40('l40-2', '2'));
  await until(() => names(inventory).includes('l40-2'), 'the added node');
  assert.equal(inventory.nodes().find((node) => node.name === 'l40-2')!.offers, [{ kind: 'whole', resource: 'nvidia.com/gpu', count: 2, memoryMiB: 49152 }]);

  // l40-1 is repartitioned: MIG mixed, slices instead of whole GPUs.
  stub.put(NODES, { ...mixedA100('l40-1') });
  await until(() => inventory.nodes().find((node) => node.name === 'l40-1')?.migStrategy === 'mixed', 'the modified node');
  assert.equal(
    inventory.nodes().find((node) => node.name === 'l40-1')!.offers.map((offer) => offer.resource),
    ['nvidia.com/mig-1g.10gb', 'nvidia.com/mig-1g.10gb.me', 'nvidia.com/mig-3g.40gb'],
  );

  stub.remove(NODES, 'l40-2');
  await until(() => !names(inventory).includes('l40-2'), 'the deleted node');
  assert.equal(names(inventory), ['l40-1']);

  // A node that stops offering GPUs (cordoned) leaves the inventory too.
  stub.put(NODES, gpuNode('l40-1', {}, { 'nvidia.com/gpu': '4' }, { unschedulable: true }));
  await until(() => names(inventory).length === 0, 'the cordoned node to go');
  assert.equal(errors, []);
});

watched('the snapshot stays while events change nothing about GPUs, so remembered resolutions stay valid', async () => {
  stub.put(NODES, plainL40('l40-1'));
  await inventory.start(loadKubeConfig(stub.url));
  await until(() => inventory.status().watching, 'the watch');
  const snapshot = inventory.nodes();

  // A status update (a condition's heartbeat) and a node without GPUs leave the GPU facts as they were.
  stub.put(NODES, { ...plainL40('l40-1'), status: { ...plainL40('l40-1').status, conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: '2026-11-25T22:00:00Z' }] } });
  stub.put(NODES, cpuOnly('cpu-1'));
  await until(() => inventory.status().events === 2, 'both events');
  assert.is(inventory.nodes(), snapshot);

  // A re-list that finds the same GPUs keeps it too.
  stub.endWatches();
  await until(() => inventory.status().lists === 2 && inventory.status().watching, 'the second list and watch');
  assert.is(inventory.nodes(), snapshot);

  stub.put(NODES, plainL40('l40-1', '2'));
  await until(() => inventory.status().events === 3, 'the third event');
  assert.is.not(inventory.nodes(), snapshot);
  assert.equal(inventory.nodes()[0]!.offers.map((offer) => offer.count), [2]);
});

watched('re-lists and watches again when the server ends the watch, catching changes in between', async () => {
  stub.put(NODES, plainL40('l40-1'));
  await inventory.start(loadKubeConfig(stub.url));
  await until(() => inventory.status().watching, 'the watch');
  assert.is(inventory.status().lists, 1);

  stub.endWatches();
  // Made while no watch is open: only the re-list can see it.
  stub.put(NODES, plainL40('l40-2'));
  await until(() => inventory.status().lists === 2 && inventory.status().watching, 'the second list and watch');
  assert.equal(names(inventory), ['l40-1', 'l40-2']);
  assert.is(stub.requests.filter((request) => request.includes('watch=true')).length, 2);

  stub.put(NODES, plainL40('l40-3'));
  await until(() => names(inventory).includes('l40-3'), 'an event on the new watch');
  assert.ok(inventory.ready());
});

watched('a node deleted while no watch is open is gone after the re-list', async () => {
  stub.put(NODES, plainL40('l40-1'));
  stub.put(NODES, plainL40('l40-2'));
  await inventory.start(loadKubeConfig(stub.url));
  await until(() => inventory.status().watching, 'the watch');
  stub.endWatches();
  stub.remove(NODES, 'l40-1');
  await until(() => inventory.status().lists === 2 && inventory.status().watching, 'the second list and watch');
  assert.equal(names(inventory), ['l40-2']);
});

watched('a malformed event is skipped and reported, and the watch goes on', async () => {
  await inventory.start(loadKubeConfig(stub.url));
  await until(() => inventory.status().watching, 'the watch');
  stub.put(NODES, { metadata: {}, status: 'nonsense' });
  stub.put(NODES, plainL40('l40-1'));
  await until(() => names(inventory).includes('l40-1'), 'the good node after the bad one');
  assert.is(errors.length, 1);
  assert.match(String(errors[0]), 'watch event ADDED without a name');
  assert.is(inventory.status().errors, 1);
  assert.is(inventory.status().lists, 1, 'no re-list needed');
});

watched('stop() ends the loop: no more requests, start() settled', async () => {
  await inventory.start(loadKubeConfig(stub.url));
  await until(() => inventory.status().watching, 'the watch');
  inventory.stop();
  assert.not.ok(inventory.status().watching);
  const seen = stub.requests.length;
  stub.endWatches();
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.is(stub.requests.length, seen);
});

watched.run();

const gone = suite('NodeInventory when the watch is refused');

gone('an ERROR event (410 Gone: resourceVersion too old) makes it re-list', async () => {
  // The stub cannot send ERROR events, so a few lines of server stand in for the API server here.
  let lists = 0;
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    if (req.url?.includes('watch=true')) {
      res.write(JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, message: 'too old resource version' } }) + '\n');
      return; // left open, as a real server may: the client must act on the event itself
    }
    lists++;
    res.end(JSON.stringify({ kind: 'NodeList', apiVersion: 'v1', metadata: { resourceVersion: String(lists) }, items: [plainL40(`l40-${lists}`)] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const errors: unknown[] = [];
  const inventory = new NodeInventory({ initialBackoffMs: 5, maxBackoffMs: 20, onError: (err) => errors.push(err) });
  try {
    await inventory.start(loadKubeConfig(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
    await until(() => lists >= 2, 'a second list');
    await until(() => names(inventory)[0] !== 'l40-1', 'the second list to replace the first');
    assert.match(String(errors[0]), 'watch error: 410 too old resource version');
  } finally {
    inventory.stop();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

gone('a successful list resets the back-off: a watch that fails after many failed lists waits the short delay, not the longest', async () => {
  // Lists fail five times (the API server restarting, say), then succeed; every watch is refused.
  let lists = 0;
  const server = createServer((req, res) => {
    if (req.url?.includes('watch=true')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, message: 'too old resource version' } }) + '\n');
      return;
    }
    lists++;
    if (lists <= 5) {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', code: 503, message: 'starting' }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'NodeList', apiVersion: 'v1', metadata: { resourceVersion: String(lists) }, items: [plainL40('l40')] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const inventory = new NodeInventory({ initialBackoffMs: 5, maxBackoffMs: 40 });
  try {
    const started = inventory.start(loadKubeConfig(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
    await until(() => inventory.status().failures >= 5, 'five failed lists');
    await started; // the sixth list succeeds
    await until(() => inventory.status().errors >= 6, 'the refused watch after the good list');
    // 0 or 1 from now on (each good list resets it, each refused watch adds one); 6 and growing without the reset.
    assert.ok(inventory.status().failures <= 1, `failures in a row: ${inventory.status().failures}`);
  } finally {
    inventory.stop();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

gone.run();

const unreachable = suite('NodeInventory without an API server');

unreachable('keeps retrying with backoff, stays not ready, and stops cleanly', async () => {
  const stub = await startKubeStub();
  const url = stub.url;
  await stub.close(); // nothing listens there now
  const errors: unknown[] = [];
  const inventory = new NodeInventory({ initialBackoffMs: 5, maxBackoffMs: 20, onError: (err) => errors.push(err) });
  const started = inventory.start(loadKubeConfig(url));
  await until(() => errors.length >= 3, 'three failed lists');
  assert.not.ok(inventory.ready());
  assert.is(inventory.status().lists, 0);
  inventory.stop();
  await started; // resolves on stop even though no list ever succeeded
});

unreachable.run();
