/**
 * Compatibility with SuperSONIC 0.3.1: the root and `triton` parts of every real values file
 * render with two release names, and the Triton objects carry what the file asked for.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { loadSchema } from '../../generator/src/schema/load.ts';
import { defaultsOf } from '../../generator/src/schema/walk.ts';
import { REPO_ROOT, template } from '../helpers/helm.ts';
import { coveredPart, loadCompatFiles, mergeValues, ROOT_SCALAR_KEYS } from '../helpers/compat.ts';
import { parseManifests, validateManifests } from '../helpers/k8s/manifests.ts';

const { root } = loadSchema(join(REPO_ROOT, 'schema/root.yaml'));
const tritonDefaults = defaultsOf(root, root).triton as Record<string, any>;
const compat = suite('SuperSONIC 0.3.1 values files (root and triton parts)');

type Manifest = Record<string, any>;
const find = (objects: Manifest[], kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata?.name === name);

for (const file of loadCompatFiles()) {
  const values = coveredPart(file.values, [...ROOT_SCALAR_KEYS, 'triton']);
  const triton = mergeValues(tritonDefaults, values.triton);
  const repo = triton.modelRepository;

  for (const [binary, release] of [['helm', 'supersonic'], ['helm', 'sonic-server'], ['helm3', 'supersonic'], ['helm3', 'sonic-server']] as const) {
    compat(`${binary}: ${file.name} as release ${release}`, async () => {
      const result = await template(binary, { release, values });
      assert.is(result.code, 0, `${file.name}: ${result.stderr}`);
      const objects = parseManifests(result.stdout) as Manifest[];

      const deployment = find(objects, 'Deployment', `${release}-triton`);
      assert.ok(deployment, `no Deployment ${release}-triton`);
      const pod = deployment.spec.template.spec;
      const container = pod.containers[0];
      assert.is(container.image, triton.image);
      assert.equal(container.command, triton.command);
      assert.equal(container.args, triton.args);
      assert.equal(normaliseQuantities(container.resources), normaliseQuantities(triton.resources));
      assert.is(deployment.spec.replicas, triton.replicas);
      assert.equal(pod.nodeSelector ?? {}, triton.nodeSelector);
      assert.equal(pod.affinity ?? {}, triton.affinity);
      assert.equal(pod.tolerations ?? [], triton.tolerations);

      const service = find(objects, 'Service', `${release}-triton`);
      assert.ok(service, `no Service ${release}-triton`);
      assert.is(service.spec.clusterIP, 'None');
      assert.equal(service.spec.ports.map((p: any) => p.name), triton.service.ports.map((p: any) => p.name));
      assert.equal(container.ports.map((p: any) => p.containerPort), triton.service.ports.map((p: any) => p.targetPort));

      const mount = container.volumeMounts.find((m: any) => m.name === 'model-repository');
      if (repo.enabled) {
        assert.is(mount?.mountPath, repo.mountPath);
        assert.is(mount?.readOnly, true);
        assert.is(mount?.mountPropagation, 'HostToContainer');
        const claim = pod.volumes.find((v: any) => v.name === 'model-repository')?.persistentVolumeClaim?.claimName;
        assert.is(claim, `${release}-cvmfs`);
        assert.ok(find(objects, 'PersistentVolumeClaim', `${release}-cvmfs`), 'the CVMFS claim is part of the release');
      } else {
        assert.is(mount, undefined);
      }

      if (triton.readinessProbe.reset) assert.is(container.readinessProbe, undefined);
      else assert.equal(container.readinessProbe.exec.command, triton.readinessProbe.command);

      assert.equal(await validateManifests(objects), []);
    });
  }
}

/** Helm renders quantities as YAML numbers or strings; compare them as strings. */
function normaliseQuantities(resources: Record<string, Record<string, unknown>>) {
  const out: Record<string, Record<string, string>> = {};
  for (const [group, items] of Object.entries(resources)) {
    out[group] = Object.fromEntries(Object.entries(items).map(([k, v]) => [k, String(v)]));
  }
  return out;
}

compat.run();
