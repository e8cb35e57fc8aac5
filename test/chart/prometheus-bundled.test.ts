/**
 * The bundled Prometheus (prometheus.enabled): its prometheus.yml and rule file pass promtool
 * (Debian's 2.42, and the bundled release's where test/tools/build-promtool.sh built it) for
 * several values; its scrape configuration, applied as Prometheus applies it to the targets pod
 * discovery gives, keeps this release's Triton and Envoy pods only and labels their series so
 * that the shedder's and KEDA's queries select them (promtool evaluates them on those series);
 * its alerts fire when they should and not otherwise; SuperSONIC 0.3.1's prometheus keys are
 * accepted, honoured or warned about.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { dryRunInstall, template, templateOrThrow } from '../helpers/helm.ts';
import { parseManifests } from '../helpers/k8s/manifests.ts';
import { envoyConfigsOf } from '../helpers/envoy/rendered.ts';
import { loadCompatFiles } from '../helpers/compat.ts';
import {
  PROMTOOL, bundledPromtool, podTargets, promtools, promtoolTest, relabel, runPromtool, scrapeJobLabels, seriesSelector,
  type DiscoveredPod, type Series,
} from '../helpers/promtool.ts';

type Manifest = Record<string, any>;
const bundled = suite('bundled Prometheus (prometheus.enabled)');
const APIS = ['keda.sh/v1alpha1'];

async function render(values: Record<string, unknown> = {}, options: { release?: string; namespace?: string; apiVersions?: string[] } = {}): Promise<Manifest[]> {
  return parseManifests(await templateOrThrow('helm', {
    release: options.release ?? 'supersonic', namespace: options.namespace ?? 'cms', apiVersions: options.apiVersions ?? APIS,
    values: { prometheus: { enabled: true }, ...values },
  })) as Manifest[];
}

const find = (objects: Manifest[], kind: string, name?: string) => objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));

function configMap(objects: Manifest[]): { config: Manifest; text: string; rules: string } {
  const map = find(objects, 'ConfigMap', 'supersonic-prometheus-server') ?? objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.endsWith('-prometheus-server'));
  assert.ok(map, 'no ConfigMap <instance>-prometheus-server');
  return { config: parse(map.data['prometheus.yml']), text: map.data['prometheus.yml'], rules: map.data['supersonic-rules.yml'] };
}

/** The ConfigMap's files in one directory, as the pod mounts them; promtool check config there. */
async function checkConfig(objects: Manifest[]): Promise<void> {
  const { text, rules } = configMap(objects);
  const dir = mkdtempSync(join(tmpdir(), 'prometheus-'));
  writeFileSync(join(dir, 'prometheus.yml'), text);
  writeFileSync(join(dir, 'supersonic-rules.yml'), rules);
  // Debian's promtool is built without Kubernetes service discovery: it checks the rest of the
  // configuration with the discovery swapped for an empty static list; the bundled release's
  // promtool checks the file as it is.
  const built = bundledPromtool();
  writeFileSync(join(dir, 'debian.yml'), text.replaceAll(/kubernetes_sd_configs:\n(\s+- role: pod\n\s+namespaces:\n\s+names: \[.*\]\n)/g, 'static_configs: [{ targets: [] }]\n'));
  const configs: [string, string][] = [[PROMTOOL, join(dir, 'debian.yml')]];
  if (built) configs.push([built, join(dir, 'prometheus.yml')]);
  for (const [binary, file] of configs) {
    const config = await runPromtool(binary, ['check', 'config', file]);
    assert.is(config.code, 0, `${binary} check config:\n${config.output}\n${text}`);
    assert.match(config.output, /SUCCESS/);
  }
  for (const binary of promtools()) {
    const ruleCheck = await runPromtool(binary, ['check', 'rules', join(dir, 'supersonic-rules.yml')]);
    assert.is(ruleCheck.code, 0, `${binary} check rules:\n${ruleCheck.output}\n${rules}`);
  }
}

bundled('which promtools check the files (Debian\'s 2.42, and the bundled release\'s when built)', () => {
  const built = bundledPromtool();
  console.log(built ? `  promtool of the bundled release: ${built}` : '  no promtool of the bundled release (bash test/tools/build-promtool.sh builds it); Debian\'s 2.42 only');
  assert.ok(promtools().length >= 1);
});

bundled('promtool check config and check rules pass for several values', async () => {
  const cases: Record<string, unknown>[] = [
    {},
    { keda: { enabled: true, minReplicaCount: 0 }, envoy: { rate_limiter: { prometheus_based: { enabled: true, mode: 'shed', failOpen: true } } } },
    { tempo: { enabled: true }, 'opentelemetry-collector': { enabled: true } },
    { envoy: { enabled: false }, serverLoad: { perModel: true, models: ['a.b', 'c'] }, serverLoadThreshold: 2.5 },
    {
      prometheus: {
        enabled: true,
        server: {
          retention: '30d', extraFlags: ['web.enable-remote-write-receiver', 'storage.tsdb.wal-compression'],
          global: { scrape_interval: '5s', evaluation_interval: '5s' }, persistentVolume: { enabled: true, size: '20Gi', storageClass: 'fast' },
          ingress: { enabled: true, hostName: 'prom.example.org' },
        },
      },
    },
  ];
  for (const values of cases) await checkConfig(await render(values));
});

bundled('promtool check config refuses a broken configuration (the check can fail)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'prometheus-'));
  writeFileSync(join(dir, 'prometheus.yml'), stringify({ scrape_configs: [{ job_name: 'x', relabel_configs: [{ action: 'keep', regex: '(' }] }] }));
  for (const binary of promtools()) assert.is.not((await runPromtool(binary, ['check', 'config', join(dir, 'prometheus.yml')])).code, 0);
});

bundled('the objects: Deployment, Service <instance>-prometheus-server:servicePort, namespaced least-privilege RBAC, KEDA reads it', async () => {
  const objects = await render({ keda: { enabled: true }, prometheus: { enabled: true, server: { service: { servicePort: 9091 } } } }, { namespace: 'atlas' });
  const service = find(objects, 'Service', 'supersonic-prometheus-server')!;
  assert.equal(service.spec.ports, [{ name: 'http', port: 9091, targetPort: 'http', protocol: 'TCP' }]);
  const scaledObject = find(objects, 'ScaledObject')!;
  for (const trigger of scaledObject.spec.triggers) assert.is(trigger.metadata.serverAddress, 'http://supersonic-prometheus-server.atlas.svc:9091');

  const deployment = find(objects, 'Deployment', 'supersonic-prometheus-server')!;
  const pod = deployment.spec.template.spec;
  assert.is(pod.serviceAccountName, 'supersonic-prometheus-server');
  assert.match(pod.containers[0].image, /^quay\.io\/prometheus\/prometheus:v3\.\d+\.\d+$/);
  assert.ok(pod.containers[0].args.includes('--web.enable-remote-write-receiver'));
  assert.ok(pod.containers[0].args.includes('--storage.tsdb.retention.time=15d'));
  assert.ok(deployment.spec.template.metadata.annotations['checksum/config']);
  assert.equal(pod.volumes.find((v: Manifest) => v.name === 'data'), { name: 'data', emptyDir: {} });

  const role = find(objects, 'Role', 'supersonic-prometheus-server')!;
  assert.is(role.metadata.namespace, 'atlas');
  assert.equal(role.rules, [{ apiGroups: [''], resources: ['pods', 'endpoints', 'services'], verbs: ['get', 'list', 'watch'] }]);
  assert.ok(!objects.some((o) => o.kind === 'ClusterRole' && o.metadata.labels?.['app.kubernetes.io/component'] === 'prometheus'));
  const binding = find(objects, 'RoleBinding', 'supersonic-prometheus-server')!;
  assert.equal(binding.subjects, [{ kind: 'ServiceAccount', name: 'supersonic-prometheus-server', namespace: 'atlas' }]);

  // Every job discovers pods in the release's namespace only.
  for (const job of configMap(objects).config.scrape_configs) {
    assert.equal(job.kubernetes_sd_configs, [{ role: 'pod', namespaces: { names: ['atlas'] } }], job.job_name);
  }
  // A changed configuration changes the checksum, so the pod rolls.
  const other = await render({ prometheus: { enabled: true, server: { global: { scrape_interval: '5s' } } } });
  assert.is.not(find(other, 'Deployment', 'supersonic-prometheus-server')!.spec.template.metadata.annotations['checksum/config'], deployment.spec.template.metadata.annotations['checksum/config']);
});

bundled('an existing ServiceAccount: no ServiceAccount, Role or RoleBinding of the chart', async () => {
  const objects = await render({ prometheus: { enabled: true, server: { serviceAccountName: 'site-prometheus' } } });
  assert.is(find(objects, 'Deployment', 'supersonic-prometheus-server')!.spec.template.spec.serviceAccountName, 'site-prometheus');
  assert.not.ok(objects.some((o) => ['ServiceAccount', 'Role', 'RoleBinding'].includes(o.kind) && o.metadata.name === 'supersonic-prometheus-server'));
});

bundled('persistence, Ingress (hostName, and 0.3.1\'s hosts + tls), extraFlags', async () => {
  const objects = await render({
    prometheus: {
      enabled: true,
      server: {
        persistentVolume: { enabled: true, size: '50Gi', storageClass: 'rook-ceph-block' },
        extraFlags: ['web.enable-remote-write-receiver', 'storage.tsdb.retention.size=10GB'],
        ingress: { enabled: true, hosts: ['prometheus-cms.nrp-nautilus.io'], tls: [{ hosts: [] }], ingressClassName: 'haproxy', annotations: { 'haproxy-ingress.github.io/cors-enable': 'true' } },
      },
    },
  });
  const claim = find(objects, 'PersistentVolumeClaim', 'supersonic-prometheus-server')!;
  assert.equal(claim.spec, { accessModes: ['ReadWriteOnce'], storageClassName: 'rook-ceph-block', resources: { requests: { storage: '50Gi' } } });
  const deployment = find(objects, 'Deployment', 'supersonic-prometheus-server')!;
  assert.equal(deployment.spec.template.spec.volumes.find((v: Manifest) => v.name === 'data').persistentVolumeClaim, { claimName: 'supersonic-prometheus-server' });
  const args: string[] = deployment.spec.template.spec.containers[0].args;
  assert.ok(args.includes('--storage.tsdb.retention.size=10GB'));
  assert.is(args.filter((a) => a === '--web.enable-remote-write-receiver').length, 1, 'the receiver flag once');
  const ingress = find(objects, 'Ingress', 'supersonic-prometheus-server')!;
  assert.is(ingress.spec.ingressClassName, 'haproxy');
  assert.equal(ingress.spec.tls, [{ hosts: ['prometheus-cms.nrp-nautilus.io'] }], 'an entry without hosts covers the Ingress\'s hosts');
  assert.is(ingress.spec.rules[0].host, 'prometheus-cms.nrp-nautilus.io');
  assert.equal(ingress.spec.rules[0].http.paths[0].backend.service, { name: 'supersonic-prometheus-server', port: { name: 'http' } });

  const noHost = await template('helm', { values: { prometheus: { enabled: true, server: { ingress: { enabled: true } } } } });
  assert.is.not(noHost.code, 0);
  assert.match(noHost.stderr, /prometheus\.server\.ingress\.hostName/);
  const owned = await template('helm', { values: { prometheus: { enabled: true, server: { extraFlags: ['storage.tsdb.retention.time=1d'] } } } });
  assert.is.not(owned.code, 0);
  assert.match(owned.stderr, /prometheus\.server\.retention/);
});

bundled('the relabel helper follows Prometheus: anchored regexes, replace defaults, keep/drop, labelmap', () => {
  assert.equal(relabel({ a: 'xab' }, [{ action: 'keep', source_labels: ['a'], regex: 'ab' }]), undefined, 'regexes are anchored');
  assert.equal(relabel({ a: 'ab', b: 'c' }, [{ source_labels: ['a', 'b'], regex: '(.*);(.*)', target_label: 't', replacement: '${2}-$1' }]), { a: 'ab', b: 'c', t: 'c-ab' });
  assert.equal(relabel({ a: 'ab', t: 'x' }, [{ source_labels: ['missing'], target_label: 't' }]), { a: 'ab' }, 'an empty replacement deletes the label');
  assert.equal(relabel({ a: 'x' }, [{ action: 'drop', source_labels: ['a'], regex: 'x|y' }]), undefined);
  assert.equal(relabel({ __meta_x_foo: '1' }, [{ action: 'labelmap', regex: '__meta_x_(.+)' }]), { __meta_x_foo: '1', foo: '1' });
});

/** A pod of a release as the Deployment controller makes it, with the chart's container ports. */
function podOf(objects: Manifest[], deploymentName: string, release: string, namespace: string, n: number, overrides: Partial<DiscoveredPod> = {}): DiscoveredPod {
  const deployment = find(objects, 'Deployment', deploymentName)!;
  const template = deployment.spec.template;
  return {
    namespace,
    name: `${deploymentName}-5f6d7c8b9${n}-k${n}x2p`,
    ip: `10.1.0.${n}`,
    labels: { ...template.metadata.labels, 'app.kubernetes.io/instance': release, 'pod-template-hash': `5f6d7c8b9${n}` },
    containers: template.spec.containers.map((c: Manifest) => ({ name: c.name, ports: c.ports ?? [] })),
    ...overrides,
  };
}

function jobNamed(objects: Manifest[], name: string): Manifest {
  const job = configMap(objects).config.scrape_configs.find((j: Manifest) => j.job_name === name);
  assert.ok(job, `no scrape job ${name}`);
  return job;
}

bundled('scrape: this release\'s Triton and Envoy metrics ports only, labelled namespace/pod as prometheus-operator does; other releases dropped', async () => {
  const objects = await render({ keda: { enabled: true } });
  const triton = jobNamed(objects, 'supersonic-triton');
  const own = podOf(objects, 'supersonic-triton', 'supersonic', 'cms', 1);
  const labels = scrapeJobLabels(triton, podTargets(own));
  assert.equal(labels, [{
    job: 'supersonic-triton', namespace: 'cms', pod: own.name, container: own.containers[0]!.name, endpoint: 'metrics', service: 'supersonic-triton', instance: '10.1.0.1:8002',
  }], 'only the metrics port of the own pod');
  assert.is(triton.metrics_path, '/metrics');
  // Another release in the same namespace, and a pod of our release of another component.
  assert.equal(scrapeJobLabels(triton, podTargets(podOf(objects, 'supersonic-triton', 'supersonic-atlas', 'cms', 2))), []);
  assert.equal(scrapeJobLabels(triton, podTargets({ ...own, labels: { ...own.labels, 'app.kubernetes.io/component': 'envoy' } })), []);
  assert.equal(scrapeJobLabels(triton, podTargets({ ...own, phase: 'Succeeded' })), []);

  const envoy = jobNamed(objects, 'supersonic-envoy-metrics');
  assert.is(envoy.metrics_path, '/stats/prometheus');
  const envoyPod = podOf(objects, 'supersonic-envoy', 'supersonic', 'cms', 3);
  const envoyLabels = scrapeJobLabels(envoy, podTargets(envoyPod));
  assert.is(envoyLabels.length, 1, 'only the metrics port, not grpc');
  assert.is(envoyLabels[0]!.pod, envoyPod.name);
  assert.is(envoyLabels[0]!.namespace, 'cms');
  // No job scrapes the metrics collector, the collector or Tempo unless enabled.
  assert.equal(configMap(objects).config.scrape_configs.map((j: Manifest) => j.job_name), ['supersonic-triton', 'supersonic-envoy-metrics']);
  const tracing = await render({ tempo: { enabled: true }, 'opentelemetry-collector': { enabled: true } });
  assert.equal(configMap(tracing).config.scrape_configs.map((j: Manifest) => j.job_name), ['supersonic-triton', 'supersonic-envoy-metrics', 'supersonic-opentelemetry-collector', 'supersonic-tempo']);
  const collector = jobNamed(tracing, 'supersonic-opentelemetry-collector');
  const collectorPod: DiscoveredPod = {
    namespace: 'cms', name: 'supersonic-opentelemetry-collector-6c7d8-abcde', ip: '10.1.0.9',
    labels: { 'app.kubernetes.io/name': 'supersonic', 'app.kubernetes.io/instance': 'supersonic', 'app.kubernetes.io/component': 'opentelemetry-collector' },
    containers: [{ name: 'collector', ports: [{ name: 'otlp', containerPort: 4317 }, { name: 'metrics', containerPort: 8888 }] }],
  };
  assert.equal(scrapeJobLabels(collector, podTargets(collectorPod)).map((l) => l.instance), ['10.1.0.9:8888']);
});

bundled('a Triton metrics port named in triton.service.ports is what is scraped, whatever its number', async () => {
  const objects = await render({ triton: { service: { ports: [
    { name: 'http', port: 8000, targetPort: 8000 }, { name: 'grpc', port: 8001, targetPort: 8001 }, { name: 'metrics', port: 9102, targetPort: 9102 },
  ] } } });
  const labels = scrapeJobLabels(jobNamed(objects, 'supersonic-triton'), podTargets(podOf(objects, 'supersonic-triton', 'supersonic', 'cms', 1)));
  assert.equal(labels.map((l) => l.instance), ['10.1.0.1:9102']);
});

/** Triton's counters for one model on a target: rate req/s each waiting queueMs. */
function tritonSeries(labels: Record<string, string>, rate: number, queueMs: number): Series[] {
  const withModel = { ...labels, model: 'particlenet', version: '1' };
  return [
    { name: 'nv_inference_queue_duration_us', labels: withModel, values: `0+${rate * queueMs * 1000 * 15}x60` },
    { name: 'nv_inference_request_success', labels: withModel, values: `0+${rate * 15}x60` },
  ];
}

bundled('the shedder\'s and KEDA\'s default queries select the series the bundled scrape yields (promtool evaluates them)', async () => {
  const objects = await render({ keda: { enabled: true, minReplicaCount: 0 }, envoy: { rate_limiter: { prometheus_based: { enabled: true, mode: 'shed', failOpen: true } } } });
  const triton = jobNamed(objects, 'supersonic-triton');
  const [own] = scrapeJobLabels(triton, podTargets(podOf(objects, 'supersonic-triton', 'supersonic', 'cms', 1)));
  // The same release name in another namespace, scraped by its own Prometheus and federated here, say.
  const [elsewhere] = scrapeJobLabels(triton, podTargets(podOf(objects, 'supersonic-triton', 'supersonic', 'cms', 2)));
  const foreign = { ...elsewhere!, namespace: 'atlas' };
  const series = [...tritonSeries(own!, 10, 4), ...tritonSeries(foreign, 50, 900)];

  const config = envoyConfigsOf(objects)[0]!;
  const route = config.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0];
  const shedderQuery: string = route.metadata.filter_metadata['envoy.filters.http.lua'].query;
  const scaledObject = find(objects, 'ScaledObject')!;
  const loadQuery: string = scaledObject.spec.triggers.find((t: Manifest) => t.name === 'server-load').metadata.query;
  const wakeQuery: string = scaledObject.spec.triggers.find((t: Manifest) => t.name !== 'server-load').metadata.query;

  let result = await promtoolTest(series, [{ expr: shedderQuery, value: 4 }, { expr: loadQuery, value: 4 }], { approx: true });
  assert.is(result.code, 0, result.output);

  // Envoy's counters of the cluster "triton", from this release's Envoy pod as the bundled scrape labels it.
  const [envoyLabels] = scrapeJobLabels(jobNamed(objects, 'supersonic-envoy-metrics'), podTargets(podOf(objects, 'supersonic-envoy', 'supersonic', 'cms', 3)));
  const cluster = { ...envoyLabels!, envoy_cluster_name: 'triton' };
  const envoySeries: Series[] = [
    { name: 'envoy_cluster_upstream_rq_total', labels: cluster, values: '0+0x60' },
    { name: 'envoy_cluster_upstream_cx_none_healthy', labels: cluster, values: '0+30x60' },
  ];
  // 2 requests/s refused for want of a pod: the wake query is above 0 (capped at its threshold).
  result = await promtoolTest(envoySeries, [{ expr: `(${wakeQuery}) > bool 0`, value: 1 }]);
  assert.is(result.code, 0, result.output);
  // The same counters from this release name in another namespace: nothing selected.
  result = await promtoolTest(envoySeries.map((s) => ({ ...s, labels: { ...s.labels, namespace: 'atlas' } })), [{ expr: wakeQuery }]);
  assert.is(result.code, 0, result.output);
});

/**
 * promtool test rules of the rendered rule file with one alert test group, samples every 15 s
 * (a scrape interval: Prometheus 3's left-open ranges need two samples inside serverLoad.window);
 * every promtool.
 */
async function alertTest(rules: string, inputSeries: Series[], alerts: { alertname: string; eval_time: string; exp_alerts: unknown[] }[]): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'alerts-'));
  writeFileSync(join(dir, 'rules.yml'), rules);
  // promtool compares annotations too: the rule's own (they hold no $value or $labels).
  const annotationsOf = Object.fromEntries(parse(rules).groups.flatMap((g: Manifest) => g.rules).map((r: Manifest) => [r.alert, r.annotations]));
  for (const alert of alerts) for (const expected of alert.exp_alerts as Manifest[]) expected.exp_annotations = annotationsOf[alert.alertname];
  writeFileSync(join(dir, 'test.yml'), stringify({
    rule_files: ['rules.yml'], evaluation_interval: '1m',
    tests: [{ interval: '15s', input_series: inputSeries.map((s) => ({ series: seriesSelector(s), values: s.values })), alert_rule_test: alerts }],
  }));
  for (const binary of promtools()) {
    const { code, output } = await runPromtool(binary, ['test', 'rules', join(dir, 'test.yml')]);
    assert.is(code, 0, `${binary}: ${output}`);
  }
}

bundled('alerts: server overloaded and Triton down fire when they should, and not when healthy', async () => {
  const objects = await render();
  const { rules } = configMap(objects);
  const [own] = scrapeJobLabels(jobNamed(objects, 'supersonic-triton'), podTargets(podOf(objects, 'supersonic-triton', 'supersonic', 'cms', 1)));
  const withModel = { ...own!, model: 'm', version: '1' };
  const perMinute = (requestsPerSecond: number, queueMs: number): Series[] => [
    { name: 'nv_inference_queue_duration_us', labels: withModel, values: `0+${requestsPerSecond * queueMs * 1000 * 15}x160` },
    { name: 'nv_inference_request_success', labels: withModel, values: `0+${requestsPerSecond * 15}x160` },
  ];
  const overloadedLabels = { alertname: 'SuperSONICServerOverloaded', severity: 'warning', supersonic_instance: 'supersonic' };
  // 150 ms of queue per request, threshold 100, for 40 minutes: fires after 15 m, not before.
  await alertTest(rules, [...perMinute(10, 150), { name: 'up', labels: own!, values: '1x160' }], [
    { alertname: 'SuperSONICServerOverloaded', eval_time: '10m', exp_alerts: [] },
    { alertname: 'SuperSONICServerOverloaded', eval_time: '30m', exp_alerts: [{ exp_labels: overloadedLabels }] },
    { alertname: 'SuperSONICTritonDown', eval_time: '30m', exp_alerts: [] },
  ]);
  // Healthy: 5 ms per request, Triton up.
  await alertTest(rules, [...perMinute(10, 5), { name: 'up', labels: own!, values: '1x160' }], [
    { alertname: 'SuperSONICServerOverloaded', eval_time: '30m', exp_alerts: [] },
    { alertname: 'SuperSONICTritonDown', eval_time: '30m', exp_alerts: [] },
  ]);
  // Another release overloaded and down: not ours.
  const other = { ...own!, pod: 'supersonic-atlas-triton-5f6d7c8b91-k1x2p' };
  await alertTest(rules, [
    { name: 'nv_inference_queue_duration_us', labels: { ...other, model: 'm', version: '1' }, values: `0+${10 * 900 * 1000 * 15}x160` },
    { name: 'nv_inference_request_success', labels: { ...other, model: 'm', version: '1' }, values: '0+150x160' },
    { name: 'up', labels: other, values: '0x160' }, { name: 'up', labels: own!, values: '1x160' },
  ], [
    { alertname: 'SuperSONICServerOverloaded', eval_time: '30m', exp_alerts: [] },
    { alertname: 'SuperSONICTritonDown', eval_time: '30m', exp_alerts: [] },
  ]);
  // Triton stops answering at 10 m: down fires 5 m later; with no Triton target at all, too.
  const downLabels = { alertname: 'SuperSONICTritonDown', severity: 'critical', supersonic_instance: 'supersonic' };
  await alertTest(rules, [{ name: 'up', labels: own!, values: '1x40 0x120' }], [
    { alertname: 'SuperSONICTritonDown', eval_time: '12m', exp_alerts: [] },
    { alertname: 'SuperSONICTritonDown', eval_time: '20m', exp_alerts: [{ exp_labels: downLabels }] },
  ]);
  await alertTest(rules, [{ name: 'up', labels: { ...own!, pod: 'unrelated-5f6d7c8b91-k1x2p' }, values: '1x160' }], [
    { alertname: 'SuperSONICTritonDown', eval_time: '20m', exp_alerts: [{ exp_labels: downLabels }] },
  ]);
});

bundled('alerts: no ready Triton (Envoy\'s view) and shedding, and scale-to-zero does not page while idle', async () => {
  const shed = { envoy: { rate_limiter: { prometheus_based: { enabled: true, mode: 'shed', failOpen: true } } } };
  const objects = await render(shed);
  const { rules } = configMap(objects);
  const [envoyLabels] = scrapeJobLabels(jobNamed(objects, 'supersonic-envoy-metrics'), podTargets(podOf(objects, 'supersonic-envoy', 'supersonic', 'cms', 3)));
  const cluster = { ...envoyLabels!, envoy_cluster_name: 'triton' };
  const [own] = scrapeJobLabels(jobNamed(objects, 'supersonic-triton'), podTargets(podOf(objects, 'supersonic-triton', 'supersonic', 'cms', 1)));
  const withModel = { ...own!, model: 'm', version: '1' };
  await alertTest(rules, [
    { name: 'envoy_cluster_membership_healthy', labels: cluster, values: '2x40 0x120' },
    { name: 'envoy_http_downstream_rq_total', labels: { ...envoyLabels!, envoy_http_conn_manager_prefix: 'grpc' }, values: '0+150x160' },
    { name: 'nv_inference_queue_duration_us', labels: withModel, values: `0+${10 * 150 * 1000 * 15}x160` },
    { name: 'nv_inference_request_success', labels: withModel, values: '0+150x160' },
  ], [
    { alertname: 'SuperSONICNoReadyTriton', eval_time: '8m', exp_alerts: [] },
    { alertname: 'SuperSONICNoReadyTriton', eval_time: '20m', exp_alerts: [{ exp_labels: { alertname: 'SuperSONICNoReadyTriton', severity: 'critical', supersonic_instance: 'supersonic' } }] },
    { alertname: 'SuperSONICShedding', eval_time: '20m', exp_alerts: [{ exp_labels: { alertname: 'SuperSONICShedding', severity: 'warning', supersonic_instance: 'supersonic' } }] },
  ]);
  // Scale to zero: no Triton pod and no request is the idle state, not an alert.
  const idle = configMap(await render({ keda: { enabled: true, minReplicaCount: 0 }, ...shed })).rules;
  await alertTest(idle, [
    { name: 'envoy_cluster_membership_healthy', labels: cluster, values: '0x160' },
    { name: 'envoy_cluster_upstream_cx_none_healthy', labels: cluster, values: '0+0x160' },
  ], [
    { alertname: 'SuperSONICNoReadyTriton', eval_time: '30m', exp_alerts: [] },
    { alertname: 'SuperSONICTritonDown', eval_time: '30m', exp_alerts: [] },
  ]);
});

bundled('every alert waits (for:) and reads only this release\'s series', async () => {
  const objects = await render({ envoy: { rate_limiter: { prometheus_based: { enabled: true, mode: 'shed', failOpen: true } } } }, { release: 'site-b', namespace: 'ns2' });
  const groups = parse(configMap(objects).rules).groups;
  const alerts = groups.flatMap((g: Manifest) => g.rules);
  assert.equal(alerts.map((a: Manifest) => a.alert), ['SuperSONICServerOverloaded', 'SuperSONICTritonDown', 'SuperSONICNoReadyTriton', 'SuperSONICShedding']);
  for (const alert of alerts) {
    assert.ok(alert.for, `${alert.alert} has no for:`);
    const selectors: string[] = alert.expr.match(/\{[^}]*\}/g) ?? [];
    assert.ok(selectors.length > 0);
    for (const selector of selectors) {
      assert.match(selector, 'namespace="ns2"', `${alert.alert}: ${selector}`);
      assert.match(selector, /pod=~"site-b-(triton|envoy)-\[a-z0-9\]\+-\[a-z0-9\]\+"/, `${alert.alert}: ${selector}`);
    }
  }
});

bundled('SuperSONIC 0.3.1\'s prometheus keys validate; subchart-only ones are deprecated (NOTES warns), none breaks the render', async () => {
  let checked = 0;
  for (const file of loadCompatFiles()) {
    const prometheus = (file.values as Manifest).prometheus;
    if (!prometheus) continue;
    const values: Manifest = { prometheus };
    // KEDA on the bundled Prometheus is what some files ask for; keep it.
    if ((file.values as Manifest).keda) values.keda = (file.values as Manifest).keda;
    for (const release of ['supersonic', 'sonic-cms']) {
      const result = await dryRunInstall('helm', { release, values });
      assert.is(result.code, 0, `${file.name} (release ${release}): ${result.stderr}`);
      if (prometheus.enabled && !prometheus.external?.enabled) {
        assert.match(result.stdout, new RegExp(`name: ${release}-prometheus-server`), `${file.name}: no bundled Prometheus`);
      }
      if (prometheus.alertmanager) assert.match(result.stdout, /WARNING: prometheus\.alertmanager is set/);
      if (prometheus.resources) assert.match(result.stdout, /WARNING: prometheus\.resources is set/);
    }
    checked++;
  }
  assert.ok(checked >= 5, `only ${checked} compat files set prometheus`);
});

bundled('0.3.1 values honoured: retention, resources, scrape intervals, port, ingress; stray prometheus.resources ignored', async () => {
  const objects = await render({
    prometheus: {
      enabled: true,
      resources: { requests: { cpu: '100m', memory: '128Mi' } },
      server: {
        retention: '7d', resources: { requests: { cpu: '1', memory: '2Gi' }, limits: { cpu: '2', memory: '4Gi' } },
        global: { scrape_interval: '5s', evaluation_interval: '10s' }, releaseNamespace: true, configMapOverrideName: 'prometheus-config',
        useExistingClusterRoleName: 'supersonic-prometheus-role', service: { enabled: true, servicePort: 9090 },
      },
      serviceAccounts: { server: { create: false, name: 'supersonic-prometheus-sa' } }, rbac: { create: false },
      alertmanager: { enabled: false }, configmapReload: { prometheus: { enabled: false } },
    },
  });
  const container = find(objects, 'Deployment', 'supersonic-prometheus-server')!.spec.template.spec.containers[0];
  assert.ok(container.args.includes('--storage.tsdb.retention.time=7d'));
  assert.equal(container.resources, { requests: { cpu: '1', memory: '2Gi' }, limits: { cpu: '2', memory: '4Gi' } });
  assert.equal(configMap(objects).config.global, { scrape_interval: '5s', evaluation_interval: '10s' });
  // serviceAccounts/rbac are 0.3.1's subchart switches: the chart's own namespaced RBAC, as 0.3.1's was.
  assert.ok(find(objects, 'Role', 'supersonic-prometheus-server'));
});

bundled('off by default, and off when an external Prometheus is read', async () => {
  const none = parseManifests(await templateOrThrow('helm', {})) as Manifest[];
  assert.not.ok(none.some((o) => o.metadata?.labels?.['app.kubernetes.io/component'] === 'prometheus'));
  const external = await render({ prometheus: { enabled: true, external: { enabled: true, url: 'http://prom.monitoring:9090' } } });
  assert.not.ok(external.some((o) => o.metadata?.labels?.['app.kubernetes.io/component'] === 'prometheus'));
});

bundled.run();
