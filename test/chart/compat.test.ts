/**
 * Compatibility with SuperSONIC 0.3.1: every real values file renders as it is (but for the
 * sections of components the chart does not have yet, test/helpers/compat.ts STILL_CUT) with two
 * release names, on a cluster serving KEDA and prometheus-operator (what 0.3.1's CI installed),
 * and yields the objects its features ask for: the Triton objects, and the KEDA ScaledObject.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { loadSchema } from '../../generator/src/schema/load.ts';
import { defaultsOf } from '../../generator/src/schema/walk.ts';
import { REPO_ROOT, template } from '../helpers/helm.ts';
import { kedaNeedsCutPrometheus, loadCompatFiles, mergeValues, supportedPart } from '../helpers/compat.ts';
import { parseManifests, validateManifests } from '../helpers/k8s/manifests.ts';

const { root } = loadSchema(join(REPO_ROOT, 'schema/root.yaml'));
const defaults = defaultsOf(root, root) as Record<string, any>;
const tritonDefaults = defaults.triton as Record<string, any>;
const compat = suite('SuperSONIC 0.3.1 values files, as they are but for the components still missing');
/** The cluster 0.3.1's CI installed the chart into: KEDA and kube-prometheus-stack. */
const API_VERSIONS = ['keda.sh/v1alpha1', 'monitoring.coreos.com/v1'];

type Manifest = Record<string, any>;
const find = (objects: Manifest[], kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata?.name === name);

for (const file of loadCompatFiles()) {
  const { values } = supportedPart(file.values);
  const triton = mergeValues(tritonDefaults, values.triton);
  const keda = mergeValues(defaults.keda, values.keda);
  const repo = triton.modelRepository;

  for (const [binary, release] of [['helm', 'supersonic'], ['helm', 'sonic-server'], ['helm3', 'supersonic'], ['helm3', 'sonic-server']] as const) {
    compat(`${binary}: ${file.name} as release ${release}`, async () => {
      const result = await template(binary, { release, values, apiVersions: API_VERSIONS });
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
      // Under KEDA, helm template (no cluster to look at) leaves the count to the autoscaler.
      if (keda.enabled) assert.not.ok('replicas' in deployment.spec, 'under KEDA the Deployment must not set replicas');
      else assert.is(deployment.spec.replicas, triton.replicas);
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

      const scaledObject = objects.find((o) => o.kind === 'ScaledObject');
      if (keda.enabled) {
        assert.ok(scaledObject, 'keda.enabled: a ScaledObject');
        assert.is(scaledObject.metadata.name, `${release}-keda-so`);
        assert.is(scaledObject.spec.scaleTargetRef.name, `${release}-triton`);
        assert.is(scaledObject.spec.minReplicaCount, keda.minReplicaCount);
        assert.is(scaledObject.spec.maxReplicaCount, keda.maxReplicaCount);
        const behavior = scaledObject.spec.advanced.horizontalPodAutoscalerConfig.behavior;
        for (const direction of ['scaleUp', 'scaleDown'] as const) {
          assert.equal(behavior[direction], {
            stabilizationWindowSeconds: keda[direction].stabilizationWindowSeconds,
            policies: [{ type: 'Pods', value: keda[direction].stepsize, periodSeconds: keda[direction].periodSeconds }],
          }, `${direction} from the file`);
        }
        const load = scaledObject.spec.triggers.find((t: any) => t.name === 'server-load');
        assert.is(load.metricType, 'AverageValue');
        assert.is(load.metadata.threshold, String(values.serverLoadThreshold ?? 100));
        if (values.serverLoadMetric) assert.ok(load.metadata.query.startsWith(`(${values.serverLoadMetric}) * `), 'the file\'s serverLoadMetric');
        const external = values.prometheus.external;
        assert.is(load.metadata.serverAddress, `${external.scheme ?? 'https'}://${external.url}:${external.port ?? 443}`);
        const toZero = keda.minReplicaCount === 0 || keda.zeroIdleReplicas;
        assert.is(scaledObject.spec.triggers.some((t: any) => t.name === 'requests'), toZero, 'a wake trigger exactly when Triton may scale to zero');
        assert.ok(objects.some((o) => o.kind === 'ServiceMonitor' && o.metadata.name === `${release}-triton`), 'Triton is scraped for the load metric');
      } else {
        assert.is(scaledObject, undefined);
      }

      assert.equal(await validateManifests(objects), []);
    });
  }
}

/**
 * A file that enables KEDA on the bundled Prometheus (values-minimal-full.yaml) has its keda
 * section cut with the Prometheus one (see supportedPart). Kept without the Prometheus, it is
 * accepted by the schema and refused with a message that names what to set, never rendered
 * with a Prometheus address made up (0.3.1 wrote https://:9090).
 */
for (const file of loadCompatFiles().filter((f) => kedaNeedsCutPrometheus(f.values))) {
  compat(`${file.name}: its keda section, without the bundled Prometheus it reads, is refused naming prometheus.external`, async () => {
    const { values } = supportedPart(file.values);
    for (const binary of ['helm', 'helm3'] as const) {
      const result = await template(binary, { values: { ...values, keda: file.values.keda }, apiVersions: API_VERSIONS });
      assert.is.not(result.code, 0);
      assert.match(result.stderr, /keda\.enabled needs a Prometheus to read the load from: set prometheus\.external\.enabled and prometheus\.external\.url/);
      assert.not.match(result.stderr, /additional properties|minReplicaCount|scaleUp/, 'the keda section itself validates');
    }
  });
}

compat('the files exercise KEDA on and off, with minReplicaCount 0 and custom behaviour', () => {
  const files = loadCompatFiles();
  const kept = files.map((f) => supportedPart(f.values).values);
  assert.ok(kept.some((v) => v.keda?.enabled === true), 'a file that enables KEDA is rendered with it');
  assert.ok(kept.some((v) => v.keda && v.keda.enabled !== true && v.keda.minReplicaCount === 0));
  assert.ok(kept.some((v) => v.keda?.scaleUp && v.keda?.scaleDown));
});

/** Helm renders quantities as YAML numbers or strings; compare them as strings. */
function normaliseQuantities(resources: Record<string, Record<string, unknown>>) {
  const out: Record<string, Record<string, string>> = {};
  for (const [group, items] of Object.entries(resources)) {
    out[group] = Object.fromEntries(Object.entries(items).map(([k, v]) => [k, String(v)]));
  }
  return out;
}

compat.run();
