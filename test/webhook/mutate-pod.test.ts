/** mutatePod's decisions that the fixtures do not each show: defaults, opt-outs, clashes, bad shapes. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { mutatePod, type PodMutationDeps } from '../../webhook/src/admission/mutate-pod.ts';
import { describeNode } from '#core/gpu/node-gpus.ts';
import fastJsonPatch from 'fast-json-patch';
import { deepFreeze } from '#core/deep-freeze.ts';
import { FIXTURES, NODES, testConfig, testDeps } from '../helpers/webhook.ts';

const decisions = suite('webhook: mutatePod decisions');
const P = 'supersonic.fastmachinelearning.org/';
const nodes = NODES.map(describeNode);

function deps(namespaceDefaults: Record<string, Record<string, string>> = {}): PodMutationDeps {
  const config = testConfig();
  config.values.injection.namespaceDefaults = namespaceDefaults;
  return { config, ownNamespace: 'supersonic-system', gpuNodes: () => nodes, claimExists: async () => true };
}

/** The not-requested fixture (a plain Triton pod in namespace cms), with these annotations. */
function request(annotations: Record<string, string> = {}, change?: (pod: Record<string, any>) => void) {
  const review = JSON.parse(readFileSync(join(FIXTURES, 'create-not-requested', 'review.json'), 'utf8'));
  review.request.object.metadata.annotations = annotations;
  change?.(review.request.object);
  return review.request;
}

const gpuOf = (outcome: Awaited<ReturnType<typeof mutatePod>>) =>
  outcome.kind === 'mutated' ? outcome.patch.filter((op) => op.path.includes('nvidia.com')).map((op) => op.path).sort() : [];

decisions('a namespace default applies to pods that ask for nothing of their own', async () => {
  const outcome = await mutatePod(request(), deps({ cms: { 'gpu-profile': '1g.10gb' } }));
  assert.is(outcome.kind, 'mutated');
  assert.ok(gpuOf(outcome).some((path) => path.endsWith('mig-1g.10gb')));
});

decisions("a pod's own GPU annotation replaces the namespace's GPU default as a whole", async () => {
  const outcome = await mutatePod(request({ [`${P}gpu`]: '1' }), deps({ cms: { 'gpu-profile': '1g.10gb' } }));
  assert.is(outcome.kind, 'mutated');
  assert.equal(gpuOf(outcome), ['/spec/containers/0/resources/limits/nvidia.com~1gpu', '/spec/containers/0/resources/requests/nvidia.com~1gpu']);
});

decisions('gpu: none and cvmfs-repositories: none turn defaults off', async () => {
  const outcome = await mutatePod(request({ [`${P}gpu`]: 'none', [`${P}cvmfs-repositories`]: 'none' }), deps({ cms: { 'gpu-profile': '1g.10gb', 'cvmfs-repositories': 'cms.cern.ch' } }));
  assert.equal(outcome, { kind: 'skipped', reason: 'not-requested' });
});

decisions('the auth sidecar is refused when its port is taken, naming the container', async () => {
  const outcome = await mutatePod(
    request({ [`${P}auth`]: 'enabled' }, (pod) => pod.spec.containers[0].ports.push({ name: 'https', containerPort: 8443 })),
    deps(),
  );
  assert.is(outcome.kind, 'denied');
  assert.match((outcome as { message: string }).message, /listens on port 8443 .* container triton-server already declares/);
});

decisions('a malformed pod is refused with the field named, not a crash', async () => {
  const outcome = await mutatePod(request({ [`${P}cvmfs-repositories`]: 'cms.cern.ch' }, (pod) => (pod.spec.volumes = 'none')), deps());
  assert.equal(outcome, { kind: 'denied', message: 'malformed pod: spec.volumes is not a list' });
});

decisions('own namespace, kube-system and UPDATE are skipped with their reason', async () => {
  const own = request({ [`${P}gpu`]: '1' });
  own.namespace = 'supersonic-system';
  assert.equal(await mutatePod(own, deps()), { kind: 'skipped', reason: 'system-namespace' });
  const system = request({ [`${P}gpu`]: '1' });
  system.namespace = 'kube-system';
  assert.equal(await mutatePod(system, deps()), { kind: 'skipped', reason: 'system-namespace' });
  const update = request({ [`${P}gpu`]: '1' });
  update.operation = 'UPDATE';
  assert.equal(await mutatePod(update, deps()), { kind: 'skipped', reason: 'operation' });
});

decisions('gpu: none beside another GPU annotation of the pod is refused, not silently dropped', async () => {
  const outcome = await mutatePod(request({ [`${P}gpu`]: 'none', [`${P}gpu-profile`]: '1g.10gb' }), deps());
  assert.equal(outcome, {
    kind: 'denied',
    message: `${P}gpu: none asks for no GPU, but the pod also sets ${P}gpu-profile; set one or the other`,
  });
  // gpu-container only says where a GPU would go: with none, there is none to place.
  const placed = await mutatePod(request({ [`${P}gpu`]: 'none', [`${P}gpu-container`]: 'triton-server' }), deps({ cms: { 'gpu-mps': '1' } }));
  assert.equal(placed, { kind: 'skipped', reason: 'not-requested' });
});

/** A second container that already holds a GPU of its own, as an author may write it. */
const withGpuSidecar = (where: 'containers' | 'initContainers', resource = 'nvidia.com/gpu') => (pod: Record<string, any>) => {
  const sidecar = { name: 'encoder', image: 'ffmpeg:7', resources: { limits: { [resource]: '1' } }, ...(where === 'initContainers' ? { restartPolicy: 'Always' } : {}) };
  (pod.spec[where] ??= []).push(sidecar);
};

decisions('a MIG or MPS ask in a pod where another container holds nvidia.com/gpu is refused', async () => {
  const asks: Record<string, string>[] = [{ [`${P}gpu-profile`]: '1g.10gb' }, { [`${P}gpu-mps`]: '1' }, { [`${P}gpu-memory`]: '8Gi' }];
  for (const ask of asks) {
    for (const where of ['containers', 'initContainers'] as const) {
      const outcome = await mutatePod(request(ask, withGpuSidecar(where)), deps());
      assert.is(outcome.kind, 'denied', `${JSON.stringify(ask)} ${where}`);
      assert.match((outcome as { message: string }).message, /^container encoder already requests nvidia\.com\/gpu; a pod cannot also get a (MIG slice|MPS share) /);
    }
  }
  // Whole GPUs beside whole GPUs are fine, and so is a MIG slice beside another slice.
  assert.is((await mutatePod(request({ [`${P}gpu`]: '1' }, withGpuSidecar('containers')), deps())).kind, 'mutated');
  assert.is((await mutatePod(request({ [`${P}gpu-profile`]: '1g.10gb' }, withGpuSidecar('containers', 'nvidia.com/mig-1g.10gb')), deps())).kind, 'mutated');
});

const inZone = (zone: string) => (pod: Record<string, any>) => (pod.spec.nodeSelector = { 'topology.kubernetes.io/zone': zone });

decisions("a GPU ask the pod's own nodeSelector or node affinity leaves no node for is refused, naming it", async () => {
  const outcome = await mutatePod(request({ [`${P}gpu-profile`]: '1g.10gb' }, inZone('cern')), deps());
  assert.is(outcome.kind, 'denied');
  assert.match((outcome as { message: string }).message, /^the pod's nodeSelector \(topology\.kubernetes\.io\/zone=cern\) matches no node with GPUs; available elsewhere: MIG 1g\.10gb/);
  const affinity = (pod: Record<string, any>) =>
    (pod.spec.affinity = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'topology.kubernetes.io/zone', operator: 'In', values: ['uchicago'] }] }] } } });
  const whole = await mutatePod(request({ [`${P}gpu`]: '1' }, affinity), deps());
  assert.match((whole as { message: string }).message, /^the pod's node affinity \(topology\.kubernetes\.io\/zone In \[uchicago\]\) leaves out every node that offers this; /);
  const malformed = await mutatePod(request({ [`${P}gpu`]: '1' }, (pod) => (pod.spec.nodeSelector = ['ucsd'])), deps());
  assert.equal(malformed, { kind: 'denied', message: 'malformed pod: spec.nodeSelector is not a map of strings' });
});

decisions('the ask is resolved among the nodes the pod can land on, and a second pass changes nothing', async () => {
  // 15Gi: the 1g.20gb slice of the MIG-single node (uchicago) anywhere, the mixed node's 3g.40gb in ucsd.
  const pinned = request({ [`${P}gpu-memory`]: '15Gi' }, inZone('ucsd'));
  const outcome = await mutatePod(pinned, deps());
  assert.equal(gpuOf(outcome), ['/spec/containers/0/resources/limits/nvidia.com~1mig-3g.40gb', '/spec/containers/0/resources/requests/nvidia.com~1mig-3g.40gb']);
  if (outcome.kind !== 'mutated') return;
  const patched = fastJsonPatch.applyPatch(structuredClone(pinned.object), outcome.patch, true, false).newDocument;
  const again = await mutatePod({ ...pinned, object: patched }, deps());
  assert.equal(again.kind === 'mutated' && again.patch, []);
});

decisions("an empty node-selector term of the pod's own matches no node, and is left empty", async () => {
  const terms = (pod: Record<string, any>) =>
    (pod.spec.affinity = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{}, { matchExpressions: [{ key: 'topology.kubernetes.io/zone', operator: 'In', values: ['ucsd'] }] }] } } });
  const outcome = await mutatePod(request({ [`${P}gpu`]: '1' }, terms), deps());
  if (outcome.kind !== 'mutated') return assert.unreachable(JSON.stringify(outcome));
  const affinity = outcome.patch.filter((op) => op.path.startsWith('/spec/affinity')).map((op) => op.path);
  assert.equal(affinity, ['/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/1/matchExpressions/1']);
  const alone = await mutatePod(request({ [`${P}gpu`]: '1' }, (pod) => (pod.spec.affinity = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{}] } } })), deps());
  assert.match((alone as { message: string }).message, /^the pod's node affinity \(an empty term, which matches no node\) matches no node with GPUs/);
});

decisions('the request is never changed: each fixture, frozen, still gives its golden pod', async () => {
  // The patch is a diff that skips whatever the copy still shares with the request, which is
  // sound only while mutations never write into the request's own objects; frozen, they cannot.
  const shared = testDeps();
  let checked = 0;
  for (const name of readdirSync(FIXTURES)) {
    const golden = join(FIXTURES, name, 'patched-pod.json');
    if (!existsSync(golden)) continue;
    const review = deepFreeze(JSON.parse(readFileSync(join(FIXTURES, name, 'review.json'), 'utf8')));
    const outcome = await mutatePod(review.request, shared);
    if (outcome.kind !== 'mutated') return assert.unreachable(`${name}: ${JSON.stringify(outcome)}`);
    const patched = fastJsonPatch.applyPatch(structuredClone(review.request.object), outcome.patch, true, false).newDocument;
    assert.equal(patched, JSON.parse(readFileSync(golden, 'utf8')), name);
    checked++;
  }
  assert.ok(checked >= 8, `only ${checked} fixtures with a golden patched pod`);
});

decisions('no patch holds a frozen object: remembered GPU answers are copied into the pod', async () => {
  // V8's fast JSON.stringify gives up on frozen objects, and the whole patch then takes about
  // twice as long to encode (docs/benchmarks.md).
  const frozenIn = (value: unknown, path: string): string[] =>
    value && typeof value === 'object'
      ? [...(Object.isFrozen(value) ? [path] : []), ...Object.entries(value).flatMap(([key, child]) => frozenIn(child, `${path}/${key}`))]
      : [];
  const shared = testDeps();
  let checked = 0;
  for (const name of readdirSync(FIXTURES)) {
    const review = JSON.parse(readFileSync(join(FIXTURES, name, 'review.json'), 'utf8'));
    // Twice: the second pod of each kind gets the remembered answer.
    for (const pass of [1, 2]) {
      const outcome = await mutatePod(structuredClone(review.request), shared);
      if (outcome.kind !== 'mutated') continue;
      assert.equal(frozenIn(outcome.patch, ''), [], `${name}, pod ${pass}`);
      checked++;
    }
  }
  assert.ok(checked >= 16, `only ${checked} patches looked at`);
});

decisions("a pod's own GPU ask replaces the namespace's GPU default as a whole, gpu-container included", async () => {
  const defaults = { cms: { 'gpu-profile': '1g.10gb', 'gpu-container': 'worker' } };
  const outcome = await mutatePod(request({ [`${P}gpu`]: '1' }), deps(defaults));
  assert.equal(gpuOf(outcome), ['/spec/containers/0/resources/limits/nvidia.com~1gpu', '/spec/containers/0/resources/requests/nvidia.com~1gpu']);
  // A pod that names only its container keeps the namespace's ask, and places it.
  const placed = await mutatePod(request({ [`${P}gpu-container`]: 'triton-server' }), deps(defaults));
  assert.ok(gpuOf(placed).some((path) => path.endsWith('mig-1g.10gb')), JSON.stringify(placed));
});

decisions('before the first node list, a GPU ask is refused as not ready yet, not as "no GPUs"; other asks go on', async () => {
  const waiting: PodMutationDeps = { ...deps(), gpuNodes: () => [], gpuNodesReady: () => false };
  const outcome = await mutatePod(request({ [`${P}gpu-profile`]: '1g.10gb' }), waiting);
  assert.is(outcome.kind, 'denied');
  const message = (outcome as { message: string }).message;
  assert.match(message, /not ready yet/);
  assert.not.match(message, /no GPUs|no node offers/);
  assert.is((await mutatePod(request({ [`${P}cvmfs-repositories`]: 'cms.cern.ch' }), waiting)).kind, 'mutated');
  // Without the dependency (existing callers), the nodes are taken as listed.
  assert.is((await mutatePod(request({ [`${P}gpu-profile`]: '1g.10gb' }), deps())).kind, 'mutated');
});

decisions('an annotation under our prefix that we do not read gets a warning with the closest name', async () => {
  const typo = await mutatePod(request({ [`${P}gpu-profil`]: '1g.10gb' }), deps());
  assert.equal(typo, { kind: 'skipped', reason: 'not-requested', warnings: [`${P}gpu-profil: unknown annotation, ignored (did you mean gpu-profile?)`] });
  const beside = await mutatePod(request({ [`${P}cvmfs-repository`]: 'cms.cern.ch', [`${P}gpu`]: '1' }), deps());
  if (beside.kind !== 'mutated') return assert.unreachable(JSON.stringify(beside));
  assert.equal(beside.warnings[0], `${P}cvmfs-repository: unknown annotation, ignored (did you mean cvmfs-repositories?)`);
  const label = await mutatePod(request({ [`${P}inject`]: 'disabled' }), deps());
  assert.equal(label, { kind: 'skipped', reason: 'not-requested', warnings: [`${P}inject: a label, not an annotation; set it in metadata.labels`] });
  const unlike = await mutatePod(request({ [`${P}colour`]: 'blue' }), deps());
  assert.match((unlike as { warnings: string[] }).warnings[0]!, /^supersonic\.fastmachinelearning\.org\/colour: unknown annotation, ignored \(known: gpu, gpu-profile, /);
  // Ours, and other prefixes, are not warned about.
  const ours = await mutatePod(request({ [`${P}injected`]: 'gpu', 'example.org/gpu-profil': 'x', [`${P}gpu`]: 'none' }), deps());
  assert.equal(ours, { kind: 'skipped', reason: 'not-requested' });
});

decisions('warnings stay under the API server limits, and echoed values are cut short', async () => {
  const long = 'x'.repeat(100_000);
  const annotations: Record<string, string> = {};
  for (let i = 0; i < 500; i++) annotations[`${P}gpu-profil${i}${long.slice(0, 300)}`] = long;
  const many = await mutatePod(request(annotations), deps());
  const warnings = (many as { warnings?: string[] }).warnings ?? [];
  assert.ok(warnings.length > 0 && warnings.length < 10, `${warnings.length} warnings`);
  for (const warning of warnings) assert.ok(warning.length <= 256, `${warning.length}: ${warning}`);
  assert.match(warnings.at(-1)!, /^and 49\d more unknown annotations under supersonic\.fastmachinelearning\.org\/$/);

  const refusals: Record<string, string>[] = [
    { [`${P}gpu-memory`]: long },
    { [`${P}gpu-container`]: long, [`${P}gpu`]: '1' },
    { [`${P}cvmfs-repositories`]: long },
    { [`${P}auth`]: long },
  ];
  for (const ask of refusals) {
    const outcome = await mutatePod(request(ask), deps());
    assert.is(outcome.kind, 'denied', JSON.stringify(outcome).slice(0, 200));
    const message = (outcome as { message: string }).message;
    assert.ok(message.length < 400, `${message.length} characters: ${message.slice(0, 300)}`);
    assert.ok(message.includes('…'), message);
  }
  // A pod of many long-named containers: the refusal names a few, not all.
  const crowded = await mutatePod(
    request({ [`${P}gpu-container`]: 'nope', [`${P}gpu`]: '1' }, (pod) => {
      for (let i = 0; i < 200; i++) pod.spec.containers.push({ name: `sidecar-${i}-${'y'.repeat(50)}`, image: 'busybox' });
    }),
    deps(),
  );
  assert.ok((crowded as { message: string }).message.length < 400, (crowded as { message: string }).message.slice(0, 500));
  // What is injected into a container with a long name is still told in one short warning.
  const named = await mutatePod(request({ [`${P}gpu`]: '1', [`${P}cvmfs-repositories`]: Array.from({ length: 40 }, (_, i) => `repo${i}.cern.ch`).join(',') }, (pod) => (pod.spec.containers[0].name = 'z'.repeat(300))), deps());
  if (named.kind !== 'mutated') return assert.unreachable(JSON.stringify(named).slice(0, 300));
  for (const warning of named.warnings) assert.ok(warning.length <= 256, `${warning.length}: ${warning}`);
  assert.ok(named.warnings.join('').length <= 4096);
});

decisions.run();
