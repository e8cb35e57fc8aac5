import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { describeNode } from '#core/gpu/node-gpus.ts';
import { available, resolveGpuRequest, type Resolution } from '#core/gpu/resolve.ts';
import { parseGpuAnnotations } from '../../../webhook/src/mutations/gpu-annotations.ts';
import { cpuOnly, gpuNode, mixedA100, mpsNode, mpsSharedNode, plainL40, singleH100, timeSlicedT4 } from './fixtures.ts';

const P = 'supersonic.fastmachinelearning.org/';
const GiB = 2 ** 30;

/** Two mixed A100s, one single H100, one MPS node, one time-sliced T4, three L40 nodes. */
const cluster = [
  mixedA100('mixed-1'),
  mixedA100('mixed-2'),
  singleH100('single-1'),
  mpsNode('mps-1'),
  timeSlicedT4('ts-1'),
  plainL40('l40-1'),
  plainL40('l40-2'),
  plainL40('l40-3', '8'),
  cpuOnly(),
].map(describeNode);

const AVAILABLE =
  'MIG 1g.10gb (mixed, up to 6 per node, 2 nodes), MIG 1g.10gb+me (mixed, up to 1 per node, 2 nodes), ' +
  'MIG 3g.40gb (mixed, up to 2 per node, 2 nodes), MIG 3g.40gb (single, up to 2 per node, 1 node), ' +
  'MPS shares (up to 4 per node, 1 node), whole GPUs NVIDIA-L40 48 GiB (up to 8 per node, 3 nodes), ' +
  'time-sliced GPUs (not isolated, never chosen, up to 40 per node, 1 node)';

const NOT_TIME_SLICED = { key: 'nvidia.com/gpu.sharing-strategy', operator: 'NotIn', values: ['time-slicing'] };
/** Whole GPUs are pinned to the products of the nodes that offer enough of them. */
const WHOLE = [{ key: 'nvidia.com/gpu.product', operator: 'In', values: ['NVIDIA-L40'] }];

function denied(resolution: Resolution): string {
  assert.is(resolution.ok, false, JSON.stringify(resolution));
  const message = (resolution as { message: string }).message;
  assert.not.ok(message.includes('\n'), 'one line');
  return message;
}

const annotations = suite('parseGpuAnnotations');

annotations('no GPU annotation is no request; other annotations are ignored', () => {
  assert.equal(parseGpuAnnotations({}), {});
  assert.equal(parseGpuAnnotations(undefined), {});
  assert.equal(parseGpuAnnotations({ 'gpu-container': 'triton', 'cvmfs-repositories': 'cms.cern.ch' }), {});
});

annotations('each request kind', () => {
  assert.equal(parseGpuAnnotations({ 'gpu-profile': '1g.10gb' }), { request: { kind: 'profile', profile: '1g.10gb', count: 1 } });
  assert.equal(parseGpuAnnotations({ 'gpu-profile': ' 1G.5GB.me ' }), { request: { kind: 'profile', profile: '1g.5gb+me', count: 1 } });
  assert.equal(parseGpuAnnotations({ 'gpu-mps': '1' }), { request: { kind: 'mps', count: 1 } });
  assert.equal(parseGpuAnnotations({ 'gpu': '2' }), { request: { kind: 'whole', count: 2 } });
});

annotations('gpu-memory is a Kubernetes quantity, read as bytes', () => {
  const bytes = (value: string) => (parseGpuAnnotations({ 'gpu-memory': value }).request as { bytes: number } | undefined)?.bytes;
  assert.is(bytes('10Gi'), 10 * GiB);
  assert.is(bytes('10240Mi'), 10 * GiB);
  assert.is(bytes('1.5Gi'), 1.5 * GiB);
  assert.is(bytes('10G'), 10e9);
  assert.is(bytes('500M'), 500e6);
  assert.is(bytes('10e9'), 10e9);
  assert.is(bytes('1E9'), 1e9);
  assert.is(bytes('+.5Ti'), 2 ** 39);
  assert.is(bytes('10737418240'), 10 * GiB);
  assert.equal(parseGpuAnnotations({ 'gpu-memory': '10Gi' }).request, { kind: 'memory', bytes: 10 * GiB, count: 1 });
});

annotations('gpu-memory suffixes are case-sensitive, m is milli, and GB is not a Kubernetes suffix', () => {
  const error = (value: string) => parseGpuAnnotations({ 'gpu-memory': value }).error;
  assert.is(error('10m'), `${P}gpu-memory: "10m" is 0.01 bytes (m means milli); write 10M or 10Mi`);
  assert.is(error('1GB'), `${P}gpu-memory: "1GB" is not a Kubernetes quantity; write 1G or 1Gi`);
  assert.is(error('1gb'), `${P}gpu-memory: "1gb" is not a Kubernetes quantity; write 1G or 1Gi`);
  assert.is(error('10g'), `${P}gpu-memory: "10g" is not a Kubernetes quantity; write 10G or 10Gi`);
  assert.is(error('10GiB'), `${P}gpu-memory: "10GiB" is not a Kubernetes quantity; write 10Gi`);
  assert.is(error('10gi'), `${P}gpu-memory: "10gi" is not a Kubernetes quantity; write 10Gi`);
  assert.is(error('512mi'), `${P}gpu-memory: "512mi" is not a Kubernetes quantity; write 512Mi`);
  assert.is(error('10kb'), `${P}gpu-memory: "10kb" is not a Kubernetes quantity; write 10k or 10Ki`);
  assert.is(error('1e3'), `${P}gpu-memory: "1e3" is 1000 bytes, not an amount of GPU memory (write e.g. 10Gi, 10G or 10240Mi)`);
  assert.is(error('0.5Ki'), `${P}gpu-memory: "0.5Ki" is 512 bytes, not an amount of GPU memory (write e.g. 10Gi, 10G or 10240Mi)`);
  for (const value of ['1e400', '10 Gi', 'Gi', '1.2.3Gi', '1e3.5', '--1Gi']) assert.match(error(value) ?? '', `${P}gpu-memory: `, value);
});

annotations('bad values are errors naming the annotation', () => {
  assert.equal(parseGpuAnnotations({ 'gpu-memory': '10' }), {
    error: `${P}gpu-memory: "10" is 10 bytes, not an amount of GPU memory (write e.g. 10Gi, 10G or 10240Mi)`,
  });
  for (const value of ['0Gi', 'lots', '-1Gi', '10 Gigs', '']) assert.match(parseGpuAnnotations({ 'gpu-memory': value }).error ?? '', `${P}gpu-memory: `, value);
  assert.equal(parseGpuAnnotations({ 'gpu-profile': '3g' }), { error: `${P}gpu-profile: "3g" is not a MIG profile (write e.g. 1g.10gb or 1g.10gb+me)` });
  assert.equal(parseGpuAnnotations({ 'gpu-mps': '0' }), { error: `${P}gpu-mps: "0" is not a whole number of MPS shares, 1 or more` });
  assert.equal(parseGpuAnnotations({ 'gpu': 'two' }), { error: `${P}gpu: "two" is not a whole number of GPUs, 1 or more` });
  for (const value of ['1.5', '-1', '', '1e3', '99999']) assert.ok(parseGpuAnnotations({ 'gpu': value }).error?.startsWith(`${P}gpu: `), value);
});

annotations('a value echoed in an error is cut short', () => {
  const error = parseGpuAnnotations({ 'gpu-profile': 'x'.repeat(100_000) }).error ?? '';
  assert.ok(error.length < 200, `${error.length} characters`);
  assert.match(error, /^supersonic\.fastmachinelearning\.org\/gpu-profile: "x{64}…" is not a MIG profile/);
  assert.ok((parseGpuAnnotations({ 'gpu-memory': `${'9'.repeat(5000)}Gi` }).error ?? '').length < 200);
});

annotations('more than one GPU annotation is an error naming them', () => {
  assert.equal(parseGpuAnnotations({ 'gpu-profile': '1g.10gb', 'gpu': '1' }), {
    error: `set only one GPU annotation; found ${P}gpu-profile and ${P}gpu`,
  });
  assert.equal(parseGpuAnnotations({ 'gpu-memory': '10Gi', 'gpu-mps': '1', 'gpu': '1' }).error, `set only one GPU annotation; found ${P}gpu-memory and ${P}gpu-mps and ${P}gpu`);
});

annotations.run();

const profile = suite('resolve: named MIG profile');

profile('mixed is preferred: the per-profile resource, kept off time-sliced nodes', () => {
  assert.equal(resolveGpuRequest({ kind: 'profile', profile: '1g.10gb', count: 1 }, cluster), {
    ok: true,
    gives: 'mig',
    resources: { 'nvidia.com/mig-1g.10gb': '1' },
    nodeAffinity: [NOT_TIME_SLICED],
    description: 'MIG slice 1g.10gb (nvidia.com/mig-1g.10gb: 1)',
  });
  // 3g.40gb is offered both ways; mixed wins.
  const both = resolveGpuRequest({ kind: 'profile', profile: '3g.40gb', count: 2 }, cluster);
  assert.equal(both.ok && both.resources, { 'nvidia.com/mig-3g.40gb': '2' });
  assert.is(both.ok && both.description, '2 MIG slices 3g.40gb (nvidia.com/mig-3g.40gb: 2)');
  const media = resolveGpuRequest({ kind: 'profile', profile: '1g.10gb+me', count: 1 }, cluster);
  assert.equal(media.ok && media.resources, { 'nvidia.com/mig-1g.10gb.me': '1' });
});

profile('single only: nvidia.com/gpu pinned to the products named after the profile', () => {
  const other = gpuNode('single-2', { 'nvidia.com/gpu.product': 'NVIDIA-A100-SXM4-80GB-MIG-3g.40gb', 'nvidia.com/mig.strategy': 'single' }, { 'nvidia.com/gpu': '4' });
  const nodes = [singleH100(), other, plainL40()].map(describeNode);
  assert.equal(resolveGpuRequest({ kind: 'profile', profile: '3g.40gb', count: 1 }, nodes), {
    ok: true,
    gives: 'mig',
    resources: { 'nvidia.com/gpu': '1' },
    nodeAffinity: [{ key: 'nvidia.com/gpu.product', operator: 'In', values: ['NVIDIA-A100-SXM4-80GB-MIG-3g.40gb', 'NVIDIA-H100-80GB-HBM3-MIG-3g.40gb'] }],
    description: 'MIG slice 3g.40gb on MIG-single nodes (nvidia.com/gpu: 1)',
  });
  // When mixed nodes cannot hold the count but a single node can, single is used.
  const withMixed = [mixedA100(), other].map(describeNode);
  const three = resolveGpuRequest({ kind: 'profile', profile: '3g.40gb', count: 3 }, withMixed);
  assert.equal(three.ok && three.resources, { 'nvidia.com/gpu': '3' });
});

profile('a profile no node offers is refused, saying what is available', () => {
  assert.is(denied(resolveGpuRequest({ kind: 'profile', profile: '2g.20gb', count: 1 }, cluster)), `no node offers MIG profile 2g.20gb; available: ${AVAILABLE}`);
  assert.is(
    denied(resolveGpuRequest({ kind: 'profile', profile: '3g.41gb', count: 1 }, cluster)),
    `no node offers MIG profile 3g.41gb (no GPU in the catalogue has this profile); available: ${AVAILABLE}`,
  );
  // Time-sliced copies of a profile are not exclusive slices.
  const ts = gpuNode('ts-mig', { 'nvidia.com/mig.strategy': 'mixed', 'nvidia.com/gpu.sharing-strategy': 'time-slicing' }, { 'nvidia.com/mig-2g.20gb': '6' });
  assert.match(denied(resolveGpuRequest({ kind: 'profile', profile: '2g.20gb', count: 1 }, [describeNode(ts)])), /^no node offers MIG profile 2g\.20gb; available: time-sliced GPUs/);
});

profile('the count must fit on one node, not across the cluster', () => {
  // 3g.40gb: 2 + 2 mixed and 2 single, 6 in all, but at most 2 on any one node.
  assert.is(
    denied(resolveGpuRequest({ kind: 'profile', profile: '3g.40gb', count: 3 }, cluster)),
    `no node has 3 MIG 3g.40gb slices allocatable (at most 2 on one node); available: ${AVAILABLE}`,
  );
});

profile.run();

const memory = suite('resolve: GPU memory');

memory('smallest MIG profile that holds it; names are nominal GiB', () => {
  assert.equal(resolveGpuRequest({ kind: 'memory', bytes: 8 * GiB, count: 1 }, cluster), {
    ok: true,
    gives: 'mig',
    resources: { 'nvidia.com/mig-1g.10gb': '1' },
    nodeAffinity: [NOT_TIME_SLICED],
    description: 'MIG slice 1g.10gb for 8 GiB of GPU memory (nvidia.com/mig-1g.10gb: 1)',
  });
  for (const bytes of [10 * GiB, 10e9]) {
    const r = resolveGpuRequest({ kind: 'memory', bytes, count: 1 }, cluster);
    assert.equal(r.ok && r.resources, { 'nvidia.com/mig-1g.10gb': '1' }, String(bytes));
  }
  const r = resolveGpuRequest({ kind: 'memory', bytes: 12 * GiB, count: 1 }, cluster);
  assert.equal(r.ok && r.resources, { 'nvidia.com/mig-3g.40gb': '1' });
});

memory('ties on memory go to fewer slices, then to the slice without media engines', () => {
  const node = gpuNode('m', { 'nvidia.com/mig.strategy': 'mixed' }, {
    'nvidia.com/mig-7g.80gb': '1',
    'nvidia.com/mig-2g.20gb': '3',
    'nvidia.com/mig-1g.20gb': '4',
    'nvidia.com/mig-1g.10gb.me': '1',
  });
  const nodes = [describeNode(node)];
  const pick = (gib: number) => {
    const r = resolveGpuRequest({ kind: 'memory', bytes: gib * GiB, count: 1 }, nodes);
    return r.ok ? Object.keys(r.resources)[0] : r.message;
  };
  assert.is(pick(12), 'nvidia.com/mig-1g.20gb');
  assert.is(pick(21), 'nvidia.com/mig-7g.80gb');
  assert.is(pick(4), 'nvidia.com/mig-1g.10gb.me', 'the media slice when it is the only small one');
  const both = [describeNode(mixedA100())];
  const r = resolveGpuRequest({ kind: 'memory', bytes: 4 * GiB, count: 1 }, both);
  assert.equal(r.ok && r.resources, { 'nvidia.com/mig-1g.10gb': '1' });
});

memory('no MIG profile is big enough: whole GPUs with a memory floor in MiB', () => {
  assert.equal(resolveGpuRequest({ kind: 'memory', bytes: 45 * GiB, count: 1 }, cluster), {
    ok: true,
    gives: 'whole',
    resources: { 'nvidia.com/gpu': '1' },
    nodeAffinity: [...WHOLE, { key: 'nvidia.com/gpu.memory', operator: 'Gt', values: ['46079'] }],
    description: 'whole GPU with at least 45 GiB of memory (nvidia.com/gpu: 1)',
  });
});

memory('counts: a MIG profile that cannot hold the count on one node gives way', () => {
  // 1g.10gb: 6 per node and 3g.40gb: 2 per node cannot hold 7; an L40 node has 8 GPUs.
  assert.equal(resolveGpuRequest({ kind: 'memory', bytes: 8 * GiB, count: 7 }, cluster), {
    ok: true,
    gives: 'whole',
    resources: { 'nvidia.com/gpu': '7' },
    nodeAffinity: [...WHOLE, { key: 'nvidia.com/gpu.memory', operator: 'Gt', values: ['8191'] }],
    description: '7 whole GPUs with at least 8 GiB of memory (nvidia.com/gpu: 7)',
  });
  assert.is(
    denied(resolveGpuRequest({ kind: 'memory', bytes: 8 * GiB, count: 9 }, cluster)),
    `no MIG profile or whole GPU offers 8 GiB of GPU memory, 9 on one node; available: ${AVAILABLE}`,
  );
});

memory('more than anything has is refused', () => {
  assert.is(denied(resolveGpuRequest({ kind: 'memory', bytes: 100 * GiB, count: 1 }, cluster)), `no MIG profile or whole GPU offers 100 GiB of GPU memory; available: ${AVAILABLE}`);
  // Whole GPUs without a memory label cannot be checked, so they do not count.
  const bare = [describeNode(gpuNode('bare', {}, { 'nvidia.com/gpu': '2' }))];
  assert.is(denied(resolveGpuRequest({ kind: 'memory', bytes: GiB, count: 1 }, bare)), 'no MIG profile or whole GPU offers 1 GiB of GPU memory; available: whole GPUs (unlabelled) (up to 2 per node, 1 node)');
});

memory.run();

const mps = suite('resolve: MPS and whole GPUs');

mps('an MPS share on an MPS node, under the name the nodes use', () => {
  assert.equal(resolveGpuRequest({ kind: 'mps', count: 1 }, cluster), {
    ok: true,
    gives: 'mps',
    resources: { 'nvidia.com/gpu': '1' },
    nodeAffinity: [{ key: 'nvidia.com/gpu.sharing-strategy', operator: 'In', values: ['mps'] }],
    description: 'MPS share of a GPU (nvidia.com/gpu: 1)',
  });
  const renamed = resolveGpuRequest({ kind: 'mps', count: 1 }, [mpsSharedNode(), timeSlicedT4()].map(describeNode));
  assert.equal(renamed.ok && renamed.resources, { 'nvidia.com/gpu.shared': '1' });
  const tie = resolveGpuRequest({ kind: 'mps', count: 1 }, [mpsNode(), mpsSharedNode()].map(describeNode));
  assert.equal(tie.ok && tie.resources, { 'nvidia.com/gpu.shared': '1' });
});

mps('MPS is never a time-sliced replica, and never more than one share', () => {
  assert.is(
    denied(resolveGpuRequest({ kind: 'mps', count: 1 }, [timeSlicedT4(), plainL40()].map(describeNode))),
    'no node shares GPUs with MPS (label nvidia.com/gpu.sharing-strategy=mps); available: whole GPUs NVIDIA-L40 48 GiB (up to 4 per node, 1 node), time-sliced GPUs (not isolated, never chosen, up to 40 per node, 1 node)',
  );
  assert.is(
    denied(resolveGpuRequest({ kind: 'mps', count: 2 }, cluster)),
    'the NVIDIA device plugin gives a container at most 1 MPS share (asked for 2); use a MIG profile or whole GPUs for more',
  );
});

mps('whole GPUs: no MIG single, no sharing, the count on one node', () => {
  assert.equal(resolveGpuRequest({ kind: 'whole', count: 2 }, cluster), {
    ok: true,
    gives: 'whole',
    resources: { 'nvidia.com/gpu': '2' },
    nodeAffinity: WHOLE,
    description: '2 whole GPUs (nvidia.com/gpu: 2)',
  });
  assert.equal(resolveGpuRequest({ kind: 'whole', count: 8 }, cluster).ok, true);
  // 16 L40s in all, but no node has 9.
  assert.is(denied(resolveGpuRequest({ kind: 'whole', count: 9 }, cluster)), `no node has 9 whole GPUs allocatable (at most 8 on one node); available: ${AVAILABLE}`);
});

mps('whole GPUs are not MIG slices, MPS shares or replicas', () => {
  const nodes = [mixedA100(), singleH100(), mpsNode(), timeSlicedT4()].map(describeNode);
  assert.match(denied(resolveGpuRequest({ kind: 'whole', count: 1 }, nodes)), /^no node offers whole GPUs \(rather than MIG slices, MPS shares or time-sliced replicas\); available: MIG 1g\.10gb/);
  assert.is(
    denied(resolveGpuRequest({ kind: 'whole', count: 1 }, [])),
    'no node offers whole GPUs (rather than MIG slices, MPS shares or time-sliced replicas); available: no GPUs on schedulable nodes',
  );
  const cordoned = describeNode(gpuNode('c', {}, { 'nvidia.com/gpu': '8' }, { unschedulable: true }));
  assert.is(resolveGpuRequest({ kind: 'whole', count: 1 }, [cordoned]).ok, false);
});

mps('whole GPUs on nodes without GPU feature discovery are pinned to nodes without a product label, when no labelled node fits', () => {
  const bare = gpuNode('bare', {}, { 'nvidia.com/gpu': '8' });
  const nodes = [plainL40('l40-1'), bare].map(describeNode);
  const four = resolveGpuRequest({ kind: 'whole', count: 4 }, nodes);
  assert.equal(four.ok && four.nodeAffinity, WHOLE, 'a labelled node fits: by product');
  const eight = resolveGpuRequest({ kind: 'whole', count: 8 }, nodes);
  assert.equal(eight.ok && eight.nodeAffinity, [{ key: 'nvidia.com/gpu.product', operator: 'DoesNotExist' }]);
});

mps('affinity arrays are fresh objects each time (callers add them to pods)', () => {
  const a = resolveGpuRequest({ kind: 'whole', count: 1 }, cluster);
  const b = resolveGpuRequest({ kind: 'whole', count: 1 }, cluster);
  assert.ok(a.ok && b.ok && a.nodeAffinity !== b.nodeAffinity && a.nodeAffinity![0] !== b.nodeAffinity![0]);
});

mps('the summary alone', () => {
  assert.is(available(cluster), AVAILABLE);
  assert.is(available([]), 'no GPUs on schedulable nodes');
});

mps.run();
