/**
 * The dispatcher's placement: what is free per node (allocatable minus what bound, non-terminal
 * pods request), how much GPU memory a model needs, and which share it gets. Nodes are labelled
 * as the GPU Operator labels them (test/webhook/gpu/operator-nodes.ts) or as GFD does per
 * strategy (test/webhook/gpu/fixtures.ts).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { describeNode, type NodeLike } from '#core/gpu/node-gpus.ts';
import { chooseShare, chooseShareSsis } from '../../dispatcher/src/placement/choose-share.ts';
import { defaultThreadPercentage, freeShares, migProfileBytes, podRequests, type FreeShare, type PodLike } from '../../dispatcher/src/placement/free-shares.ts';
import { memoryNeed, parametersFromModelId } from '../../dispatcher/src/placement/memory-need.ts';
import { gpuNode, mixedA100, mpsNode, mpsSharedNode, plainL40, singleH100, timeSlicedT4 } from '../webhook/gpu/fixtures.ts';
import { A100_SXM4_80GB, L40, operatorNode, webhookClusterNodes, type GpuModel } from '../webhook/gpu/operator-nodes.ts';

const GiB = 2 ** 30;
const MiB = 2 ** 20;

const H100_80GB: GpuModel = { product: 'NVIDIA-H100-80GB-HBM3', memoryMiB: 81559, family: 'hopper', compute: [9, 0], migCapable: true };

/** A pod bound to `node` whose one container asks for `count` of `resource` (as limits, as pods usually write it). */
function pod(name: string, node: string | undefined, resource: string, count = 1, phase = 'Running'): PodLike {
  return {
    metadata: { name, namespace: 'models' },
    spec: { ...(node ? { nodeName: node } : {}), containers: [{ resources: { limits: { cpu: '4', memory: '16Gi', [resource]: String(count) } } }] },
    status: { phase },
  };
}

const free = (shares: FreeShare[]) => shares.map((share) => `${share.node} ${share.resource} ${share.free}/${share.allocatable}`);
const described = (nodes: NodeLike[]) => nodes.map(describeNode);

// ---- free shares ------------------------------------------------------------------------------

const shares = suite('freeShares: allocatable minus what bound, non-terminal pods request');

shares('free = allocatable − requested, per node and resource', () => {
  const nodes = described([mixedA100('a100-1'), mixedA100('a100-2'), mpsSharedNode('mps-1')]);
  const pods = [
    pod('m1', 'a100-1', 'nvidia.com/mig-1g.10gb'),
    pod('m2', 'a100-1', 'nvidia.com/mig-1g.10gb', 2),
    pod('m3', 'a100-2', 'nvidia.com/mig-3g.40gb'),
    pod('m4', 'mps-1', 'nvidia.com/gpu.shared'),
    // requests and limits both written (they must be equal for extended resources): counted once.
    {
      metadata: { name: 'm5', namespace: 'models' },
      spec: { nodeName: 'a100-2', containers: [{ resources: { requests: { 'nvidia.com/mig-1g.10gb.me': '1' }, limits: { 'nvidia.com/mig-1g.10gb.me': '1' } } }] },
      status: { phase: 'Running' },
    },
  ];
  assert.equal(free(freeShares(nodes, pods)), [
    'a100-1 nvidia.com/mig-1g.10gb 3/6',
    'a100-1 nvidia.com/mig-1g.10gb.me 1/1',
    'a100-1 nvidia.com/mig-3g.40gb 2/2',
    'a100-2 nvidia.com/mig-1g.10gb 6/6',
    'a100-2 nvidia.com/mig-1g.10gb.me 0/1',
    'a100-2 nvidia.com/mig-3g.40gb 1/2',
    'mps-1 nvidia.com/gpu.shared 3/4',
  ]);
});

shares('terminal pods, unbound pods and pods of other nodes do not count; Pending bound pods do', () => {
  const nodes = described([mixedA100('a100-1')]);
  const pods = [
    pod('done', 'a100-1', 'nvidia.com/mig-3g.40gb', 1, 'Succeeded'),
    pod('crashed', 'a100-1', 'nvidia.com/mig-3g.40gb', 1, 'Failed'),
    pod('unscheduled', undefined, 'nvidia.com/mig-3g.40gb', 1, 'Pending'),
    pod('elsewhere', 'other-node', 'nvidia.com/mig-3g.40gb'),
    pod('starting', 'a100-1', 'nvidia.com/mig-1g.10gb', 1, 'Pending'),
  ];
  assert.equal(free(freeShares(nodes, pods)), ['a100-1 nvidia.com/mig-1g.10gb 5/6', 'a100-1 nvidia.com/mig-1g.10gb.me 1/1', 'a100-1 nvidia.com/mig-3g.40gb 2/2']);
});

shares('more requested than allocatable (a device went unhealthy) is 0 free, not negative', () => {
  const nodes = described([singleH100('h100')]);
  assert.equal(free(freeShares(nodes, [pod('a', 'h100', 'nvidia.com/gpu', 2), pod('b', 'h100', 'nvidia.com/gpu')])), ['h100 nvidia.com/gpu 0/2']);
});

shares('effective requests: app containers summed; init containers by their peak; sidecars added to both', () => {
  const R = 'nvidia.com/gpu';
  const container = (count: number, restartPolicy?: string) => ({ resources: { limits: { [R]: String(count) } }, ...(restartPolicy ? { restartPolicy } : {}) });
  const ask = (spec: PodLike['spec']) => podRequests({ spec }).get(R) ?? 0;
  assert.is(ask({ containers: [container(1), container(2)] }), 3);
  assert.is(ask({ containers: [container(1)], initContainers: [container(4), container(2)] }), 4, 'the largest init container, above the app sum');
  assert.is(ask({ containers: [container(3)], initContainers: [container(2)] }), 3, 'the app sum, above the init containers');
  // A sidecar (restartPolicy: Always) runs beside the app and beside later init containers.
  assert.is(ask({ containers: [container(1)], initContainers: [container(1, 'Always'), container(2)] }), 3, 'init 2 beside sidecar 1');
  assert.is(ask({ containers: [container(2)], initContainers: [container(1, 'Always')] }), 3, 'app 2 plus sidecar 1');
  assert.is(ask({ containers: [{ resources: { requests: { [R]: '1' }, limits: { [R]: '2' } } }] }), 2, 'the larger of requests and limits');
  assert.is(ask({ containers: [{}], initContainers: [] }), 0);
});

shares('memory per share: MIG profile, MPS = GPU memory / replicas, whole = GPU memory; time-slicing left out', () => {
  const nodes = described([mixedA100('a100'), singleH100('h100'), mpsNode('mps'), plainL40('l40', '2'), timeSlicedT4('t4')]);
  const memory = freeShares(nodes, []).map((share) => [share.node, share.kind, share.profile ?? '-', (share.memoryBytes ?? 0) / GiB]);
  assert.equal(memory, [
    ['a100', 'mig', '1g.10gb', 10],
    ['a100', 'mig', '1g.10gb+me', 10],
    ['a100', 'mig', '3g.40gb', 40],
    ['h100', 'mig', '3g.40gb', 40],
    ['mps', 'mps', '-', 10],
    ['l40', 'whole', '-', 48],
  ]);
  assert.is(migProfileBytes('1g.5gb+me'), 5 * GiB);
  assert.is(migProfileBytes('not-a-profile'), undefined);
});

shares('GPU Operator nodes: MIG mixed and single A100s, MPS and whole L40s, time-sliced T4s', () => {
  const all = freeShares(described(webhookClusterNodes()), [pod('m', 'gpu-a100-single', 'nvidia.com/gpu', 3)]);
  assert.equal(
    all.map((share) => `${share.node} ${share.kind} ${share.resource} ${share.free}/${share.allocatable} ${Number(((share.memoryBytes ?? 0) / GiB).toFixed(2))}`),
    [
      'gpu-a100-mixed mig nvidia.com/mig-1g.10gb 3/3 10',
      'gpu-a100-mixed mig nvidia.com/mig-3g.40gb 1/1 40',
      'gpu-a100-single mig nvidia.com/gpu 1/4 20',
      // L40: 46068 MiB split 8 ways.
      'gpu-l40-mps mps nvidia.com/gpu 8/8 5.62',
      'gpu-l40-whole whole nvidia.com/gpu 2/2 44.99',
    ],
  );
});

shares('MPS thread percentage: 100 / replicas rounded down, at least 1, unless configured per resource', () => {
  assert.equal([1, 3, 4, 8, 200, undefined].map(defaultThreadPercentage), [100, 33, 25, 12, 1, 100]);
  const nodes = described([mpsNode('plain'), mpsSharedNode('renamed')]);
  const threads = (config?: Record<string, number>) => freeShares(nodes, [], { mpsActiveThreadPercentage: config }).map((share) => share.activeThreadPercentage);
  assert.equal(threads(), [25, 25]);
  assert.equal(threads({ 'nvidia.com/gpu.shared': 40 }), [25, 40]);
});

shares('MPS without a replicas label: allocatable over the GPU count; without a memory label: unknown memory', () => {
  const counted = gpuNode('counted', { 'nvidia.com/gpu.memory': '81920', 'nvidia.com/gpu.sharing-strategy': 'mps', 'nvidia.com/gpu.count': '2' }, { 'nvidia.com/gpu': '8' });
  const unlabelled = gpuNode('unlabelled', { 'nvidia.com/gpu.sharing-strategy': 'mps' }, { 'nvidia.com/gpu': '4' });
  const [a, b] = freeShares(described([counted, unlabelled]), []);
  assert.is(a!.memoryBytes, 20 * GiB);
  assert.is(a!.activeThreadPercentage, 25);
  assert.is(b!.memoryBytes, undefined);
});

shares('a cordoned node offers nothing', () => {
  assert.equal(freeShares(described([gpuNode('cordoned', mixedA100().metadata!.labels!, mixedA100().status!.allocatable!, { unschedulable: true })]), []), []);
});

shares.run();

// ---- choosing a share -------------------------------------------------------------------------

const choose = suite('chooseShare: the smallest free share whose memory holds the need');

choose('smallest fitting share across MIG mixed, MIG single, MPS and whole nodes', () => {
  const all = freeShares(described(webhookClusterNodes()), []);
  const pick = (gib: number) => {
    const choice = chooseShare(gib * GiB, all);
    return choice.ok ? `${choice.node} ${choice.resource} ${choice.profile ?? choice.kind}` : choice.message;
  };
  assert.is(pick(5), 'gpu-l40-mps nvidia.com/gpu mps');
  assert.is(pick(8), 'gpu-a100-mixed nvidia.com/mig-1g.10gb 1g.10gb');
  assert.is(pick(15), 'gpu-a100-single nvidia.com/gpu 1g.20gb');
  assert.is(pick(30), 'gpu-a100-mixed nvidia.com/mig-3g.40gb 3g.40gb');
  assert.is(pick(42), 'gpu-l40-whole nvidia.com/gpu whole');
});

choose('what is used up is passed over for the next size', () => {
  const nodes = described(webhookClusterNodes());
  const pods = [pod('a', 'gpu-a100-mixed', 'nvidia.com/mig-1g.10gb', 3)];
  const choice = chooseShare(8 * GiB, freeShares(nodes, pods));
  assert.ok(choice.ok);
  assert.equal([choice.node, choice.profile], ['gpu-a100-single', '1g.20gb']);
});

choose('equal memory: MIG before MPS before whole; then fewer compute slices', () => {
  // 10 GiB each: a 1g.10gb slice and a 40 GiB GPU shared 4 ways.
  const migOrMps = freeShares(described([mpsNode('mps'), mixedA100('mig')]), []);
  const first = chooseShare(10 * GiB, migOrMps);
  assert.ok(first.ok && first.kind === 'mig' && first.profile === '1g.10gb', JSON.stringify(first));
  // 40 GiB each: an 80 GiB GPU shared 2 ways and a whole 40 GiB GPU.
  const mps2 = gpuNode('mps2', { 'nvidia.com/gpu.product': 'NVIDIA-A100-SXM4-80GB-SHARED', 'nvidia.com/gpu.memory': '81920', 'nvidia.com/gpu.sharing-strategy': 'mps', 'nvidia.com/gpu.replicas': '2' }, { 'nvidia.com/gpu': '2' });
  const whole40 = gpuNode('whole40', { 'nvidia.com/gpu.product': 'NVIDIA-A100-SXM4-40GB', 'nvidia.com/gpu.memory': '40960' }, { 'nvidia.com/gpu': '1' });
  const second = chooseShare(40 * GiB, freeShares(described([whole40, mps2]), []));
  assert.ok(second.ok && second.kind === 'mps' && second.node === 'mps2', JSON.stringify(second));
  // 20 GiB each: 1g.20gb (1 compute slice) before 2g.20gb (2).
  const twenty = gpuNode('twenty', { 'nvidia.com/gpu.product': 'NVIDIA-A100-SXM4-80GB', 'nvidia.com/gpu.memory': '81920', 'nvidia.com/mig.strategy': 'mixed' }, { 'nvidia.com/mig-2g.20gb': '1', 'nvidia.com/mig-1g.20gb': '2' });
  const third = chooseShare(12 * GiB, freeShares(described([twenty]), []));
  assert.ok(third.ok && third.profile === '1g.20gb', JSON.stringify(third));
});

choose('packs: the node with the fewest free shares of that resource', () => {
  const nodes = described([
    operatorNode({ name: 'emptier', gpu: H100_80GB, count: 1, migStrategy: 'mixed', setup: { kind: 'mig', devices: { '1g.10gb': 7 }, config: 'all-1g.10gb' } }),
    operatorNode({ name: 'fuller', gpu: A100_SXM4_80GB, count: 1, migStrategy: 'mixed', setup: { kind: 'mig', devices: { '1g.10gb': 7 }, config: 'all-1g.10gb' } }),
  ]);
  const pods = [pod('a', 'fuller', 'nvidia.com/mig-1g.10gb', 5)];
  const choice = chooseShare(6 * GiB, freeShares(nodes, pods));
  assert.ok(choice.ok && choice.node === 'fuller', JSON.stringify(choice));
});

choose('nothing fits: the message names what is free, and whether waiting can help', () => {
  const nodes = described([mixedA100('a100-1'), mixedA100('a100-2'), mpsSharedNode('mps-1')]);
  const pods = [
    pod('a', 'a100-1', 'nvidia.com/mig-3g.40gb', 2),
    pod('b', 'a100-2', 'nvidia.com/mig-3g.40gb', 2),
    pod('c', 'a100-1', 'nvidia.com/mig-1g.10gb', 6),
    pod('d', 'a100-2', 'nvidia.com/mig-1g.10gb', 4),
    pod('e', 'a100-1', 'nvidia.com/mig-1g.10gb.me'),
    pod('f', 'a100-2', 'nvidia.com/mig-1g.10gb.me'),
    pod('g', 'mps-1', 'nvidia.com/gpu.shared', 3),
  ];
  const busy = chooseShare(40 * GiB, freeShares(nodes, pods));
  assert.equal(busy, {
    ok: false,
    message: 'no free GPU share has 40 GiB: free are 2× mig-1g.10gb (10 GiB), 1× gpu.shared (MPS, 10 GiB) on 2 nodes; 4× mig-3g.40gb (40 GiB) would fit and are in use',
    retryable: true,
  });
  const never = chooseShare(60 * GiB, freeShares(nodes, []));
  assert.equal(never, {
    ok: false,
    message:
      'no free GPU share has 60 GiB: free are 12× mig-1g.10gb (10 GiB), 2× mig-1g.10gb.me (10 GiB), 4× gpu.shared (MPS, 10 GiB), 4× mig-3g.40gb (40 GiB) on 3 nodes; no allowed share is that large (the largest has 40 GiB)',
    retryable: false,
  });
  const empty = chooseShare(1 * GiB, []);
  assert.equal(empty, { ok: false, message: 'no free GPU share has 1 GiB: none is free; the nodes offer no allowed GPU share', retryable: false });
});

choose('the allow-list (dispatcher.gpuResources) is respected, and named when it is what refuses', () => {
  const all = freeShares(described(webhookClusterNodes()), []);
  const only40 = chooseShare(5 * GiB, all, { gpuResources: ['nvidia.com/mig-3g.40gb'] });
  assert.ok(only40.ok && only40.resource === 'nvidia.com/mig-3g.40gb', JSON.stringify(only40));
  const empty = chooseShare(5 * GiB, all, { gpuResources: [] });
  assert.ok(empty.ok && empty.kind === 'mps', 'an empty list allows every MIG, MPS and whole share');
  const refused = chooseShare(30 * GiB, all, { gpuResources: ['nvidia.com/mig-1g.10gb'] });
  assert.equal(refused, {
    ok: false,
    message:
      'no free GPU share has 30 GiB: free are 3× mig-1g.10gb (10 GiB) on 1 node; no allowed share is that large (the largest has 10 GiB); nvidia.com/gpu, nvidia.com/mig-3g.40gb would fit but are not in dispatcher.gpuResources',
    retryable: false,
  });
});

choose('MPS share: the thread percentage and the memory cap in the env; MIG and whole: no env', () => {
  const nodes = described([mpsSharedNode('mps-1')]);
  const mps = chooseShare(8 * GiB, freeShares(nodes, []));
  assert.equal(mps, {
    ok: true,
    node: 'mps-1',
    resource: 'nvidia.com/gpu.shared',
    kind: 'mps',
    memoryBytes: 10 * GiB,
    env: { CUDA_MPS_ACTIVE_THREAD_PERCENTAGE: '25', CUDA_MPS_PINNED_DEVICE_MEM_LIMIT: '0=10240M' },
  });
  const configured = chooseShare(8 * GiB, freeShares(nodes, [], { mpsActiveThreadPercentage: { 'nvidia.com/gpu.shared': 50 } }));
  assert.ok(configured.ok && configured.env.CUDA_MPS_ACTIVE_THREAD_PERCENTAGE === '50');
  const mig = chooseShare(8 * GiB, freeShares(described([mixedA100()]), []));
  assert.ok(mig.ok);
  assert.equal(mig.env, {});
});

choose('shares of unknown memory are never chosen, and the message says why', () => {
  const unlabelled = gpuNode('unlabelled', { 'nvidia.com/gpu.sharing-strategy': 'mps' }, { 'nvidia.com/gpu': '4' });
  const choice = chooseShare(1 * GiB, freeShares(described([unlabelled]), []));
  assert.ok(!choice.ok && choice.message.endsWith('unlabelled has free shares of unknown memory (no nvidia.com/gpu.memory label)'), JSON.stringify(choice));
});

choose.run();

const ssis = suite("chooseShareSsis: SSIS's choice, the first configured name with any capacity");

ssis('the first name with capacity, whatever is in use and whatever the size', () => {
  const nodes = [mixedA100('a100'), plainL40('l40')];
  const list = ['nvidia.com/mig-1g.5gb', 'nvidia.com/mig-1g.10gb', 'nvidia.com/mig-3g.40gb'];
  assert.is(chooseShareSsis(list, nodes), 'nvidia.com/mig-1g.10gb');
  // Capacity counts even where allocatable is lower; SSIS never looks at allocatable or pods.
  const withCapacity = { ...mixedA100('cap'), status: { allocatable: { 'nvidia.com/mig-1g.5gb': '0' }, capacity: { 'nvidia.com/mig-1g.5gb': '7' } } };
  assert.is(chooseShareSsis(list, [withCapacity]), 'nvidia.com/mig-1g.5gb');
  assert.is(chooseShareSsis(['nvidia.com/mig-7g.80gb', 'nvidia.com/gpu-1gb'], nodes), 'nvidia.com/mig-7g.80gb', 'none has any: the first, as SSIS does');
  assert.is(chooseShareSsis([], nodes), undefined);
});

ssis.run();

// ---- memory need ------------------------------------------------------------------------------

const need = suite('memoryNeed: request, else configuration, else an estimate from the parameter count');

need('parameter counts read from model ids', () => {
  const cases: Array<[string, number | undefined]> = [
    ['meta-llama/Llama-3.1-8B', 8],
    ['meta-llama/Meta-Llama-3.1-70B-Instruct', 70],
    ['mistralai/Mixtral-8x7B-Instruct-v0.1', 56],
    ['Qwen/Qwen2.5-0.5B-Instruct', 0.5],
    ['Qwen/Qwen3-30B-A3B', 30],
    ['TinyLlama/TinyLlama-1.1B-Chat-v1.0', 1.1],
    ['bigscience/bloom-560m', 0.56],
    ['meta-llama/Llama-2-7b-chat-hf', 7],
    ['openai-community/gpt2', undefined],
    ['microsoft/phi-3-mini-4k-instruct', undefined],
    ['meta-llama/Llama-4-Scout-17B-16E-Instruct', undefined],
  ];
  assert.equal(cases.map(([id]) => [id, parametersFromModelId(id)]), cases);
});

need('estimate: parameters × bytes per dtype × memoryOverhead', () => {
  const estimate = (id: string, config = {}) => {
    const result = memoryNeed(id, config);
    return result.ok ? result.bytes : result.message;
  };
  assert.is(estimate('meta-llama/Llama-3.1-8B'), 19.2e9, 'bfloat16 and 1.2 by default');
  assert.is(estimate('meta-llama/Llama-3.1-8B', { dtype: 'float32', memoryOverhead: 1.5 }), 48e9);
  assert.is(estimate('mistralai/Mixtral-8x7B', { dtype: 'int4', memoryOverhead: 1 }), 28e9);
  assert.is(estimate('Qwen/Qwen2.5-0.5B-Instruct', { dtype: 'int8' }), 0.6e9);
  const result = memoryNeed('meta-llama/Llama-3.1-8B', {});
  assert.equal(result, { ok: true, bytes: 19.2e9, source: 'estimate', detail: '8B parameters (the model id) × 2 bytes (bfloat16) × 1.2 = 19.2 GB' });
});

need('configuration: gpuMemory, else parametersBillions and dtype of the model, before the name', () => {
  const config = {
    models: {
      'openai-community/gpt2': { gpuMemory: '2Gi' },
      'microsoft/phi-3-mini-4k-instruct': { parametersBillions: 3.8, dtype: 'int8' as const },
      'meta-llama/Llama-3.1-8B': { gpuMemory: '30Gi' },
    },
  };
  assert.equal(memoryNeed('openai-community/gpt2', config), { ok: true, bytes: 2 * GiB, source: 'configuration', detail: 'dispatcher.models."openai-community/gpt2".gpuMemory 2Gi' });
  const phi = memoryNeed('microsoft/phi-3-mini-4k-instruct', config);
  assert.ok(phi.ok && phi.bytes === Math.round(3.8e9 * 1.2) && phi.source === 'estimate', JSON.stringify(phi));
  const llama = memoryNeed('META-LLAMA/llama-3.1-8b', config);
  assert.ok(llama.ok && llama.bytes === 30 * GiB, 'a model id differing only in case finds its entry');
});

need("the request's gpu_memory comes first, and a bad one is refused", () => {
  const config = { models: { 'meta-llama/Llama-3.1-8B': { gpuMemory: '30Gi' } } };
  assert.equal(memoryNeed('meta-llama/Llama-3.1-8B', config, '24Gi'), { ok: true, bytes: 24 * GiB, source: 'request', detail: 'gpu_memory 24Gi of the request' });
  assert.equal(memoryNeed('x', {}, '20GB'), { ok: false, message: 'gpu_memory "20GB" is not a Kubernetes quantity; write 20G or 20Gi' });
  assert.equal(memoryNeed('x', {}, '20'), { ok: false, message: 'gpu_memory "20" is 20 bytes, not an amount of GPU memory; write e.g. 20Gi' });
  assert.is((memoryNeed('x', {}, '512Mi') as { bytes: number }).bytes, 512 * MiB);
});

need('no need known: a message that says what to set', () => {
  assert.equal(memoryNeed('openai-community/gpt2', {}), {
    ok: false,
    message:
      'no GPU memory need is known for model "openai-community/gpt2": its name gives no parameter count (like 8B or 8x7B); set dispatcher.models."openai-community/gpt2".gpuMemory (e.g. 20Gi) or dispatcher.models."openai-community/gpt2".parametersBillions, or send gpu_memory with the request',
  });
  const badConfig = memoryNeed('m', { models: { m: { gpuMemory: '10gb' } } });
  assert.equal(badConfig, { ok: false, message: 'dispatcher.models."m".gpuMemory "10gb" is not a Kubernetes quantity; write 10G or 10Gi' });
});

need('end to end: an 8B model in bfloat16 gets a 1g.20gb slice, not the 1g.10gb SSIS would give it', () => {
  const nodes = [operatorNode({ name: 'a100', gpu: A100_SXM4_80GB, count: 1, migStrategy: 'mixed', setup: { kind: 'mig', devices: { '1g.10gb': 3, '1g.20gb': 2 }, config: 'custom' } }), operatorNode({ name: 'l40', gpu: L40, count: 1 })];
  const estimate = memoryNeed('meta-llama/Llama-3.1-8B-Instruct', {});
  assert.ok(estimate.ok);
  const choice = chooseShare(estimate.bytes, freeShares(described(nodes), []));
  assert.ok(choice.ok && choice.resource === 'nvidia.com/mig-1g.20gb', JSON.stringify(choice));
  assert.is(chooseShareSsis(['nvidia.com/mig-1g.10gb', 'nvidia.com/mig-1g.20gb'], nodes), 'nvidia.com/mig-1g.10gb');
});

need.run();
