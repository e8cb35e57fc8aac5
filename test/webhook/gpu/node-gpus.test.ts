import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { describeNode } from '#core/gpu/node-gpus.ts';
import { cpuOnly, gpuNode, mixedA100, mpsNode, mpsSharedNode, plainL40, singleH100, timeSlicedT4 } from './fixtures.ts';

const describe = suite('describeNode: one node per strategy');

describe('MIG mixed: one offer per nvidia.com/mig-* resource with a count, media slice included', () => {
  assert.equal(describeNode(mixedA100()), {
    name: 'mixed-1',
    labels: mixedA100().metadata!.labels!,
    product: 'NVIDIA-A100-SXM4-80GB',
    memoryMiB: 81920,
    migStrategy: 'mixed',
    sharing: 'none',
    offers: [
      { kind: 'mig', profile: '1g.10gb', resource: 'nvidia.com/mig-1g.10gb', count: 6 },
      { kind: 'mig', profile: '1g.10gb+me', resource: 'nvidia.com/mig-1g.10gb.me', count: 1 },
      { kind: 'mig', profile: '3g.40gb', resource: 'nvidia.com/mig-3g.40gb', count: 2 },
    ],
  });
});

describe('MIG mixed with a GPU left whole: that GPU is a whole offer', () => {
  const node = gpuNode('mixed-2', { 'nvidia.com/gpu.product': 'NVIDIA-A100-SXM4-80GB', 'nvidia.com/gpu.memory': '81920', 'nvidia.com/mig.strategy': 'mixed' }, {
    'nvidia.com/gpu': '1',
    'nvidia.com/mig-2g.20gb': '3',
  });
  assert.equal(describeNode(node).offers, [
    { kind: 'whole', resource: 'nvidia.com/gpu', count: 1, memoryMiB: 81920 },
    { kind: 'mig', profile: '2g.20gb', resource: 'nvidia.com/mig-2g.20gb', count: 3 },
  ]);
});

describe('MIG single: nvidia.com/gpu is a slice of the profile in the product label', () => {
  assert.equal(describeNode(singleH100()), {
    name: 'single-1',
    labels: singleH100().metadata!.labels!,
    product: 'NVIDIA-H100-80GB-HBM3-MIG-3g.40gb',
    memoryMiB: 40192,
    migStrategy: 'single',
    sharing: 'none',
    offers: [{ kind: 'mig', profile: '3g.40gb', resource: 'nvidia.com/gpu', count: 2 }],
  });
});

describe('MIG single with mismatched layouts (-MIG-INVALID) offers nothing', () => {
  const node = gpuNode('invalid', { 'nvidia.com/gpu.product': 'NVIDIA-A100-SXM4-40GB-MIG-INVALID', 'nvidia.com/mig.strategy': 'single' }, { 'nvidia.com/gpu': '3' });
  assert.equal(describeNode(node).offers, []);
});

describe('MPS under the plain name and renamed to .shared', () => {
  const plain = describeNode(mpsNode());
  assert.is(plain.sharing, 'mps');
  assert.is(plain.migStrategy, 'none');
  assert.equal(plain.offers, [{ kind: 'mps', resource: 'nvidia.com/gpu', count: 4 }]);
  assert.equal(describeNode(mpsSharedNode()).offers, [{ kind: 'mps', resource: 'nvidia.com/gpu.shared', count: 4 }]);
});

describe('time-slicing: shared replicas, never whole GPUs', () => {
  const node = describeNode(timeSlicedT4());
  assert.is(node.sharing, 'time-slicing');
  assert.equal(node.offers, [{ kind: 'shared', resource: 'nvidia.com/gpu', count: 40 }]);
  // Renamed replicas without any sharing label are still taken as time-sliced.
  const unlabelled = describeNode(gpuNode('ts-2', {}, { 'nvidia.com/gpu.shared': '8' }));
  assert.is(unlabelled.sharing, 'time-slicing');
  assert.equal(unlabelled.offers, [{ kind: 'shared', resource: 'nvidia.com/gpu.shared', count: 8 }]);
});

describe('time-sliced MIG slices (mixed) are shared offers, not exclusive slices', () => {
  const node = gpuNode('ts-mig', { 'nvidia.com/mig.strategy': 'mixed', 'nvidia.com/gpu.sharing-strategy': 'time-slicing' }, { 'nvidia.com/mig-1g.10gb': '14' });
  assert.equal(describeNode(node).offers, [{ kind: 'shared', resource: 'nvidia.com/mig-1g.10gb', count: 14, profile: '1g.10gb' }]);
  const renamed = gpuNode('ts-mig-2', { 'nvidia.com/mig.strategy': 'mixed' }, { 'nvidia.com/mig-1g.10gb.shared': '14', 'nvidia.com/mig-3g.40gb': '1' });
  assert.equal(describeNode(renamed).offers, [
    { kind: 'shared', resource: 'nvidia.com/mig-1g.10gb.shared', count: 14, profile: '1g.10gb' },
    { kind: 'mig', profile: '3g.40gb', resource: 'nvidia.com/mig-3g.40gb', count: 1 },
  ]);
});

describe('plain GPUs: whole offers with the memory label', () => {
  assert.equal(describeNode(plainL40()), {
    name: 'l40-1',
    labels: plainL40().metadata!.labels!,
    product: 'NVIDIA-L40',
    memoryMiB: 49152,
    migStrategy: 'none',
    sharing: 'none',
    offers: [{ kind: 'whole', resource: 'nvidia.com/gpu', count: 4, memoryMiB: 49152 }],
  });
  // Without GPU feature discovery there is no product or memory, but the GPUs are still whole.
  assert.equal(describeNode(gpuNode('bare', {}, { 'nvidia.com/gpu': '2' })).offers, [{ kind: 'whole', resource: 'nvidia.com/gpu', count: 2 }]);
});

describe('unschedulable (cordoned) nodes offer nothing, by flag or by taint', () => {
  const cordoned = gpuNode('l40-c', { 'nvidia.com/gpu.product': 'NVIDIA-L40' }, { 'nvidia.com/gpu': '4' }, { unschedulable: true });
  assert.equal(describeNode(cordoned).offers, []);
  assert.is(describeNode(cordoned).product, 'NVIDIA-L40');
  const tainted = gpuNode('l40-t', {}, { 'nvidia.com/gpu': '4' }, { taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }] });
  assert.equal(describeNode(tainted).offers, []);
  // The usual GPU taint does not hide a node: GPU pods tolerate it.
  const gpuTaint = gpuNode('l40-g', {}, { 'nvidia.com/gpu': '4' }, { taints: [{ key: 'nvidia.com/gpu', effect: 'NoSchedule' }] });
  assert.is(describeNode(gpuTaint).offers.length, 1);
});

describe('nodes without GPUs, and malformed nodes, describe to no offers without throwing', () => {
  assert.equal(describeNode(cpuOnly()), { name: 'cpu-1', labels: { 'kubernetes.io/hostname': 'cpu-1' }, migStrategy: 'none', sharing: 'none', offers: [] });
  const zero = gpuNode('zero', { 'nvidia.com/gpu.product': 'NVIDIA-L40' }, { 'nvidia.com/gpu': '0' });
  assert.equal(describeNode(zero).offers, []);
  const weird = [{}, { metadata: null }, { metadata: { name: 'x', labels: 'oops' }, status: { allocatable: ['nvidia.com/gpu'] }, spec: { taints: 'no' } }];
  for (const node of weird) assert.equal(describeNode(node as any).offers, []);
  const junkCounts = gpuNode('junk', {}, { 'nvidia.com/gpu': 'lots', 'nvidia.com/mig-big': '3', 'nvidia.com/mig-1g.10gb': '-1' });
  assert.equal(describeNode(junkCounts).offers, []);
});

describe.run();
