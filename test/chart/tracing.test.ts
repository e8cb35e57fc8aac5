/**
 * Tracing: the OpenTelemetry collector and Tempo from the chart's own templates, wired to each
 * other and to the release's Prometheus by release-derived names; Triton's trace flags added for
 * the user exactly once; Envoy's tracer pointed at the collector; SuperSONIC 0.3.1 site files'
 * tracing sections rendered as they are, with NOTES naming endpoints that no Service answers.
 * Tempo is not built here (its source is AGPL, which the project does not take in), so its
 * configuration is checked structurally; the collector's own `validate` runs in
 * tracing-otelcol-validate.test.ts.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { CHART_DIR, HELM_VERSIONS, helm, template, templateOrThrow, writeValuesFile } from '../helpers/helm.ts';
import { parseManifests } from '../helpers/k8s/manifests.ts';
import { envoyConfigsOf } from '../helpers/envoy/rendered.ts';
import { coveredPart, loadCompatFiles, ROOT_SCALAR_KEYS } from '../helpers/compat.ts';

type Manifest = Record<string, any>;
const tracing = suite('tracing: collector, Tempo, Triton and Envoy wiring');

const ON = { 'opentelemetry-collector': { enabled: true }, tempo: { enabled: true }, prometheus: { enabled: true } };

async function render(values: Record<string, unknown>, release = 'supersonic', binary: (typeof HELM_VERSIONS)[number] = 'helm'): Promise<Manifest[]> {
  return parseManifests(await templateOrThrow(binary, { release, values })) as Manifest[];
}
const find = (objects: Manifest[], kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name);
export function collectorConfig(objects: Manifest[], release = 'supersonic'): Manifest {
  const cm = find(objects, 'ConfigMap', `${release}-opentelemetry-collector`);
  assert.ok(cm, 'the collector ConfigMap is rendered');
  return parse(cm!.data['config.yaml']);
}
function tempoConfig(objects: Manifest[], release = 'supersonic'): Manifest {
  const cm = find(objects, 'ConfigMap', `${release}-tempo`);
  assert.ok(cm, 'the Tempo ConfigMap is rendered');
  return parse(cm!.data['tempo.yaml']);
}
const tritonContainer = (objects: Manifest[], release = 'supersonic') => find(objects, 'Deployment', `${release}-triton`)!.spec.template.spec.containers[0];
const traceSettings = (args: string[]) => [...args.join('\n').matchAll(/--trace-config[= ]+([^\s\\]+)/g)].map((m) => m[1]!);

/** Every pipeline's receivers, processors and exporters are defined (connectors count as receivers and exporters). */
function assertPipelinesDefined(config: Manifest): void {
  const pipelines = config.service?.pipelines ?? {};
  assert.ok(Object.keys(pipelines).length > 0, 'the config has pipelines');
  for (const [name, pipeline] of Object.entries<Manifest>(pipelines)) {
    assert.ok((pipeline.exporters ?? []).length > 0, `pipeline ${name} exports somewhere`);
    for (const kind of ['receivers', 'processors', 'exporters']) {
      for (const id of pipeline[kind] ?? []) {
        const defined = id in (config[kind] ?? {}) || (kind !== 'processors' && id in (config.connectors ?? {}));
        assert.ok(defined, `pipeline ${name}: ${kind} ${id} is defined`);
      }
    }
  }
  // A connector must be both an exporter of one pipeline and a receiver of another.
  for (const id of Object.keys(config.connectors ?? {})) {
    const all = Object.values<Manifest>(pipelines);
    assert.ok(all.some((p) => (p.exporters ?? []).includes(id)) && all.some((p) => (p.receivers ?? []).includes(id)), `connector ${id} joins two pipelines`);
  }
}

for (const binary of HELM_VERSIONS) {
  tracing(`${binary}: collector, Tempo and Prometheus wired by release-derived names`, async () => {
    const objects = await render(ON, 'sonic', binary);
    const config = collectorConfig(objects, 'sonic');
    assertPipelinesDefined(config);
    assert.is(config.exporters.otlp.endpoint, 'sonic-tempo.cms.svc:4317');
    assert.is(config.exporters.prometheusremotewrite.endpoint, 'http://sonic-prometheus-server.cms.svc:9090/api/v1/write');
    assert.equal(config.service.pipelines.traces.exporters, ['otlp', 'spanmetrics']);
    assert.equal(config.service.pipelines.metrics, { receivers: ['spanmetrics'], processors: ['batch'], exporters: ['prometheusremotewrite'] });
    assert.equal(config.receivers.otlp.protocols, { grpc: { endpoint: '0.0.0.0:4317' }, http: { endpoint: '0.0.0.0:4318' } });

    const service = find(objects, 'Service', 'sonic-opentelemetry-collector')!;
    assert.equal(service.spec.ports.map((p: Manifest) => [p.name, p.port]), [['otlp-grpc', 4317], ['otlp-http', 4318], ['metrics', 8888]]);
    const tempoService = find(objects, 'Service', 'sonic-tempo')!;
    assert.equal(tempoService.spec.ports.map((p: Manifest) => [p.name, p.port]), [['http', 3100], ['otlp-grpc', 4317], ['otlp-http', 4318]]);
    for (const [name, component] of [['sonic-opentelemetry-collector', 'opentelemetry-collector'], ['sonic-tempo', 'tempo']] as const) {
      const deployment = find(objects, 'Deployment', name)!;
      assert.is(deployment.spec.template.metadata.labels['app.kubernetes.io/component'], component);
      assert.equal(find(objects, 'Service', name)!.spec.selector, deployment.spec.selector.matchLabels);
      assert.match(deployment.spec.template.spec.containers[0].image, /^[^:]+:\d+\.\d+\.\d+$/, 'image pinned to a release');
      assert.ok(deployment.spec.template.metadata.annotations['checksum/config'], 'a changed config rolls the pod');
    }
  });
}

tracing('the collector needs somewhere to send, and a pipeline may only name defined components', async () => {
  const nowhere = await template('helm', { values: { 'opentelemetry-collector': { enabled: true } } });
  assert.is.not(nowhere.code, 0);
  assert.match(nowhere.stderr, /traces pipeline sends nowhere.*tempo\.enabled/);
  const undefinedExporter = await template('helm', { values: { ...ON, 'opentelemetry-collector': { enabled: true, config: { service: { pipelines: { traces: { exporters: ['otlp', 'kafka'] } } } } } } });
  assert.is.not(undefinedExporter.code, 0);
  assert.match(undefinedExporter.stderr, /service\.pipelines\.traces\.exporters names "kafka", which is not defined/);
  const mode = await template('helm', { values: { ...ON, 'opentelemetry-collector': { enabled: true, mode: 'daemonset' } } });
  assert.is.not(mode.code, 0);
  assert.match(mode.stderr, /mode/);
});

tracing('only Tempo, or only Prometheus: the pipelines follow what exists', async () => {
  const tempoOnly = collectorConfig(await render({ 'opentelemetry-collector': { enabled: true }, tempo: { enabled: true } }));
  assertPipelinesDefined(tempoOnly);
  assert.equal(Object.keys(tempoOnly.service.pipelines), ['traces']);
  assert.is(tempoOnly.connectors, undefined);
  const promOnly = collectorConfig(await render({ 'opentelemetry-collector': { enabled: true }, prometheus: { external: { enabled: true, url: 'http://prometheus.monitoring:9090' } } }));
  assertPipelinesDefined(promOnly);
  assert.equal(promOnly.service.pipelines.traces.exporters, ['spanmetrics']);
  assert.is(promOnly.exporters.prometheusremotewrite.endpoint, 'http://prometheus.monitoring:9090/api/v1/write');
  const noMetrics = collectorConfig(await render({ ...ON, 'opentelemetry-collector': { enabled: true, ports: { metrics: { enabled: false } } } }));
  assert.equal(noMetrics.service.telemetry.metrics, { level: 'none' });
});

tracing('Tempo: monolithic config with OTLP receivers, local storage and the metrics generator', async () => {
  const objects = await render({ ...ON, tempo: { enabled: true, retention: '336h', tempo: { overrides: { defaults: { metrics_generator_processors: ['service-graphs'], max_traces_per_user: 1000 } } } } });
  const config = tempoConfig(objects);
  assert.is(config.server.http_listen_port, 3100);
  assert.equal(config.distributor.receivers.otlp.protocols, { grpc: { endpoint: '0.0.0.0:4317' }, http: { endpoint: '0.0.0.0:4318' } });
  assert.is(config.storage.trace.backend, 'local');
  for (const path of [config.storage.trace.wal.path, config.storage.trace.local.path, config.metrics_generator.storage.path, config.metrics_generator.traces_storage.path]) {
    assert.ok(path.startsWith('/var/tempo/'), `${path} is on the data volume`);
  }
  assert.is(config.compactor.compaction.block_retention, '336h');
  assert.equal(config.metrics_generator.storage.remote_write, [{ url: 'http://supersonic-prometheus-server.cms.svc:9090/api/v1/write', send_exemplars: true }]);
  // 0.3.1's legacy per-tenant key becomes Tempo 2's metrics_generator.processors; others pass through.
  assert.equal(config.overrides.defaults, { max_traces_per_user: 1000, metrics_generator: { processors: ['service-graphs'] } });
  const deployment = find(objects, 'Deployment', 'supersonic-tempo')!;
  const mounts = deployment.spec.template.spec.containers[0].volumeMounts.map((m: Manifest) => m.mountPath);
  assert.ok(mounts.includes('/var/tempo'));
  assert.equal(deployment.spec.template.spec.volumes.find((v: Manifest) => v.name === 'data'), { name: 'data', emptyDir: {} });
  assert.is(deployment.spec.strategy.type, 'Recreate');

  const persistent = await render({ tempo: { enabled: true, persistence: { enabled: true, size: '50Gi' }, tempo: { metricsGenerator: { enabled: false } } } });
  const claim = find(persistent, 'PersistentVolumeClaim', 'supersonic-tempo')!;
  assert.is(claim.spec.resources.requests.storage, '50Gi');
  assert.equal(find(persistent, 'Deployment', 'supersonic-tempo')!.spec.template.spec.volumes.find((v: Manifest) => v.name === 'data').persistentVolumeClaim, { claimName: 'supersonic-tempo' });
  const off = tempoConfig(persistent);
  assert.is(off.metrics_generator, undefined, 'no generator when disabled');
  assert.is(off.overrides.defaults.metrics_generator, undefined);

  const override = tempoConfig(await render({ tempo: { enabled: true, tempo: { metricsGenerator: { remoteWriteUrl: 'http://prom.monitoring.svc:9090/api/v1/write' } } } }));
  assert.is(override.metrics_generator.storage.remote_write[0].url, 'http://prom.monitoring.svc:9090/api/v1/write');
  const nowhere = tempoConfig(await render({ tempo: { enabled: true } }));
  assert.is(nowhere.metrics_generator, undefined, 'no Prometheus and no remoteWriteUrl: nothing to write to');
});

tracing('Triton gets its trace flags exactly once, appended to the tritonserver command line', async () => {
  const container = tritonContainer(await render(ON));
  const settings = traceSettings(container.args);
  assert.equal(settings, [
    'mode=opentelemetry',
    'opentelemetry,url=http://supersonic-opentelemetry-collector.cms.svc:4318/v1/traces',
    'rate=100',
    'level=TIMESTAMPS',
    'opentelemetry,resource=pod_name=$(POD_NAME)',
  ]);
  // One shell command: every line but the last continues with a backslash.
  const lines = container.args[0].trimEnd().split('\n');
  assert.ok(lines.slice(0, -1).every((l: string) => l.endsWith('\\')), container.args[0]);
  assert.ok(lines[0].includes('tritonserver'));
  assert.equal(container.env.find((e: Manifest) => e.name === 'POD_NAME'), { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } });

  const rate = traceSettings(tritonContainer(await render({ ...ON, envoy: { tracing_sampling_rate: 0.001 } })).args);
  assert.ok(rate.includes('rate=1000'));
  const off = tritonContainer(await render({ ...ON, 'opentelemetry-collector': { enabled: true, tracing: { triton: false } } }));
  assert.equal(traceSettings(off.args), []);
  assert.is(off.env, undefined);

  // Not a shell: separate arguments.
  const exec = tritonContainer(await render({ ...ON, triton: { command: ['tritonserver'], args: ['--model-repository=/models'] } }));
  assert.equal(exec.args.slice(0, 2), ['--model-repository=/models', '--trace-config=mode=opentelemetry']);
  assert.is(exec.args.length, 6);

  const notLast = await template('helm', { values: { ...ON, triton: { args: ['/opt/tritonserver/bin/tritonserver --model-repository=/models &\nwait\n'] } } });
  assert.is.not(notLast.code, 0);
  assert.match(notLast.stderr, /opentelemetry-collector\.tracing\.triton: .*last command .* is not tritonserver/);
});

tracing("values-geddes-cms.yaml: Triton's hand-written trace flags are kept, none added twice", async () => {
  const geddes = loadCompatFiles().find((f) => f.name === 'values-geddes-cms.yaml')!;
  const container = tritonContainer(await render({ ...ON, triton: geddes.values.triton as Record<string, unknown> }, 'sonic-server'), 'sonic-server');
  assert.equal(container.args, (geddes.values.triton as Manifest).args, 'the script is unchanged: it already sets every setting');
  const settings = traceSettings(container.args);
  assert.is(new Set(settings.map((s) => s.replace(/=.*$/, ''))).size, settings.length, 'each setting once');
  // Only the settings still missing are added.
  const partial = tritonContainer(await render({ ...ON, triton: { args: ['/opt/tritonserver/bin/tritonserver \\\n--trace-config rate=10 \\\n--trace-level=TIMESTAMPS\n'] } }));
  assert.equal(traceSettings(partial.args), ['rate=10', 'mode=opentelemetry', 'opentelemetry,url=http://supersonic-opentelemetry-collector.cms.svc:4318/v1/traces', 'opentelemetry,resource=pod_name=$(POD_NAME)']);
});

tracing("Envoy's tracer sends to the chart's collector, or to envoy.tracing.collectorHost", async () => {
  const clusterAddress = (objects: Manifest[]) => {
    const config = envoyConfigsOf(objects)[0]!;
    const cluster = config.static_resources.clusters.find((c: Manifest) => c.name === 'opentelemetry_collector');
    assert.ok(cluster, 'the opentelemetry_collector cluster exists');
    const hcm = JSON.stringify(config.static_resources.listeners);
    assert.match(hcm, /envoy\.tracers\.opentelemetry/);
    assert.match(hcm, /"cluster_name":"opentelemetry_collector"/);
    return cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
  };
  const objects = await render(ON, 'sonic');
  const address = clusterAddress(objects);
  const service = find(objects, 'Service', 'sonic-opentelemetry-collector')!;
  assert.equal(address, { address: `${service.metadata.name}.${service.metadata.namespace}.svc`, port_value: 4317 });
  assert.ok(service.spec.ports.some((p: Manifest) => p.port === 4317 && p.appProtocol === 'grpc'));

  assert.equal(clusterAddress(await render({ ...ON, envoy: { tracing: { enabled: true, collectorHost: 'otel.monitoring.svc', collectorPort: 14317 } } })), { address: 'otel.monitoring.svc', port_value: 14317 });
  assert.equal(clusterAddress(await render({ envoy: { tracing: { enabled: true, collectorHost: 'otel.monitoring.svc' } } })), { address: 'otel.monitoring.svc', port_value: 4317 });
  const quiet = envoyConfigsOf(await render({ ...ON, 'opentelemetry-collector': { enabled: true, tracing: { envoy: false } } }))[0]!;
  assert.not.ok(quiet.static_resources.clusters.some((c: Manifest) => c.name === 'opentelemetry_collector'));
  const noHost = await template('helm', { values: { envoy: { tracing: { enabled: true } } } });
  assert.is.not(noHost.code, 0);
  assert.match(noHost.stderr, /envoy\.tracing\.collectorHost/);
});

/** The compat files' tracing sections: tempo, opentelemetry-collector, triton, envoy, prometheus and the root keys. */
// prometheus too: a file's Envoy load shedder and the span metrics read it.
const tracingPart = (values: Record<string, unknown>) => coveredPart(values, [...ROOT_SCALAR_KEYS, 'tempo', 'opentelemetry-collector', 'triton', 'envoy', 'prometheus']);

/** Renders the NOTES define through a copy of the chart with one extra template that prints it. */
async function tracingNotes(values: Record<string, unknown>, release: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'supersonic-tracing-notes-'));
  try {
    cpSync(CHART_DIR, dir, { recursive: true });
    writeFileSync(join(dir, 'templates/zz-tracing-notes.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: notes }\ndata:\n  notes: {{ include "supersonic.tracing.notes" . | toJson }}\n');
    const result = await helm('helm', ['template', release, dir, '--namespace', 'cms', '-f', writeValuesFile(values), '--show-only', 'templates/zz-tracing-notes.yaml']);
    if (result.code !== 0) throw new Error(result.stderr);
    return (parseManifests(result.stdout)[0] as Manifest).data.notes ?? '';
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const file of loadCompatFiles()) {
  for (const release of ['supersonic', 'sonic-server', 'other']) {
    tracing(`${file.name} as ${release}: its tracing sections render`, async () => {
      const values = tracingPart(file.values);
      const objects = await render(values, release);
      const otel = (values['opentelemetry-collector'] as Manifest | undefined)?.enabled;
      const tempo = (values.tempo as Manifest | undefined)?.enabled;
      assert.is(!!find(objects, 'Deployment', `${release}-opentelemetry-collector`), !!otel);
      assert.is(!!find(objects, 'Deployment', `${release}-tempo`), !!tempo);
      if (otel) {
        const config = collectorConfig(objects, release);
        assertPipelinesDefined(config);
        const container = tritonContainer(objects, release);
        const settings = traceSettings(container.args ?? []);
        assert.ok(settings.some((s) => s.startsWith('mode=opentelemetry')), 'Triton traces');
        assert.is(new Set(settings.map((s) => s.replace(/=.*$/, ''))).size, settings.length, 'each setting once');
      }
      if (file.name === 'values-geddes-cms.yaml') {
        const config = collectorConfig(objects, release);
        assert.is(config.exporters.otlp.endpoint, 'http://sonic-server-tempo:4317', "the file's endpoint wins");
        assert.is(config.exporters.otlp.tls.insecure, true, "the chart's settings under it stay");
        assert.is(tempoConfig(objects, release).metrics_generator.storage.remote_write[0].url, 'http://prometheus-server:9090/api/v1/write');
        const notes = await tracingNotes(values, release);
        assert.match(notes, /tempo\.tempo\.metricsGenerator\.remoteWriteUrl is "http:\/\/prometheus-server:9090\/api\/v1\/write": this release creates no Service "prometheus-server"/);
        assert.match(notes, /opentelemetry-collector\.config\.exporters\.prometheusremotewrite\.endpoint .* no Service "prometheus-server"/);
        // The file's Tempo and collector names are the release's own only as sonic-server.
        assert.is(/no Service "sonic-server-tempo"/.test(notes), release !== 'sonic-server', notes);
        assert.is(/no Service "sonic-server-opentelemetry-collector"/.test(notes), release !== 'sonic-server', notes);
      }
    });
  }
}

tracing('NOTES stay quiet when the endpoints are the release\'s own or elsewhere', async () => {
  assert.is(await tracingNotes(ON, 'supersonic'), '');
  assert.is(await tracingNotes({ ...ON, 'opentelemetry-collector': { enabled: true, config: { exporters: { otlp: { endpoint: 'supersonic-tempo:4317' }, otlphttp: { endpoint: 'https://tempo.example.org:4318' } } } } }, 'supersonic'), '');
  assert.match(await tracingNotes({ ...ON, 'opentelemetry-collector': { enabled: true, config: { exporters: { otlp: { endpoint: 'tempo.cms.svc.cluster.local:4317' } } } } }, 'supersonic'), /no Service "tempo"/);
});

tracing.run();
