/**
 * Golden renders: each case under test/golden/ renders with Helm 4 exactly as committed, Helm 3
 * renders it identically, and every object passes the Kubernetes schema, unknown-field,
 * apiVersion and restricted Pod Security checks.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { templateOrThrow } from '../helpers/helm.ts';
import { loadGoldenCases, matchGolden } from '../helpers/golden.ts';
import { parseManifests, validateManifests } from '../helpers/k8s/manifests.ts';
import { envoyConfigsOf, undefinedClusters } from '../helpers/envoy/rendered.ts';
import { validateEnvoyBootstrap } from '../helpers/envoy/validate-config.ts';

const cases = loadGoldenCases();
const golden = suite('golden renders');

golden('the golden cases cover defaults, every storage type and the name overrides', () => {
  const names = cases.map((c) => c.name);
  for (const expected of ['defaults', 'storage-cvmfs-pvc', 'storage-cvmfs', 'storage-cvmfs-hostpath', 'storage-pvc', 'storage-nfs', 'name-override', 'fullname-override']) {
    assert.ok(names.includes(expected), `missing golden case ${expected}`);
  }
});

for (const goldenCase of cases) {
  const render = (binary: 'helm' | 'helm3') =>
    templateOrThrow(binary, { release: goldenCase.release, namespace: goldenCase.namespace, valuesFiles: [goldenCase.valuesFile] });

  golden(`${goldenCase.name}: Helm 4 renders the committed output.yaml`, async () => {
    const { expected, actual } = matchGolden(goldenCase, await render('helm'));
    assert.fixture(actual, expected, `${goldenCase.name}/output.yaml differs; if the change is intended, run UPDATE_GOLDEN=1 make unit`);
  });

  golden(`${goldenCase.name}: Helm 3 renders the same manifests as Helm 4`, async () => {
    const [helm4, helm3] = await Promise.all([render('helm'), render('helm3')]);
    assert.fixture(helm3, helm4);
  });

  golden(`${goldenCase.name}: every object is valid for Kubernetes and meets the restricted Pod Security Standard`, async () => {
    const objects = parseManifests(await render('helm'));
    assert.ok(objects.length > 0, 'rendered no objects');
    const problems = await validateManifests(objects, { allowHostPath: goldenCase.allowHostPath, allowNfs: goldenCase.allowNfs });
    assert.equal(problems, []);
  });

  golden(`${goldenCase.name}: every generated envoy.yaml is valid for Envoy's v3 API and names only defined clusters`, async () => {
    const objects = parseManifests(await render('helm'));
    for (const config of envoyConfigsOf(objects)) {
      assert.equal(await validateEnvoyBootstrap(config), []);
      assert.equal(undefinedClusters(config), []);
    }
  });
}

golden.run();
