/**
 * Compatibility with SuperSONIC 0.3.1, monitoring parts: every real values file, whole, renders
 * with two release names on Helm 4 and Helm 3, and yields the monitoring objects its features ask
 * for, under the Service names 0.3.1's subcharts used (site files name them in datasources and
 * endpoints): the bundled Prometheus and its Ingress, Grafana with its Ingress, root_url and
 * dashboards, Tempo, the OpenTelemetry collector, the metrics collector and its Ingress. Every
 * object passes the real API server's strict dry run.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { dryRunInstall, HELM_VERSIONS, template } from '../helpers/helm.ts';
import { loadCompatFiles, mergeValues } from '../helpers/compat.ts';
import { parseManifests, validateManifests } from '../helpers/k8s/manifests.ts';

type Manifest = Record<string, any>;
const compat = suite('SuperSONIC 0.3.1 values files (monitoring parts)');
const NAMESPACE = 'cms';
/** The cluster 0.3.1's CI installed the chart into: KEDA and kube-prometheus-stack. */
const API_VERSIONS = ['keda.sh/v1alpha1', 'monitoring.coreos.com/v1'];

const componentOf = (o: Manifest) => o.metadata?.labels?.['app.kubernetes.io/component'];
const service = (objects: Manifest[], name: string) => objects.find((o) => o.kind === 'Service' && o.metadata.name === name);
const ports = (svc: Manifest | undefined) => (svc?.spec.ports ?? []).map((p: Manifest) => p.port).sort((a: number, b: number) => a - b);
const ingressHosts = (objects: Manifest[], component: string) =>
  objects.filter((o) => o.kind === 'Ingress' && componentOf(o) === component).flatMap((o) => o.spec.rules.map((r: Manifest) => r.host)).sort();
/** The hosts an upstream-style ingress section asks for: hostName and the hosts list. */
const wantedHosts = (ingress: Manifest | undefined) => [...new Set([ingress?.hostName, ...(ingress?.hosts ?? [])].filter(Boolean))].sort();

/** Which bundled components a file turns on, as 0.3.1 read it. */
function featuresOf(values: Manifest) {
  const externalPrometheus = values.prometheus?.external?.enabled === true;
  return {
    bundledPrometheus: values.prometheus?.enabled === true && !externalPrometheus,
    grafana: values.grafana?.enabled === true,
    tempo: values.tempo?.enabled === true,
    collector: values['opentelemetry-collector']?.enabled === true,
    metricsCollector: values.metricsCollector?.enabled === true,
  };
}

for (const file of loadCompatFiles()) {
  const values = file.values as Manifest;
  const features = featuresOf(file.values);
  for (const binary of HELM_VERSIONS) {
    for (const release of ['supersonic', 'sonic-server']) {
      compat(`${binary}: ${file.name} as release ${release}`, async () => {
        const result = await template(binary, { release, namespace: NAMESPACE, values, apiVersions: API_VERSIONS });
        assert.is(result.code, 0, `${file.name}: ${result.stderr}`);
        const objects = parseManifests(result.stdout) as Manifest[];
        const components = new Set(objects.map(componentOf));

        const prometheus = service(objects, `${release}-prometheus-server`);
        assert.is(!!prometheus, features.bundledPrometheus, 'the bundled Prometheus exactly when prometheus.enabled without an external one');
        if (features.bundledPrometheus) {
          assert.equal(ports(prometheus), [values.prometheus.server?.service?.servicePort ?? 9090]);
          assert.ok(objects.some((o) => o.kind === 'Deployment' && componentOf(o) === 'prometheus'), 'a Prometheus Deployment');
          assert.ok(objects.some((o) => o.kind === 'Role' && componentOf(o) === 'prometheus'), 'namespaced RBAC for its discovery');
          assert.not.ok(objects.some((o) => o.kind === 'ClusterRole' && componentOf(o) === 'prometheus'), 'no cluster-wide RBAC');
          const ingress = values.prometheus.server?.ingress;
          assert.equal(ingressHosts(objects, 'prometheus'), ingress?.enabled ? wantedHosts(ingress) : []);
        } else {
          assert.not.ok(components.has('prometheus'), 'no Prometheus objects');
        }

        const scaledObject = objects.find((o) => o.kind === 'ScaledObject');
        if (scaledObject && features.bundledPrometheus) {
          const load = scaledObject.spec.triggers.find((t: Manifest) => t.name === 'server-load');
          assert.is(load.metadata.serverAddress, `http://${release}-prometheus-server.${NAMESPACE}.svc:9090`, 'KEDA reads the bundled Prometheus');
        }

        const grafana = service(objects, `${release}-grafana`);
        assert.is(!!grafana, features.grafana, 'Grafana exactly when grafana.enabled');
        if (features.grafana) {
          assert.equal(ports(grafana), [80]);
          assert.ok(objects.some((o) => o.kind === 'Deployment' && componentOf(o) === 'grafana'), 'a Grafana Deployment');
          const ingress = values.grafana.ingress;
          assert.equal(ingressHosts(objects, 'grafana'), ingress?.enabled ? wantedHosts(ingress) : []);
          const rootUrl = values.grafana['grafana.ini']?.server?.root_url;
          if (rootUrl) assert.ok(objects.some((o) => o.kind === 'ConfigMap' && JSON.stringify(o.data ?? {}).includes(rootUrl)), `grafana.ini's root_url ${rootUrl} is kept`);
          const dashboards = objects.filter((o) => o.kind === 'ConfigMap' && o.metadata.labels?.grafana_dashboard === '1');
          assert.ok(dashboards.length > 0, "dashboards as ConfigMaps with the label kube-prometheus-stack's sidecar watches");
        }

        const tempo = service(objects, `${release}-tempo`);
        assert.is(!!tempo, features.tempo, 'Tempo exactly when tempo.enabled');
        if (features.tempo) for (const port of [3100, 4317, 4318]) assert.ok(ports(tempo).includes(port), `Tempo serves ${port}`);

        const collector = service(objects, `${release}-opentelemetry-collector`);
        assert.is(!!collector, features.collector, 'the OpenTelemetry collector exactly when opentelemetry-collector.enabled');
        if (features.collector) for (const port of [4317, 4318]) assert.ok(ports(collector).includes(port), `the collector serves ${port}`);

        const metricsCollector = service(objects, `${release}-metrics-collector`);
        assert.is(!!metricsCollector, features.metricsCollector, 'the metrics collector exactly when metricsCollector.enabled');
        if (features.metricsCollector) {
          const settings = mergeValues({ service: { port: 8003, type: 'ClusterIP' } }, values.metricsCollector);
          assert.equal(ports(metricsCollector), [settings.service.port]);
          assert.is(metricsCollector!.spec.type, settings.service.type);
          const ingress = values.metricsCollector.ingress;
          assert.equal(ingressHosts(objects, 'metrics-collector'), ingress?.enabled ? wantedHosts(ingress) : []);
        }

        assert.equal(await validateManifests(objects), []);
      });
    }
  }
}

compat('the files exercise every bundled component, and an external Prometheus with Grafana', () => {
  const all = loadCompatFiles().map((f) => featuresOf(f.values as Manifest));
  for (const feature of ['bundledPrometheus', 'grafana', 'tempo', 'collector', 'metricsCollector'] as const) {
    assert.ok(all.some((f) => f[feature]), `some file enables ${feature}`);
  }
  assert.ok(loadCompatFiles().some((f) => (f.values as Manifest).grafana?.enabled && (f.values as Manifest).prometheus?.external?.enabled), 'Grafana on an external Prometheus');
});

/**
 * 0.3.1's files name the monitoring Services of the release they were written for: NOTES says
 * when a name is not a Service of this release (the site's own release name gets no warning).
 */
compat('NOTES names each Service a file writes that the release does not create, and only those', async () => {
  const file = loadCompatFiles().find((f) => f.name === 'values-nautilus-cms.yaml')!;
  const notesOf = async (release: string) => {
    const result = await dryRunInstall('helm', { release, namespace: NAMESPACE, values: file.values });
    assert.is(result.code, 0, result.stderr);
    return result.stdout.slice(result.stdout.indexOf('NOTES:'));
  };
  const other = await notesOf('sonic-server');
  assert.match(other, 'grafana.datasources: datasource "prometheus" reads "http://supersonic-prometheus-server:9090", which names the Service "supersonic-prometheus-server" that this release does not create');
  assert.match(other, 'sonic-server-prometheus-server', 'the Service the release does create is named');
  const own = await notesOf('supersonic');
  assert.not.match(own, /names the Service "supersonic-prometheus-server"/, 'the release the file was written for gets no warning');
});

compat.run();
