/**
 * Compatibility with SuperSONIC 0.3.1: every real values file renders as it is, whole, with two
 * release names, on a cluster serving KEDA and prometheus-operator (what 0.3.1's CI installed),
 * and yields the objects its features ask for: the Triton objects, and the KEDA ScaledObject.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { loadSchema } from '../../generator/src/schema/load.ts';
import { defaultsOf } from '../../generator/src/schema/walk.ts';
import { REPO_ROOT, template } from '../helpers/helm.ts';
import { loadCompatFiles, mergeValues } from '../helpers/compat.ts';
import { parseManifests, validateManifests } from '../helpers/k8s/manifests.ts';

const { root } = loadSchema(join(REPO_ROOT, 'schema/root.yaml'));
const defaults = defaultsOf(root, root) as Record<string, any>;
const tritonDefaults = defaults.triton as Record<string, any>;
const compat = suite('SuperSONIC 0.3.1 values files, as they are');
/** The cluster 0.3.1's CI installed the chart into: KEDA and kube-prometheus-stack. */
const API_VERSIONS = ['keda.sh/v1alpha1', 'monitoring.coreos.com/v1'];

type Manifest = Record<string, any>;
const find = (objects: Manifest[], kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata?.name === name);

for (const file of loadCompatFiles()) {
  const values = file.values as Record<string, any>;
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
      const tracing = values['opentelemetry-collector']?.enabled === true;
      if (!tracing || String(triton.args).includes('--trace-config')) {
        assert.equal(container.args, triton.args, 'the file\'s args as they are');
      } else {
        // The chart adds Triton's trace flags to the file's script (0.3.1 made users write them).
        assert.is(container.args.length, 1);
        assert.ok(container.args[0].startsWith(triton.args[0].trimEnd()), 'the file\'s script comes first, unchanged');
        assert.is(container.args[0].match(/--trace-config=mode=opentelemetry/g)?.length, 1, 'the trace mode, once');
        assert.match(container.args[0], `opentelemetry,url=http://${release}-opentelemetry-collector.cms.svc:4318/v1/traces`);
      }
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
        const external = values.prometheus?.external;
        const wanted = external?.enabled
          ? `${external.scheme ?? 'https'}://${external.url}:${external.port ?? 443}`
          : `http://${release}-prometheus-server.cms.svc:${values.prometheus?.server?.service?.servicePort ?? 9090}`;
        assert.is(load.metadata.serverAddress, wanted, 'the external Prometheus, else the bundled one');
        const toZero = keda.minReplicaCount === 0 || keda.zeroIdleReplicas;
        assert.is(scaledObject.spec.triggers.some((t: any) => t.name === 'requests'), toZero, 'a wake trigger exactly when Triton may scale to zero');
        if (external?.enabled) assert.ok(objects.some((o) => o.kind === 'ServiceMonitor' && o.metadata.name === `${release}-triton`), 'the external Prometheus scrapes Triton for the load metric');
        else assert.ok(objects.some((o) => o.kind === 'ConfigMap' && o.metadata.name === `${release}-prometheus-server` && o.data['prometheus.yml'].includes('kubernetes_sd_configs')), 'the bundled Prometheus scrapes Triton for the load metric');
      } else {
        assert.is(scaledObject, undefined);
      }

      assert.equal(await validateManifests(objects), []);
    });
  }
}

/**
 * A file whose KEDA and metrics collector read the bundled Prometheus (values-minimal-full.yaml),
 * rendered without its prometheus section, is refused with a message that names both ways to give one, never
 * rendered with a Prometheus address made up (0.3.1 wrote https://:9090).
 */
for (const file of loadCompatFiles().filter((f) => (f.values as Record<string, any>).keda?.enabled === true && (f.values as Record<string, any>).prometheus?.enabled === true)) {
  compat(`${file.name}: without its prometheus section, what reads Prometheus (KEDA, the metrics collector) is refused naming prometheus.external and prometheus.enabled`, async () => {
    const { prometheus: _dropped, ...values } = file.values as Record<string, any>;
    for (const binary of ['helm', 'helm3'] as const) {
      const result = await template(binary, { values, apiVersions: API_VERSIONS });
      assert.is.not(result.code, 0);
      // The first component that reads it says so (here the metrics collector or KEDA), naming both ways to give one.
      assert.match(result.stderr, /(needs a Prometheus|has no Prometheus).*prometheus\.external\.enabled.*prometheus\.enabled/);
      assert.not.match(result.stderr, /additional properties|minReplicaCount|scaleUp/, 'the keda section itself validates');
    }
  });
}

compat('the files exercise KEDA on and off, with minReplicaCount 0 and custom behaviour', () => {
  const files = loadCompatFiles();
  const kept = files.map((f) => f.values as Record<string, any>);
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
