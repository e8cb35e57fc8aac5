/**
 * The built-in server-load metric means what its description says: the average time (ms) a
 * request waits in Triton's queue, for this release's Triton pods, 0 when idle. Prometheus'
 * promtool evaluates the rendered expression over synthetic Triton series carrying exactly the
 * labels the chart's own ServiceMonitor gives them (prometheus-operator's relabelling), for one
 * model and several, with and without dynamic batching, and idle. The same expression is what
 * KEDA's load trigger and Envoy's load shedder read.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { templateOrThrow } from '../helpers/helm.ts';
import { parseManifests } from '../helpers/k8s/manifests.ts';
import { envoyConfigsOf } from '../helpers/envoy/rendered.ts';
import { promtoolTest, requirePromtool, serviceMonitorTargetLabels, type ExprCheck, type Series } from '../helpers/promtool.ts';

type Manifest = Record<string, any>;
const load = suite('server-load metric, evaluated by promtool on the series the chart scrapes');

const APIS = ['keda.sh/v1alpha1', 'monitoring.coreos.com/v1'];
const PROMETHEUS = { external: { enabled: true, url: 'http://prometheus.monitoring:9090' } };

async function render(values: Record<string, unknown> = {}, release = 'supersonic', namespace = 'cms'): Promise<Manifest[]> {
  const all = {
    prometheus: PROMETHEUS,
    keda: { enabled: true },
    envoy: { rate_limiter: { prometheus_based: { enabled: true, mode: 'shed' } } },
    ...values,
  };
  return parseManifests(await templateOrThrow('helm', { release, namespace, values: all, apiVersions: APIS })) as Manifest[];
}

/** The query Envoy's load shedder sends (route metadata of the Lua filter). */
function shedderQuery(objects: Manifest[]): string {
  const config = envoyConfigsOf(objects)[0]!;
  const hcm = config.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  return hcm.route_config.virtual_hosts[0].routes[0].metadata.filter_metadata['envoy.filters.http.lua'].query;
}

function trigger(objects: Manifest[], name: string): Manifest {
  const scaledObject = objects.find((o) => o.kind === 'ScaledObject')!;
  return scaledObject.spec.triggers.find((t: Manifest) => t.name === name);
}

/** The built-in metric as rendered: the shedder's query, after checking KEDA embeds the same. */
function metricOf(objects: Manifest[]): string {
  const query = shedderQuery(objects);
  assert.ok(trigger(objects, 'server-load').metadata.query.startsWith(`(${query}) * `), 'KEDA reads the same expression as the shedder');
  return query;
}

/** Labels of a series scraped from pod <n> of the release's Triton, as the chart's ServiceMonitor stores them. */
function tritonPod(objects: Manifest[], n: number): Record<string, string> {
  return serviceMonitorTargetLabels(objects, objects.find((o) => o.kind === 'ServiceMonitor' && o.metadata.name.endsWith('-triton'))!.metadata.name, {
    hash: `7d9f8b6c${n}d`, suffix: `x${n}k2p`, ip: `10.1.0.${n}`,
  });
}

/**
 * Triton's counters for one model on one pod: `rate` requests per second, each waiting
 * `queueMs` in the queue, executed in batches of `batch` (dynamic batching; 1: none). Steps of
 * 15 s, as promtool's interval.
 */
function tritonModel(labels: Record<string, string>, model: string, rate: number, queueMs: number, batch = 1): Series[] {
  const perStep = (perSecond: number) => `0+${perSecond * 15}x60`;
  const withModel = { ...labels, model, version: '1' };
  return [
    { name: 'nv_inference_queue_duration_us', labels: withModel, values: perStep(rate * queueMs * 1000) },
    { name: 'nv_inference_request_success', labels: withModel, values: perStep(rate) },
    { name: 'nv_inference_exec_count', labels: withModel, values: perStep(rate / batch) },
    { name: 'nv_inference_count', labels: withModel, values: perStep(rate) },
  ];
}

/** Counters that stopped long ago: a running, idle Triton. */
function idleModel(labels: Record<string, string>, model: string): Series[] {
  const withModel = { ...labels, model, version: '1' };
  return ['nv_inference_queue_duration_us', 'nv_inference_request_success', 'nv_inference_exec_count'].map((name) => ({
    name, labels: withModel, values: '123456+0x60',
  }));
}

/** Another release's Triton in the same namespace, and this release's name in another namespace, both badly overloaded. */
function neighbours(labels: Record<string, string>): Series[] {
  return [
    ...tritonModel({ ...labels, pod: labels.pod!.replace(/^supersonic-triton-/, 'supersonic-triton-triton-'), service: 'supersonic-triton-triton', job: 'supersonic-triton-triton' }, 'm1', 50, 900),
    ...tritonModel({ ...labels, pod: labels.pod!.replace(/^supersonic-/, 'supersonic-atlas-'), service: 'supersonic-atlas-triton', job: 'supersonic-atlas-triton' }, 'm1', 50, 900),
    ...tritonModel({ ...labels, namespace: 'atlas' }, 'm1', 50, 900),
  ];
}

async function expectValues(series: Series[], checks: ExprCheck[]): Promise<void> {
  requirePromtool();
  const { code, output } = await promtoolTest(series, checks, { approx: true });
  assert.is(code, 0, output);
}

load('one model, no batching: the queue time each request waits, in ms; the 0.3.1 formula agrees here', async () => {
  const objects = await render();
  const pod = tritonPod(objects, 1);
  const series = [...tritonModel(pod, 'particlenet', 10, 2), ...neighbours(pod)];
  await expectValues(series, [{ expr: metricOf(objects), value: 2 }]);
});

load('dynamic batching (8 requests per execution): still the time a request waits; 0.3.1 read 8 times more', async () => {
  const objects = await render();
  const pod = tritonPod(objects, 1);
  const series = tritonModel(pod, 'particlenet', 80, 2, 8);
  // 0.3.1's expression, on the same labels (what NOTES and docs/autoscaling.md give to keep its meaning).
  const old = `sum(rate(nv_inference_queue_duration_us{namespace="cms", pod=~"supersonic-triton-[a-z0-9]+-[a-z0-9]+"}[30s])) / sum((rate(nv_inference_exec_count{namespace="cms", pod=~"supersonic-triton-[a-z0-9]+-[a-z0-9]+"}[30s]) * 1000) + 0.001)`;
  await expectValues(series, [{ expr: metricOf(objects), value: 2 }]);
  requirePromtool();
  const { code, output } = await promtoolTest(series, [{ expr: `abs((${old}) - 16) < bool 0.001`, value: 1 }]);
  assert.is(code, 0, output);
});

load('several models on two pods: every request counts alike; perModel gives the busiest model; models picks some', async () => {
  const objects = await render();
  const [a, b] = [tritonPod(objects, 1), tritonPod(objects, 2)];
  // m1: 10 req/s at 2 ms on each pod; m2 ("resnet.v2", a dot in the name): 30 req/s at 10 ms on each pod.
  const series = [
    ...tritonModel(a, 'm1', 10, 2), ...tritonModel(b, 'm1', 10, 2),
    ...tritonModel(a, 'resnet.v2', 30, 10), ...tritonModel(b, 'resnet.v2', 30, 10),
    // A model whose name the dot of "resnet.v2" would match as a regexp: not selected by models.
    ...tritonModel(a, 'resnetXv2', 5, 500),
    ...neighbours(a),
  ];
  // 85 requests/s in all, queueing 2 * (20 + 300) + 2500 ms per second.
  const all = (2 * (10 * 2 + 30 * 10) + 5 * 500) / (2 * (10 + 30) + 5);
  await expectValues(series, [{ expr: metricOf(objects), value: all }]);

  const perModel = await render({ serverLoad: { perModel: true } });
  await expectValues(series, [{ expr: metricOf(perModel), value: 500 }]);

  const chosen = await render({ serverLoad: { models: ['m1', 'resnet.v2'] } });
  await expectValues(series, [{ expr: metricOf(chosen), value: (10 * 2 + 30 * 10) / 40 }]);
  const chosenPerModel = await render({ serverLoad: { models: ['m1', 'resnet.v2'], perModel: true } });
  await expectValues(series, [{ expr: metricOf(chosenPerModel), value: 10 }]);
});

load('idle: 0, not NaN (no 0/0), for all models and per model; with no Triton series at all, no result', async () => {
  const objects = await render();
  const perModel = await render({ serverLoad: { perModel: true } });
  const pod = tritonPod(objects, 1);
  const idle = [...idleModel(pod, 'm1'), ...idleModel(pod, 'm2')];
  requirePromtool();
  // Exact 0 (promtool compares exactly here): NaN or an empty result would fail.
  for (const query of [metricOf(objects), metricOf(perModel)]) {
    const { code, output } = await promtoolTest(idle, [{ expr: query, value: 0 }]);
    assert.is(code, 0, output);
  }
  // Nothing scraped (or no Triton pod): empty, which the shedder treats as unknown (failOpen) and KEDA as 0.
  const { code, output } = await promtoolTest(neighbours(pod), [{ expr: metricOf(objects) }]);
  assert.is(code, 0, output);
});

load('the window follows serverLoad.window, and any release name and namespace work', async () => {
  const objects = await render({ serverLoad: { window: '2m' } }, 'sonic-atlas-2', 'hep');
  const query = metricOf(objects);
  assert.match(query, /\[2m\]/);
  const pod = tritonPod(objects, 3);
  assert.is(pod.namespace, 'hep');
  assert.match(pod.pod!, /^sonic-atlas-2-triton-/);
  await expectValues(tritonModel(pod, 'm1', 4, 25), [{ expr: query, value: 25 }]);
});

load("0.3.1's default filtered on a release label that nothing the chart scrapes carries: it selects nothing, ours selects the pods", async () => {
  const objects = await render();
  const pod = tritonPod(objects, 1);
  assert.not.ok('release' in pod, 'the scrape gives no release label');
  const v031Default = 'sum by (release) (rate(nv_inference_queue_duration_us{release=~"supersonic"}[30s])) / sum by (release) ((rate(nv_inference_exec_count{release=~"supersonic"}[30s]) * 1000) + 0.001)';
  requirePromtool();
  const { code, output } = await promtoolTest(tritonModel(pod, 'm1', 10, 2), [{ expr: v031Default }, { expr: metricOf(objects), value: 2 }]);
  assert.is(code, 0, output);
});

load("KEDA's load trigger is the load times the Triton pods Prometheus sees (AverageValue: ceil(value / threshold) pods)", async () => {
  const objects = await render({ serverLoadThreshold: 20 });
  const server = trigger(objects, 'server-load');
  assert.is(server.metricType, 'AverageValue');
  assert.is(server.metadata.threshold, '20');
  const [a, b, c] = [tritonPod(objects, 1), tritonPod(objects, 2), tritonPod(objects, 3)];
  // Three pods, each request waiting 30 ms (1.5 times the threshold): the value is 90, so the HPA
  // asks for ceil(90 / 20) = 5 pods, as a Value target would (ceil(3 * 30 / 20)).
  const series = [...tritonModel(a, 'm1', 10, 30), ...tritonModel(b, 'm1', 10, 30), ...tritonModel(c, 'm1', 10, 30), ...neighbours(a)];
  await expectValues(series, [{ expr: server.metadata.query, value: 90 }]);
  // No Triton pod at all: no result, which KEDA reads as 0.
  requirePromtool();
  const { code, output } = await promtoolTest(neighbours(a), [{ expr: server.metadata.query }]);
  assert.is(code, 0, output);
});

load('a serverLoadMetric of your own is used as given, by KEDA and by the shedder', async () => {
  const metric = 'sum by (release) (rate(nv_inference_queue_duration_us{release=~"sonic-server"}[30s]) / (rate(nv_inference_exec_count{release=~"sonic-server"}[30s]) * 1000 + 0.001))';
  const objects = await render({ serverLoadMetric: metric });
  assert.is(shedderQuery(objects), metric);
  assert.ok(trigger(objects, 'server-load').metadata.query.startsWith(`(${metric}) * scalar(`));
});

load.run();
