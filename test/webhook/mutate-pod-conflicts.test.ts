/**
 * mutatePod against what the pod already has: CVMFS in every container (init containers and
 * native sidecars too), names and paths we inject that the pod uses for something else, and
 * pods we cannot inject into (Windows; the auth sidecar in a hostNetwork pod). Each refusal
 * says why; each accepted pod converges (a second pass over the patched pod changes nothing).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fastJsonPatch from 'fast-json-patch';
import { mutatePod, type Outcome, type PodMutationDeps } from '../../webhook/src/admission/mutate-pod.ts';
import { deepFreeze } from '#core/deep-freeze.ts';
import { FIXTURES, testConfig, testDeps } from '../helpers/webhook.ts';

const conflicts = suite('webhook: mutatePod and what the pod already has');
const P = 'supersonic.fastmachinelearning.org/';

function deps(namespaceDefaults: Record<string, Record<string, string>> = {}): PodMutationDeps {
  const config = testConfig();
  config.values.injection.namespaceDefaults = namespaceDefaults;
  return testDeps(config);
}

/** The not-requested fixture (a plain Triton pod in namespace cms), with these annotations. */
function request(annotations: Record<string, string> = {}, change?: (pod: Record<string, any>) => void) {
  const review = JSON.parse(readFileSync(join(FIXTURES, 'create-not-requested', 'review.json'), 'utf8'));
  review.request.object.metadata.annotations = annotations;
  change?.(review.request.object);
  return review.request;
}

function patched(req: { object: Record<string, any> }, outcome: Outcome): Record<string, any> {
  if (outcome.kind !== 'mutated') throw new Error(`not mutated: ${JSON.stringify(outcome).slice(0, 400)}`);
  return fastJsonPatch.applyPatch(structuredClone(req.object), outcome.patch, true, false).newDocument;
}

function denial(outcome: Outcome): string {
  if (outcome.kind !== 'denied') throw new Error(`not denied: ${JSON.stringify(outcome).slice(0, 400)}`);
  return outcome.message;
}

const withInitContainers = (pod: Record<string, any>) => {
  pod.spec.initContainers = [
    { name: 'fetch-models', image: 'busybox:1.36', command: ['sh', '-c', 'ls /cvmfs/cms.cern.ch'] },
    { name: 'log-shipper', image: 'fluent/fluent-bit:3.2', restartPolicy: 'Always', volumeMounts: [{ name: 'kube-api-access-7xk2p', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }] },
  ];
};

conflicts('CVMFS is mounted in every container: init containers and native sidecars too, not the auth sidecar', async () => {
  const req = deepFreeze(request({ [`${P}cvmfs-repositories`]: 'cms.cern.ch', [`${P}auth`]: 'enabled' }, withInitContainers));
  const outcome = await mutatePod(req, deps());
  const pod = patched(req, outcome);
  const cvmfsPaths = (container: Record<string, any>) => (container.volumeMounts ?? []).filter((m: any) => m.name === 'supersonic-cvmfs').map((m: any) => m.mountPath);
  assert.equal(pod.spec.containers.map(cvmfsPaths), [['/cvmfs/cms.cern.ch']]);
  assert.equal(pod.spec.initContainers.map((c: any) => c.name), ['fetch-models', 'log-shipper', 'supersonic-auth']);
  assert.equal(pod.spec.initContainers.map(cvmfsPaths), [['/cvmfs/cms.cern.ch'], ['/cvmfs/cms.cern.ch'], []]);
  // The second pass, on the pod as the API server hands it back (defaults filled in), adds nothing.
  const sidecar = pod.spec.initContainers[2];
  Object.assign(sidecar, { terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File', imagePullPolicy: 'IfNotPresent' });
  const again = await mutatePod({ ...req, object: pod }, deps());
  assert.equal(again.kind === 'mutated' && again.patch, []);
});

conflicts('a volume of the pod named supersonic-cvmfs is refused, not reused', async () => {
  const outcome = await mutatePod(request({ [`${P}cvmfs-repositories`]: 'cms.cern.ch' }, (pod) => pod.spec.volumes.push({ name: 'supersonic-cvmfs', emptyDir: {} })), deps());
  assert.match(denial(outcome), /^CVMFS: the pod already has a volume named supersonic-cvmfs, which is not the webhook's; rename it/);
});

conflicts('a path CVMFS would be mounted at that the container already uses is refused, not reused or duplicated', async () => {
  const mount = (mountPath: string, where: 'containers' | 'initContainers' = 'containers') => (pod: Record<string, any>) => {
    pod.spec.volumes.push({ name: 'site-cvmfs', hostPath: { path: '/cvmfs', type: 'Directory' } });
    if (where === 'initContainers') pod.spec.initContainers = [{ name: 'warm-cache', image: 'busybox:1.36', volumeMounts: [] }];
    pod.spec[where][0].volumeMounts.push({ name: 'site-cvmfs', mountPath, readOnly: true });
  };
  const ask = { [`${P}cvmfs-repositories`]: 'atlas.cern.ch,cms.cern.ch' };
  assert.is(
    denial(await mutatePod(request(ask, mount('/cvmfs/cms.cern.ch')), deps())),
    'CVMFS: container triton-server already mounts volume site-cvmfs at /cvmfs/cms.cern.ch, where the webhook would mount cms.cern.ch; remove that mount or cms.cern.ch from the annotation',
  );
  assert.match(denial(await mutatePod(request(ask, mount('/cvmfs/')), deps())), /^CVMFS: container triton-server already mounts volume site-cvmfs at \/cvmfs\/, where the webhook mounts CVMFS repositories \(\/cvmfs\/<repository>\); /);
  assert.match(denial(await mutatePod(request(ask, mount('/cvmfs/cms.cern.ch/models')), deps())), /^CVMFS: container triton-server already mounts volume site-cvmfs at \/cvmfs\/cms\.cern\.ch\/models, inside \/cvmfs\/cms\.cern\.ch/);
  assert.match(denial(await mutatePod(request(ask, mount('/cvmfs/cms.cern.ch', 'initContainers')), deps())), /^CVMFS: container warm-cache already mounts volume site-cvmfs at \/cvmfs\/cms\.cern\.ch/);
  // Beside CVMFS, not on it: fine.
  assert.is((await mutatePod(request(ask, mount('/cvmfs-cache')), deps())).kind, 'mutated');
  assert.is((await mutatePod(request(ask, mount('/cvmfs/other.repo.org')), deps())).kind, 'mutated');
});

conflicts('a container of the pod named supersonic-auth is refused, not taken for the sidecar or duplicated', async () => {
  const ask = { [`${P}auth`]: 'enabled' };
  const regular = await mutatePod(request(ask, (pod) => pod.spec.containers.push({ name: 'supersonic-auth', image: 'example.org/my-auth:1' })), deps());
  assert.match(denial(regular), /^auth: the pod already has a container named supersonic-auth, which is not the webhook's sidecar; rename it/);
  const init = await mutatePod(request(ask, (pod) => (pod.spec.initContainers = [{ name: 'supersonic-auth', image: 'busybox:1.36' }])), deps());
  assert.match(denial(init), /^auth: the pod already has a container named supersonic-auth/);
});

conflicts('any injection into a Windows pod is refused with the reason', async () => {
  const windows = (pod: Record<string, any>) => (pod.spec.os = { name: 'windows' });
  const selected = (pod: Record<string, any>) => (pod.spec.nodeSelector = { 'kubernetes.io/os': 'windows' });
  const asks: Record<string, string>[] = [{ [`${P}gpu`]: '1' }, { [`${P}cvmfs-repositories`]: 'cms.cern.ch' }, { [`${P}auth`]: 'enabled' }];
  for (const ask of asks) {
    for (const change of [windows, selected]) {
      assert.match(denial(await mutatePod(request(ask, change), deps())), /^this is a Windows pod \((spec\.os\.name: windows|nodeSelector kubernetes\.io\/os=windows)\); GPUs, CVMFS and the auth sidecar are Linux-only: /);
    }
  }
  // A namespace default counts too, and the message says how to opt out.
  const fromDefault = denial(await mutatePod(request({}, windows), deps({ cms: { 'cvmfs-repositories': 'cms.cern.ch' } })));
  assert.match(fromDefault, /label supersonic\.fastmachinelearning\.org\/inject=disabled/);
  // A Windows pod that asks for nothing passes untouched; so does a Linux one.
  assert.equal(await mutatePod(request({}, windows), deps()), { kind: 'skipped', reason: 'not-requested' });
  assert.is((await mutatePod(request({ [`${P}gpu`]: '1' }, (pod) => (pod.spec.os = { name: 'linux' })), deps())).kind, 'mutated');
});

conflicts('the auth sidecar in a hostNetwork pod is refused: it would listen on the node', async () => {
  const hostNetwork = (pod: Record<string, any>) => (pod.spec.hostNetwork = true);
  assert.match(denial(await mutatePod(request({ [`${P}auth`]: 'enabled' }, hostNetwork), deps())), /^auth: the pod uses hostNetwork, so the sidecar would listen on port 8443 of the node/);
  assert.is((await mutatePod(request({ [`${P}cvmfs-repositories`]: 'cms.cern.ch' }, hostNetwork), deps())).kind, 'mutated');
});

conflicts.run();
