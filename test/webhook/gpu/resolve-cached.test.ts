/** The remembered resolution: the same answer while the node snapshot stays, a fresh one after. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { describeNode } from '#core/gpu/node-gpus.ts';
import { MAX_REMEMBERED, resolveGpuRequestCached } from '#core/gpu/resolve-cached.ts';
import { resolveGpuRequest, type GpuRequest } from '#core/gpu/resolve.ts';
import { mixedA100, plainL40 } from './fixtures.ts';

const cached = suite('resolveGpuRequestCached');
const MIG: GpuRequest = { kind: 'profile', profile: '1g.10gb', count: 1 };

cached('gives what resolveGpuRequest gives, frozen, and the same object while the nodes stay', () => {
  const nodes = [mixedA100('a'), plainL40('b')].map(describeNode);
  const first = resolveGpuRequestCached(MIG, nodes);
  assert.equal(first, resolveGpuRequest(MIG, nodes));
  assert.ok(Object.isFrozen(first) && first.ok && Object.isFrozen(first.nodeAffinity![0]), 'frozen all the way down');
  assert.is(resolveGpuRequestCached({ ...MIG }, nodes), first);
  // Requests that differ in any field are different entries.
  assert.is.not(resolveGpuRequestCached({ ...MIG, count: 2 }, nodes), first);
  assert.equal(resolveGpuRequestCached({ kind: 'memory', bytes: 2 ** 30, count: 1 }, nodes), resolveGpuRequest({ kind: 'memory', bytes: 2 ** 30, count: 1 }, nodes));
});

cached('a new snapshot of the nodes is resolved afresh, refusals included', () => {
  const before = [plainL40('b')].map(describeNode);
  const refused = resolveGpuRequestCached(MIG, before);
  assert.is(refused.ok, false);
  const after = [mixedA100('a'), plainL40('b')].map(describeNode);
  assert.is(resolveGpuRequestCached(MIG, after).ok, true);
});

cached('at most MAX_REMEMBERED requests are remembered; past that the memory starts afresh, answers unchanged', () => {
  const nodes = [plainL40('b')].map(describeNode);
  const first = resolveGpuRequestCached(MIG, nodes);
  const memory = (gib: number): GpuRequest => ({ kind: 'memory', bytes: gib * 2 ** 30, count: 1 });
  for (let gib = 1; gib < MAX_REMEMBERED; gib++) resolveGpuRequestCached(memory(gib), nodes);
  assert.is(resolveGpuRequestCached(MIG, nodes), first, 'still remembered: the memory is full, not over');
  resolveGpuRequestCached(memory(MAX_REMEMBERED), nodes);
  const again = resolveGpuRequestCached(MIG, nodes);
  assert.is.not(again, first, 'forgotten once one more request came');
  assert.equal(again, first);
  assert.equal(resolveGpuRequestCached(memory(3), nodes), resolveGpuRequest(memory(3), nodes));
});

cached.run();
