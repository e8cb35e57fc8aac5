/**
 * The node view's health, as the metrics and /readyz report it: the last good list, errors,
 * GPU nodes by what they give, and "stale" when no list has succeeded for longer than the
 * bound while no watch runs. Against the API server stub, with a clock the test moves.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import Fastify from 'fastify';
import { NodeInventory } from '#core/gpu/inventory.ts';
import { createWebhookMetrics } from '../../webhook/src/metrics.ts';
import { registerHealthRoutes } from '#core/http/health-routes.ts';
import { loadKubeConfig } from '#core/kube/client.ts';
import { startKubeStub } from '../helpers/kube-stub.ts';
import { cpuOnly, mixedA100, mpsNode, plainL40, timeSlicedT4 } from './gpu/fixtures.ts';

const health = suite('webhook node view health');

async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** One metric's samples from the registry's text, as "labels value" lines. */
async function samples(text: string, name: string): Promise<string[]> {
  return text.split('\n').filter((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`));
}

health('metrics: last good list, errors, nodes by kind; stale (and /readyz 503) only past the bound with no watch', async () => {
  const stub = await startKubeStub();
  for (const node of [plainL40('l40-1'), plainL40('l40-2'), mixedA100('mixed-1'), mpsNode('mps-1'), timeSlicedT4('ts-1'), cpuOnly('cpu-1')]) stub.put('/api/v1/nodes', node);
  let clock = 1_800_000_000_000;
  const inventory = new NodeInventory({ initialBackoffMs: 5, maxBackoffMs: 20, staleAfterMs: 600_000, now: () => clock, onError: () => {} });
  let expiry: number | undefined = 1_900_000_000_000;
  const metrics = createWebhookMetrics({ nodeView: () => inventory.status(), certificateExpiry: () => expiry });
  const app = Fastify();
  registerHealthRoutes(app, () => (!inventory.ready() ? false : inventory.stale() ? 'node view stale' : true));
  try {
    assert.equal(await samples(await metrics.registry.metrics(), 'supersonic_webhook_node_view_last_list_timestamp_seconds'), ['supersonic_webhook_node_view_last_list_timestamp_seconds 0']);
    assert.is((await app.inject('/readyz')).json().status, 'starting');
    await inventory.start(loadKubeConfig(stub.url));
    await until(() => inventory.status().watching, 'the watch');
    let text = await metrics.registry.metrics();
    assert.equal(await samples(text, 'supersonic_webhook_node_view_last_list_timestamp_seconds'), ['supersonic_webhook_node_view_last_list_timestamp_seconds 1800000000']);
    assert.equal(await samples(text, 'supersonic_webhook_node_view_nodes'), [
      'supersonic_webhook_node_view_nodes{gives="mig"} 1',
      'supersonic_webhook_node_view_nodes{gives="mps"} 1',
      'supersonic_webhook_node_view_nodes{gives="whole"} 2', // the mixed-MIG A100 gives MIG only
      'supersonic_webhook_node_view_nodes{gives="shared"} 1',
    ]);
    assert.equal(await samples(text, 'supersonic_webhook_node_view_watch_errors_total'), ['supersonic_webhook_node_view_watch_errors_total 0']);
    assert.equal(await samples(text, 'supersonic_webhook_certificate_expiry_timestamp_seconds'), ['supersonic_webhook_certificate_expiry_timestamp_seconds 1900000000']);
    assert.match(text, /# TYPE supersonic_webhook_node_view_watch_errors_total counter/);

    // While the watch runs the view is current, however long since the last list.
    clock += 3_600_000;
    assert.not.ok(inventory.stale());
    assert.is((await app.inject('/readyz')).statusCode, 200);

    // The API server goes away: the watch ends, every re-list fails.
    clock = 1_800_000_000_000;
    await stub.close();
    await until(() => inventory.status().errors >= 3 && !inventory.status().watching, 'failed re-lists');
    clock += 599_000;
    assert.not.ok(inventory.stale(), 'stale before the bound');
    assert.is((await app.inject('/readyz')).statusCode, 200);
    clock += 2_000;
    assert.ok(inventory.stale());
    const ready = await app.inject('/readyz');
    assert.equal([ready.statusCode, ready.json().status], [503, 'node view stale']);
    text = await metrics.registry.metrics();
    assert.equal(await samples(text, 'supersonic_webhook_node_view_stale'), ['supersonic_webhook_node_view_stale 1']);
    const errors = Number((await samples(text, 'supersonic_webhook_node_view_watch_errors_total'))[0]!.split(' ')[1]);
    assert.ok(errors >= 3, `errors: ${errors}`);
    assert.ok(inventory.ready(), 'it keeps the view it had: ready, but stale');
  } finally {
    inventory.stop();
    await app.close();
  }
});

health('a fixed inventory is never stale', () => {
  const inventory = NodeInventory.fromNodes([plainL40('a')]);
  assert.not.ok(inventory.stale());
  assert.is(inventory.status().nodesByKind.whole, 1);
});

health.run();
