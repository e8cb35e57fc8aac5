/**
 * `helm test <release>`: a pod that reaches Triton through the client endpoint as clients do:
 * perf_analyzer with real inference requests when a model is named (as 0.3.1's perf_analyzer
 * job), else Triton's readiness over gRPC; the token from a Secret when the gateway wants one.
 * (The golden renders check the pod against the real API server and restricted Pod Security.)
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { dryRunInstall, templateOrThrow } from '../helpers/helm.ts';
import { parseManifests } from '../helpers/k8s/manifests.ts';

type Manifest = Record<string, any>;
const test = suite('chart: the helm test pod');

async function testPod(values: Record<string, unknown>, release = 'supersonic'): Promise<Manifest | undefined> {
  const objects = parseManifests(await templateOrThrow('helm', { release, values })) as Manifest[];
  return objects.find((o) => o.kind === 'Pod' && o.metadata.annotations?.['helm.sh/hook'] === 'test');
}

test('by default it asks Triton whether it is ready, through Envoy\'s Service of this release', async () => {
  const pod = await testPod({}, 'sonic-server');
  assert.ok(pod);
  assert.is(pod!.metadata.name, 'sonic-server-test');
  const container = pod!.spec.containers[0];
  assert.equal(container.command, ['python3', '-c']);
  assert.match(container.args[0], 'InferenceServerClient("sonic-server.cms.svc:8001")');
  assert.match(container.args[0], 'is_server_ready');
  assert.is(pod!.spec.restartPolicy, 'Never');
});

test('with a model it runs perf_analyzer against the endpoint with the extra arguments', async () => {
  const pod = await testPod({ helmTest: { model: 'higgsInteractionNet', perfAnalyzerArgs: ['--input-data=random', '-b', '100'] } });
  const script = pod!.spec.containers[0].args[0];
  assert.match(script, /^exec perf_analyzer -i grpc -m "higgsInteractionNet" -u supersonic\.cms\.svc:8001 .* --input-data=random -b 100$/);
});

test('without Envoy it goes to Triton\'s Service; with auth it needs a token Secret, and sends it', async () => {
  const direct = await testPod({ envoy: { enabled: false } });
  assert.match(direct!.spec.containers[0].args[0], 'supersonic-triton.cms.svc:8001');
  const auth = { enabled: true, jwt_issuer: 'https://issuer.example.org', jwt_remote_jwks_uri: 'https://issuer.example.org/jwks' };
  assert.is(await testPod({ envoy: { auth } }), undefined, 'a test without a token could only be refused');
  const withToken = await testPod({ envoy: { auth }, helmTest: { tokenSecret: 'test-token' } });
  assert.equal(withToken!.spec.containers[0].env, [{ name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'test-token', key: 'token' } } }]);
  assert.is(await testPod({ helmTest: { enabled: false } }), undefined);
});

test('NOTES says how to run it, and why it is off when the gateway wants a token it does not have', async () => {
  const plain = await dryRunInstall('helm', { release: 'supersonic' });
  assert.match(plain.stdout, /Test:\s+helm test supersonic -n cms \(Triton's readiness; set helmTest\.model for an inference, through the client endpoint\)/);
  const auth = { enabled: true, jwt_issuer: 'https://issuer.example.org', jwt_remote_jwks_uri: 'https://issuer.example.org/jwks' };
  const off = await dryRunInstall('helm', { release: 'supersonic', values: { envoy: { auth } } });
  assert.match(off.stdout, 'helm test is off: the gateway wants a token; set helmTest.tokenSecret');
});

test.run();
