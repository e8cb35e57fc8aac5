/**
 * Placement as the request path uses it (dispatcher/src/placement/placer.ts): nodes labelled as
 * the GPU Operator labels them, the GPU pods' requests, and the reservations that keep two cold
 * models from being given the same last share before either pod is bound.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { NodeInventory } from '#core/gpu/inventory.ts';
import { Placer } from '../../dispatcher/src/placement/placer.ts';
import { DispatchError } from '../../dispatcher/src/errors.ts';
import type { GpuPods } from '../../dispatcher/src/placement/gpu-pods.ts';
import { dispatcherValues } from '../helpers/dispatcher/dispatcher-under-test.ts';
import { A100_SXM4_80GB, L40, operatorNode } from '../webhook/gpu/operator-nodes.ts';

const placer = suite('dispatcher: placement with reservations and scheduler-safe resource names');

const noPods = { ready: () => true, list: () => [] } as unknown as GpuPods;
const mixed = () => operatorNode({ name: 'a100-mixed', gpu: A100_SXM4_80GB, count: 1, migStrategy: 'mixed', pluginConfig: 'mig-mixed', setup: { kind: 'mig', devices: { '1g.10gb': 3, '3g.40gb': 1 }, config: 'custom' } });

function refused(run: () => unknown): DispatchError {
  try {
    run();
  } catch (err) {
    assert.instance(err, DispatchError);
    return err as DispatchError;
  }
  throw new Error('placement did not refuse');
}

placer('a share given to a cold model is reserved until release: the next model does not get it', () => {
  const p = new Placer({ inventory: NodeInventory.fromNodes([mixed()]), pods: noPods, config: () => dispatcherValues() });
  const first = p.place('svc-a', 'org/A', '20Gi');
  assert.equal([first.node, first.resource], ['a100-mixed', 'nvidia.com/mig-3g.40gb']);
  const error = refused(() => p.place('svc-b', 'org/B', '20Gi'));
  assert.is(error.status, 503);
  assert.is(error.retryAfterSeconds, 30, 'a share that fits is only in use: try again');
  assert.match(error.message, /would fit and is in use/);
  p.release('svc-a');
  assert.is(p.place('svc-b', 'org/B', '20Gi').resource, 'nvidia.com/mig-3g.40gb');
});

placer('a model no share can ever hold: 503 with a long Retry-After (the cluster must change first)', () => {
  const p = new Placer({ inventory: NodeInventory.fromNodes([mixed()]), pods: noPods, config: () => dispatcherValues() });
  const error = refused(() => p.place('svc', 'org/Huge', '200Gi'));
  assert.is(error.status, 503);
  assert.is(error.retryAfterSeconds, 300);
});

placer('nvidia.com/gpu meaning 10 GiB slices on one node and 45 GiB GPUs on another is not given to a 20 GiB model', () => {
  const nodes = [
    operatorNode({ name: 'a100-single', gpu: A100_SXM4_80GB, count: 1, setup: { kind: 'mig', devices: { '1g.10gb': 7 }, config: 'all-1g.10gb' } }),
    operatorNode({ name: 'l40-whole', gpu: L40, count: 2 }),
  ];
  const p = new Placer({ inventory: NodeInventory.fromNodes(nodes), pods: noPods, config: () => dispatcherValues() });
  const error = refused(() => p.place('svc', 'org/Mid', '20Gi'));
  assert.match(error.message, /nvidia\.com\/gpu on l40-whole would fit, but other nodes offer nvidia\.com\/gpu with less memory/);
  assert.is(p.place('svc-small', 'org/Small', '8Gi').resource, 'nvidia.com/gpu', 'a model every such share can hold gets it');
});

placer('an unknown memory need is a 400 that says what to set; the cluster not listed yet is a 503', () => {
  const p = new Placer({ inventory: NodeInventory.fromNodes([mixed()]), pods: noPods, config: () => dispatcherValues() });
  const error = refused(() => p.place('svc', 'openai-community/gpt2'));
  assert.is(error.status, 400);
  assert.match(error.message, /gpuMemory/);
  const notYet = new Placer({ inventory: new NodeInventory(), pods: noPods, config: () => dispatcherValues() });
  assert.is(refused(() => notYet.place('svc', 'org/A', '1Gi')).status, 503);
});

placer.run();
