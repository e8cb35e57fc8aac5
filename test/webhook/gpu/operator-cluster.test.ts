/**
 * A GPU Operator cluster under its default ClusterPolicy, nodes labelled as the operator labels
 * them: `nvidia.com/mig.strategy=single` is on every GPU node, so whole GPUs must be told from
 * MIG slices by what the node offers (the `-MIG-<profile>` product), and pinned by product.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { describeNode } from '#core/gpu/node-gpus.ts';
import { resolveGpuRequest, type Resolution } from '#core/gpu/resolve.ts';
import { operatorClusterNodes } from './operator-nodes.ts';

const GiB = 2 ** 30;
const nodes = operatorClusterNodes().map(describeNode);
const node = (name: string) => nodes.find((described) => described.name === name)!;
const product = (...values: string[]) => ({ key: 'nvidia.com/gpu.product', operator: 'In', values });

function denied(resolution: Resolution): string {
  assert.is(resolution.ok, false, JSON.stringify(resolution));
  return (resolution as { message: string }).message;
}

const describe = suite('operator cluster: what each node offers');

describe('whole GPUs under mig.strategy=single: an L40S (not MIG-capable) and an A100 with MIG off', () => {
  assert.equal(node('l40s-whole').offers, [{ kind: 'whole', resource: 'nvidia.com/gpu', count: 4, memoryMiB: 46068 }]);
  assert.equal(node('a100-mig-off').offers, [{ kind: 'whole', resource: 'nvidia.com/gpu', count: 8, memoryMiB: 81920 }]);
  assert.is(node('a100-mig-off').migStrategy, 'single', 'the label is kept as written');
});

describe('MIG slices, MPS shares and replicas are as before', () => {
  assert.equal(node('a100-mig-single').offers, [{ kind: 'mig', profile: '1g.10gb', resource: 'nvidia.com/gpu', count: 56 }]);
  assert.equal(node('a100-mig-mixed').offers, [{ kind: 'mig', profile: '2g.20gb', resource: 'nvidia.com/mig-2g.20gb', count: 6 }]);
  assert.equal(node('l40s-mps').offers, [{ kind: 'mps', resource: 'nvidia.com/gpu', count: 8 }]);
  assert.equal(node('t4-time-sliced').offers, [{ kind: 'shared', resource: 'nvidia.com/gpu', count: 40 }]);
  assert.equal(node('cpu-1').offers, []);
});

describe.run();

const whole = suite('operator cluster: whole GPUs, pinned by product');

whole('gpu: 1 on any node of whole GPUs, pinned to their products', () => {
  assert.equal(resolveGpuRequest({ kind: 'whole', count: 1 }, nodes), {
    ok: true,
    gives: 'whole',
    resources: { 'nvidia.com/gpu': '1' },
    nodeAffinity: [product('NVIDIA-A100-SXM4-80GB', 'NVIDIA-L40S')],
    description: 'whole GPU (nvidia.com/gpu: 1)',
  });
});

whole('gpu: 8 only where 8 fit on one node: the A100s with MIG off', () => {
  const eight = resolveGpuRequest({ kind: 'whole', count: 8 }, nodes);
  assert.equal(eight.ok && eight.nodeAffinity, [product('NVIDIA-A100-SXM4-80GB')]);
  assert.match(denied(resolveGpuRequest({ kind: 'whole', count: 9 }, nodes)), /^no node has 9 whole GPUs allocatable \(at most 8 on one node\); available: /);
});

whole('gpu-memory larger than any slice: whole GPUs with that much memory, by product and memory', () => {
  const big = resolveGpuRequest({ kind: 'memory', bytes: 50 * GiB, count: 1 }, nodes);
  assert.equal(big, {
    ok: true,
    gives: 'whole',
    resources: { 'nvidia.com/gpu': '1' },
    nodeAffinity: [product('NVIDIA-A100-SXM4-80GB'), { key: 'nvidia.com/gpu.memory', operator: 'Gt', values: ['51199'] }],
    description: 'whole GPU with at least 50 GiB of memory (nvidia.com/gpu: 1)',
  });
  const mid = resolveGpuRequest({ kind: 'memory', bytes: 30 * GiB, count: 1 }, nodes);
  assert.equal(mid.ok && mid.nodeAffinity?.[0], product('NVIDIA-A100-SXM4-80GB', 'NVIDIA-L40S'));
});

whole('MIG and MPS asks keep their own resources and affinities', () => {
  assert.equal(resolveGpuRequest({ kind: 'profile', profile: '1g.10gb', count: 1 }, nodes), {
    ok: true,
    gives: 'mig',
    resources: { 'nvidia.com/gpu': '1' },
    nodeAffinity: [product('NVIDIA-A100-SXM4-80GB-MIG-1g.10gb')],
    description: 'MIG slice 1g.10gb on MIG-single nodes (nvidia.com/gpu: 1)',
  });
  const mixed = resolveGpuRequest({ kind: 'memory', bytes: 15 * GiB, count: 1 }, nodes);
  assert.equal(mixed.ok && mixed.resources, { 'nvidia.com/mig-2g.20gb': '1' });
  const mps = resolveGpuRequest({ kind: 'mps', count: 1 }, nodes);
  assert.equal(mps.ok && mps.nodeAffinity, [{ key: 'nvidia.com/gpu.sharing-strategy', operator: 'In', values: ['mps'] }]);
});

whole.run();
