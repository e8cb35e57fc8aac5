/**
 * Bad values fail `helm template` (and so `helm install`) with a message that names the key,
 * with Helm 4 and Helm 3 alike. Their wording differs, so tests match the key, not the text.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { HELM_VERSIONS, template, type HelmBinary } from '../helpers/helm.ts';

const negative = suite('values that must be refused');

async function expectFailure(binary: HelmBinary, values: Record<string, unknown>, ...mustMention: RegExp[]) {
  const result = await template(binary, { values });
  assert.is.not(result.code, 0, `${binary} accepted ${JSON.stringify(values)}`);
  for (const pattern of mustMention) assert.match(result.stderr, pattern, `${binary}: ${result.stderr}`);
}

for (const binary of HELM_VERSIONS) {
  negative(`${binary}: a misspelt key (triton.replica) fails and names it`, () =>
    expectFailure(binary, { triton: { replica: 2 } }, /replica\b/, /triton/));

  negative(`${binary}: a misspelt nested key (triton.modelRepository.storagetype) fails and names it`, () =>
    expectFailure(binary, { triton: { modelRepository: { storagetype: 'pvc' } } }, /storagetype/, /modelRepository/));

  negative(`${binary}: a misspelt top-level key fails and names it`, () => expectFailure(binary, { tritn: {} }, /tritn/));

  negative(`${binary}: a wrong type (triton.replicas: "two") fails and names the key`, () =>
    expectFailure(binary, { triton: { replicas: 'two' } }, /replicas/));

  negative(`${binary}: an unknown storage type fails and names the key`, () =>
    expectFailure(binary, { triton: { modelRepository: { storageType: 's3' } } }, /storageType/));

  negative(`${binary}: a malformed quantity fails and names the resource`, () =>
    expectFailure(binary, { triton: { resources: { limits: { memory: 'lots' } } } }, /memory/));

  negative(`${binary}: a misspelt toleration field fails and names it`, () =>
    expectFailure(binary, { triton: { tolerations: [{ key: 'gpu', operater: 'Exists' }] } }, /operater/));
}

const crossField = suite('cross-field checks in the templates');

/** Each case: what it checks, the values, and the message that must name the keys. */
const crossFieldCases: [string, Record<string, unknown>, RegExp][] = [
  [
    'storageType pvc without a claim name says which key to set',
    { triton: { modelRepository: { enabled: true, storageType: 'pvc' } } },
    /triton\.modelRepository\.pvc\.claimName must name an existing PersistentVolumeClaim/,
  ],
  [
    'an enabled model repository without a mount path says which key to set',
    { triton: { modelRepository: { enabled: true, mountPath: '' } } },
    /triton\.modelRepository\.mountPath must be set when triton\.modelRepository\.enabled is true/,
  ],
  [
    'storageType nfs without server and path says which keys to set',
    { triton: { modelRepository: { enabled: true, storageType: 'nfs', nfs: { server: 'nfs.example.org' } } } },
    /triton\.modelRepository\.nfs\.server and triton\.modelRepository\.nfs\.path must both be set/,
  ],
  [
    'an existing CVMFS claim must be named',
    { triton: { modelRepository: { enabled: true, cvmfsPvc: { create: false } } } },
    /triton\.modelRepository\.cvmfsPvc\.claimName must name the existing CVMFS claim/,
  ],
  [
    'a grace period no longer than the drain wait is refused',
    { triton: { terminationGracePeriodSeconds: 30, drainSeconds: 30 } },
    /triton\.terminationGracePeriodSeconds \(30\) must be greater than triton\.drainSeconds \(30\)/,
  ],
  [
    'a probe naming a port that does not exist is refused, listing the ports',
    { triton: { service: { ports: [{ name: 'web', port: 8000, targetPort: 8000 }] } }, envoy: { enabled: false } },
    /triton\.startupProbe\.httpGet\.port is "http", but triton\.service\.ports has no port of that name \(it has: web\)/,
  ],
  [
    'duplicate port names are refused',
    { triton: { service: { ports: [{ name: 'http', port: 8000, targetPort: 8000 }, { name: 'http', port: 8001, targetPort: 8001 }] } } },
    /triton\.service\.ports: the port name "http" appears twice/,
  ],
  [
    'a request above the default limit says which limit to raise',
    { triton: { resources: { requests: { memory: '16Gi' } } } },
    /triton\.resources\.requests\.memory \(16Gi\) is more than triton\.resources\.limits\.memory \(2G\)/,
  ],
  [
    'a GPU requested without a limit is refused (Kubernetes needs the limit)',
    { triton: { resources: { requests: { 'nvidia.com/gpu': 1 } } } },
    /triton\.resources\.limits\.nvidia\.com\/gpu must be set, equal to triton\.resources\.requests\.nvidia\.com\/gpu \(1\)/,
  ],
  [
    'a GPU request different from its limit is refused',
    { triton: { resources: { requests: { 'nvidia.com/mig-1g.10gb': 1 }, limits: { 'nvidia.com/mig-1g.10gb': 2 } } } },
    /triton\.resources\.requests\.nvidia\.com\/mig-1g\.10gb \(1\) and triton\.resources\.limits\.nvidia\.com\/mig-1g\.10gb \(2\) must be equal/,
  ],
  [
    'a shell command without a script in args is refused',
    { triton: { args: [] } },
    /triton\.args is empty, but triton\.command runs a shell/,
  ],
];

for (const binary of HELM_VERSIONS) {
  for (const [name, values, message] of crossFieldCases) {
    crossField(`${binary}: ${name}`, () => expectFailure(binary, values, message));
  }
}

const names = suite('release names that cannot name a Service');

for (const binary of HELM_VERSIONS) {
  for (const release of ['cms.v2', '1cms']) {
    names(`${binary}: release ${release} fails and says to set nameOverride`, async () => {
      const result = await template(binary, { release });
      assert.is.not(result.code, 0);
      assert.ok(result.stderr.includes(`the instance name "${release}"`), result.stderr);
      assert.match(result.stderr, /cannot name a Service.*Set nameOverride/);
    });
  }
  names(`${binary}: release cms.v2 works with nameOverride`, async () => {
    const result = await template(binary, { release: 'cms.v2', set: ['nameOverride=cms-v2'] });
    assert.is(result.code, 0, result.stderr);
    assert.match(result.stdout, /name: cms-v2-triton/);
  });
  names(`${binary}: an uppercase nameOverride fails naming the key`, () => expectFailure(binary, { nameOverride: 'Sonic_CMS' }, /nameOverride/));
  negative(`${binary}: a key set to null (image:) is refused by name, not rendered empty`, () =>
    expectFailure(binary, { triton: { image: null } }, /image/));
  negative(`${binary}: a label value with a space fails naming the label`, () =>
    expectFailure(binary, { commonLabels: { site: 'CMS Purdue' } }, /site/));
}

const accepted = suite('values that must be accepted');

for (const binary of HELM_VERSIONS) {
  accepted(`${binary}: quantities as numbers and strings (cpu: 0.5, "500m", memory: 2G, 16Gi)`, async () => {
    const resources = { requests: { cpu: 0.5, memory: '2G' }, limits: { cpu: '500m', memory: '16Gi', 'nvidia.com/gpu': 1 } };
    const result = await template(binary, { values: { triton: { resources } } });
    assert.is(result.code, 0, result.stderr);
    assert.match(result.stdout, /cpu: 0\.5/);
    assert.match(result.stdout, /cpu: 500m/);
  });

  accepted(`${binary}: null removes a default (Helm's way to unset a key)`, async () => {
    const result = await template(binary, { set: ['triton.podSecurityContext=null', 'triton.affinity=null', 'envoy.enabled=false'] });
    assert.is(result.code, 0, result.stderr);
    // Triton's pods only: the helm test pod has a security context of its own.
    const triton = result.stdout.split(/^---$/m).find((doc) => /^kind: Deployment$/m.test(doc) && /name: supersonic-triton$/m.test(doc));
    assert.ok(triton, 'no Triton Deployment');
    assert.not.match(triton!, /runAsUser/);
    assert.not.match(triton!, /affinity:/);
  });

  accepted(`${binary}: replicas 0 stays 0`, async () => {
    const result = await template(binary, { values: { triton: { replicas: 0 } } });
    assert.is(result.code, 0, result.stderr);
    assert.match(result.stdout, /replicas: 0\n/);
  });
}

negative.run();
crossField.run();
names.run();
accepted.run();
