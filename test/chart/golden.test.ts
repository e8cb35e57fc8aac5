/**
 * Golden renders: each case under test/golden/ renders with Helm 4 exactly as committed, Helm 3
 * renders it identically, and every object passes the real API server's validation (a strict
 * dry run: schemas, CRD schemas, unknown fields), its restricted Pod Security admission (except
 * the hostPath and nfs volumes a case documents), and the offline apiVersion allow-list.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { templateOrThrow } from '../helpers/helm.ts';
import { loadGoldenCases, matchGolden } from '../helpers/golden.ts';
import { parseManifests, validateManifests } from '../helpers/k8s/manifests.ts';
import { envoyConfigsOf, undefinedClusters } from '../helpers/envoy/rendered.ts';
import { validateEnvoyBootstrap } from '../helpers/envoy/validate-config.ts';
import { parse } from 'yaml';

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
    templateOrThrow(binary, {
      release: goldenCase.release,
      namespace: goldenCase.namespace,
      valuesFiles: [goldenCase.valuesFile],
      apiVersions: goldenCase.apiVersions,
    });

  golden(`${goldenCase.name}: Helm 4 renders the committed output.yaml`, async () => {
    const { expected, actual } = matchGolden(goldenCase, await render('helm'));
    assert.fixture(actual, expected, `${goldenCase.name}/output.yaml differs; if the change is intended, run UPDATE_GOLDEN=1 make unit`);
  });

  golden(`${goldenCase.name}: Helm 3 renders the same manifests as Helm 4`, async () => {
    const [helm4, helm3] = await Promise.all([render('helm'), render('helm3')]);
    // Same documents; Helm 3 and 4 order kinds they do not know (CRDs) differently.
    assert.fixture(documents(helm3).join('\n---\n'), documents(helm4).join('\n---\n'));
  });

  golden(`${goldenCase.name}: every object is valid for Kubernetes and meets the restricted Pod Security Standard`, async () => {
    const objects = parseManifests(await render('helm'));
    assert.ok(objects.length > 0, 'rendered no objects');
    const problems = await validateManifests(objects, { allowHostPath: goldenCase.allowHostPath, allowNfs: goldenCase.allowNfs });
    assert.equal(problems, []);
  });

  golden(`${goldenCase.name}: every generated Envoy configuration (gateway and auth sidecar) is valid for Envoy's v3 API and names only defined clusters`, async () => {
    const objects = parseManifests(await render('helm'));
    const sidecars = objects
      .filter((o: Record<string, any>) => o.kind === 'ConfigMap' && typeof o.data?.['auth-sidecar.yaml'] === 'string')
      .map((o: Record<string, any>) => parse(o.data['auth-sidecar.yaml']));
    for (const config of [...envoyConfigsOf(objects), ...sidecars]) {
      assert.equal(await validateEnvoyBootstrap(config), []);
      assert.equal(undefinedClusters(config), []);
    }
  });
}

/** The documents of a render, sorted, so that only their order may differ. */
function documents(rendered: string): string[] {
  return rendered.split(/^---$/m).map((doc) => doc.trim()).filter(Boolean).sort();
}

golden.run();
