/**
 * A pod's own nodeSelector, node affinity or nodeName narrows the nodes its GPU ask is resolved
 * among; a constraint that leaves out every node able to satisfy it is refused, naming it.
 * Through resolveGpuRequestCached, the entry point the mutation uses.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { describeNode } from '#core/gpu/node-gpus.ts';
import { readNodeConstraints, type NodeConstraints } from '#core/gpu/node-constraints.ts';
import { resolveGpuRequestCached } from '#core/gpu/resolve-cached.ts';
import { available, resolveGpuRequest, type GpuRequest, type Resolution } from '#core/gpu/resolve.ts';
import { webhookClusterNodes } from './operator-nodes.ts';

const GiB = 2 ** 30;
/** ucsd: gpu-a100-mixed, gpu-l40-whole; uchicago: gpu-a100-single, gpu-l40-mps, gpu-t4-time-sliced. */
const nodes = webhookClusterNodes().map(describeNode);
const constrained = suite('resolve among the nodes the pod allows');

function where(spec: unknown): NodeConstraints {
  const { constraints } = readNodeConstraints(spec);
  if (!constraints) throw new Error('no constraints');
  return constraints;
}
const zone = (name: string) => where({ nodeSelector: { 'topology.kubernetes.io/zone': name } });
const resolve = (request: GpuRequest, constraints?: NodeConstraints) => resolveGpuRequestCached(request, nodes, constraints);

function denied(resolution: Resolution): string {
  assert.is(resolution.ok, false, JSON.stringify(resolution));
  return (resolution as { message: string }).message;
}

constrained('the ask is resolved among the matching nodes only', () => {
  const memory: GpuRequest = { kind: 'memory', bytes: 15 * GiB, count: 1 };
  // Anywhere, the smallest slice that holds 15 GiB is the single node's 1g.20gb (uchicago) ...
  const anywhere = resolve(memory);
  assert.equal(anywhere.ok && anywhere.resources, { 'nvidia.com/gpu': '1' });
  // ... in ucsd it is the mixed node's 3g.40gb.
  const ucsd = resolve(memory, zone('ucsd'));
  assert.equal(ucsd.ok && ucsd.resources, { 'nvidia.com/mig-3g.40gb': '1' });
  const whole = resolve({ kind: 'whole', count: 1 }, where({ nodeName: 'gpu-l40-whole' }));
  assert.equal(whole.ok && whole.nodeAffinity, [{ key: 'nvidia.com/gpu.product', operator: 'In', values: ['NVIDIA-L40'] }]);
});

constrained('a constraint that leaves out every node able to satisfy the ask is refused, naming it', () => {
  assert.is(
    denied(resolve({ kind: 'profile', profile: '1g.20gb', count: 1 }, zone('ucsd'))),
    'the pod\'s nodeSelector (topology.kubernetes.io/zone=ucsd) leaves out every node that offers this; on the nodes it allows: ' +
      `no node offers MIG profile 1g.20gb; available: ${available(nodes.filter((n) => ['gpu-a100-mixed', 'gpu-l40-whole'].includes(n.name)))}`,
  );
  const affinity = where({
    affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'topology.kubernetes.io/zone', operator: 'In', values: ['uchicago'] }] }] } } },
  });
  assert.match(
    denied(resolve({ kind: 'whole', count: 1 }, affinity)),
    /^the pod's node affinity \(topology\.kubernetes\.io\/zone In \[uchicago\]\) leaves out every node that offers this; on the nodes it allows: no node offers whole GPUs /,
  );
});

constrained('a constraint no GPU node matches is refused, saying what the others offer', () => {
  assert.is(
    denied(resolve({ kind: 'mps', count: 1 }, zone('cern'))),
    `the pod's nodeSelector (topology.kubernetes.io/zone=cern) matches no node with GPUs; available elsewhere: ${available(nodes)}`,
  );
});

constrained('an ask nothing satisfies is refused as before, constraint or not', () => {
  const unconstrained = resolveGpuRequest({ kind: 'profile', profile: '7g.80gb', count: 1 }, nodes);
  assert.equal(resolve({ kind: 'profile', profile: '7g.80gb', count: 1 }, zone('ucsd')), unconstrained);
  assert.match(denied(resolve({ kind: 'mps', count: 2 }, zone('cern'))), /^the NVIDIA device plugin gives a container at most 1 MPS share/);
});

constrained('a constraint every node meets changes nothing', () => {
  const linux = where({ nodeSelector: { 'kubernetes.io/os': 'linux' } });
  assert.equal(resolve({ kind: 'whole', count: 2 }, linux), resolveGpuRequest({ kind: 'whole', count: 2 }, nodes));
});

constrained('answers are remembered per constraint: the same for the same, different for another', () => {
  const request: GpuRequest = { kind: 'memory', bytes: 15 * GiB, count: 1 };
  const ucsd = resolve(request, zone('ucsd'));
  assert.is(resolve(request, zone('ucsd')), ucsd);
  assert.is.not(resolve(request, zone('uchicago')), ucsd);
  assert.is.not(resolve(request), ucsd);
  assert.ok(Object.isFrozen(ucsd));
});

constrained.run();
