/** A pod's own node constraints, matched against node labels as the scheduler matches them. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readNodeConstraints, type NodeConstraints } from '#core/gpu/node-constraints.ts';

const constraints = suite('readNodeConstraints');

const node = (name: string, labels: Record<string, string> = {}) => ({ name, labels });
const zoneA = node('a', { 'topology.kubernetes.io/zone': 'ucsd', 'nvidia.com/gpu.count': '4', pool: 'inference' });
const zoneB = node('b', { 'topology.kubernetes.io/zone': 'uchicago', 'nvidia.com/gpu.count': '8' });
const bare = node('c');

function read(spec: unknown): NodeConstraints {
  const { constraints, error } = readNodeConstraints(spec);
  assert.is(error, undefined);
  if (!constraints) throw new Error('no constraints read');
  return constraints;
}
const required = (...nodeSelectorTerms: unknown[]) => ({ affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms } } } });
const expr = (key: string, operator: string, values?: string[]) => ({ key, operator, ...(values ? { values } : {}) });
const matching = (c: NodeConstraints) => [zoneA, zoneB, bare].filter((n) => c.matches(n)).map((n) => n.name);

constraints('a pod without nodeName, nodeSelector or required node affinity has none', () => {
  assert.equal(readNodeConstraints({ containers: [] }), {});
  assert.equal(readNodeConstraints({ nodeSelector: {} }), {});
  assert.equal(readNodeConstraints({ affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [] }, podAntiAffinity: {} } }), {});
  // No terms at all is no constraint: the webhook writes the first term itself.
  assert.equal(readNodeConstraints(required()), {});
});

constraints('nodeSelector: every pair must match', () => {
  const c = read({ nodeSelector: { 'topology.kubernetes.io/zone': 'ucsd', pool: 'inference' } });
  assert.equal(matching(c), ['a']);
  assert.is(c.description, 'nodeSelector (topology.kubernetes.io/zone=ucsd, pool=inference)');
  assert.equal(matching(read({ nodeSelector: { pool: 'training' } })), []);
});

constraints('operators In, NotIn, Exists, DoesNotExist, Gt and Lt', () => {
  const only = (...expressions: unknown[]) => matching(read(required({ matchExpressions: expressions })));
  assert.equal(only(expr('topology.kubernetes.io/zone', 'In', ['ucsd', 'mit'])), ['a']);
  assert.equal(only(expr('topology.kubernetes.io/zone', 'NotIn', ['ucsd'])), ['b', 'c'], 'NotIn matches nodes without the label');
  assert.equal(only(expr('pool', 'Exists')), ['a']);
  assert.equal(only(expr('pool', 'DoesNotExist')), ['b', 'c']);
  assert.equal(only(expr('nvidia.com/gpu.count', 'Gt', ['4'])), ['b']);
  assert.equal(only(expr('nvidia.com/gpu.count', 'Lt', ['8'])), ['a']);
  // Gt and Lt need one integer on both sides; a node without the label never matches.
  assert.equal(only(expr('nvidia.com/gpu.count', 'Gt', ['four'])), []);
  assert.equal(only(expr('pool', 'Gt', ['1'])), []);
  assert.equal(only(expr('pool', 'Sometimes', ['x'])), [], 'an unknown operator matches nothing');
});

constraints('terms are ORed, expressions ANDed; an empty term matches nothing; nodeSelector ANDs with them', () => {
  const both = required(
    { matchExpressions: [expr('topology.kubernetes.io/zone', 'In', ['ucsd']), expr('pool', 'In', ['training'])] },
    { matchExpressions: [expr('nvidia.com/gpu.count', 'In', ['8'])] },
  );
  assert.equal(matching(read(both)), ['b']);
  assert.equal(matching(read(required({}))), [], 'a null or empty term selects no node');
  assert.equal(matching(read(required({}, { matchExpressions: [expr('pool', 'Exists')] }))), ['a']);
  const anded = read({ nodeSelector: { 'topology.kubernetes.io/zone': 'uchicago' }, ...required({ matchExpressions: [expr('pool', 'Exists')] }) });
  assert.equal(matching(anded), []);
  assert.is(anded.description, 'nodeSelector (topology.kubernetes.io/zone=uchicago) and node affinity (pool Exists)');
});

constraints('matchFields on metadata.name, and spec.nodeName', () => {
  const fields = read(required({ matchFields: [expr('metadata.name', 'In', ['b', 'c'])] }, { matchExpressions: [expr('pool', 'Exists')] }));
  assert.equal(matching(fields), ['a', 'b', 'c']);
  assert.is(fields.description, 'node affinity (metadata.name In [b, c]; or pool Exists)');
  assert.equal(matching(read(required({ matchFields: [expr('metadata.name', 'NotIn', ['a'])] }))), ['b', 'c']);
  assert.equal(matching(read(required({ matchFields: [expr('metadata.uid', 'In', ['a'])] }))), [], 'metadata.name is the only field');
  const bound = read({ nodeName: 'b' });
  assert.equal(matching(bound), ['b']);
  assert.is(bound.description, 'spec.nodeName (b)');
});

constraints('the key is the same for the same constraints and differs otherwise', () => {
  const a = read({ nodeSelector: { pool: 'inference' } });
  assert.is(read({ nodeSelector: { pool: 'inference' } }).key, a.key);
  assert.is.not(read({ nodeSelector: { pool: 'training' } }).key, a.key);
  assert.is.not(read({ nodeName: 'inference' }).key, read({ nodeSelector: { nodeName: 'inference' } }).key);
});

constraints('malformed constraints are errors naming the field', () => {
  assert.equal(readNodeConstraints({ nodeSelector: 'gpu' }), { error: 'spec.nodeSelector is not a map of strings' });
  assert.equal(readNodeConstraints({ nodeSelector: { pool: 3 } }), { error: 'spec.nodeSelector is not a map of strings' });
  assert.equal(readNodeConstraints({ affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: {} } } } }), {
    error: 'spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms is not a list',
  });
  assert.equal(readNodeConstraints(required({ matchExpressions: [{ operator: 'Exists' }] })), {
    error: 'spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0] needs a key and an operator',
  });
  assert.equal(readNodeConstraints(required({ matchExpressions: [expr('pool', 'In', 'x' as never)] })), {
    error: 'spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values is not a list of strings',
  });
});

constraints.run();
