/**
 * Every query of the dashboard the chart renders returns what its panel says, evaluated by
 * Prometheus' promtool over synthetic Triton and Envoy series labelled as the chart's scrape
 * labels them (namespace, and pods named as the Deployment controller names them; the
 * server-load test proves the selector matches the ServiceMonitor's labels). Series of another
 * release in the same namespace, and of Envoy's metrics listener, must not count. No panel may
 * stay empty, and a panel added without expectations here fails the test.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { templateOrThrow } from '../helpers/helm.ts';
import { parseManifests } from '../helpers/k8s/manifests.ts';
import { promtoolTest, requirePromtool, type ExprCheck, type Series } from '../helpers/promtool.ts';

type Manifest = Record<string, any>;
const panels = suite('Grafana dashboard queries, evaluated by promtool');

const NS = 'cms';
const triton = (release: string) => ({ namespace: NS, pod: `${release}-triton-7d9f8b6c1d-x1k2p`, container: 'triton' });
const envoy = (release: string) => ({ namespace: NS, pod: `${release}-envoy-5c7d8f9b4-q8w2e`, container: 'envoy' });

/** 15 s steps: `perSecond` is the rate the counter grows at. */
const counter = (perSecond: number) => `0+${perSecond * 15}x60`;

function seriesOf(release: string, scale: number): Series[] {
  const t = triton(release);
  const e = envoy(release);
  const model = (name: string, labels: Record<string, string>) => ({ ...labels, model: name, version: '1' });
  return [
    // Model a: 10 requests/s, batches of 4, 20 ms per request, 5 ms of it queued, 1 failure/s.
    { name: 'nv_inference_request_success', labels: model('a', t), values: counter(10 * scale) },
    { name: 'nv_inference_request_failure', labels: model('a', t), values: counter(1 * scale) },
    { name: 'nv_inference_count', labels: model('a', t), values: counter(40 * scale) },
    { name: 'nv_inference_request_duration_us', labels: model('a', t), values: counter(10 * 20_000 * scale) },
    { name: 'nv_inference_queue_duration_us', labels: model('a', t), values: counter(10 * 5_000 * scale) },
    // Model b: 5 requests/s, no batching, 50 ms per request, 10 ms queued, no failures.
    { name: 'nv_inference_request_success', labels: model('b', t), values: counter(5 * scale) },
    { name: 'nv_inference_request_failure', labels: model('b', t), values: counter(0) },
    { name: 'nv_inference_count', labels: model('b', t), values: counter(5 * scale) },
    { name: 'nv_inference_request_duration_us', labels: model('b', t), values: counter(5 * 50_000 * scale) },
    { name: 'nv_inference_queue_duration_us', labels: model('b', t), values: counter(5 * 10_000 * scale) },
    // One GPU: half busy, 8 of 16 GB used.
    { name: 'nv_gpu_utilization', labels: { ...t, gpu_uuid: 'GPU-1' }, values: `${0.5 * scale}+0x60` },
    { name: 'nv_gpu_memory_used_bytes', labels: { ...t, gpu_uuid: 'GPU-1' }, values: `${8e9 * scale}+0x60` },
    { name: 'nv_gpu_memory_total_bytes', labels: { ...t, gpu_uuid: 'GPU-1' }, values: `${16e9 * scale}+0x60` },
    // Envoy: 15 requests/s from clients, 12/s sent to Triton, so 3/s answered by Envoy; 1/s of
    // those found no ready Triton pod; 13/s answered 2xx, 2/s 4xx.
    { name: 'envoy_http_downstream_rq_total', labels: { ...e, envoy_http_conn_manager_prefix: 'grpc' }, values: counter(15 * scale) },
    { name: 'envoy_http_downstream_rq_total', labels: { ...e, envoy_http_conn_manager_prefix: 'metrics' }, values: counter(100) },
    { name: 'envoy_cluster_upstream_rq_total', labels: { ...e, envoy_cluster_name: 'triton' }, values: counter(12 * scale) },
    { name: 'envoy_cluster_upstream_rq_total', labels: { ...e, envoy_cluster_name: 'prometheus' }, values: counter(100) },
    { name: 'envoy_cluster_upstream_cx_none_healthy', labels: { ...e, envoy_cluster_name: 'triton' }, values: counter(1 * scale) },
    { name: 'envoy_http_downstream_rq_xx', labels: { ...e, envoy_http_conn_manager_prefix: 'grpc', envoy_response_code_class: '2' }, values: counter(13 * scale) },
    { name: 'envoy_http_downstream_rq_xx', labels: { ...e, envoy_http_conn_manager_prefix: 'grpc', envoy_response_code_class: '4' }, values: counter(2 * scale) },
    { name: 'envoy_http_downstream_rq_xx', labels: { ...e, envoy_http_conn_manager_prefix: 'metrics', envoy_response_code_class: '2' }, values: counter(100) },
  ];
}

/** What each query gives: its number of series, and the smallest and largest value. */
const EXPECTED: Record<string, { count: number; min: number; max: number }> = {
  'Server load/A': { count: 1, min: 100_000 / 15 / 1000, max: 100_000 / 15 / 1000 },
  'Server load/B': { count: 1, min: 100, max: 100 },
  'Triton pods reporting/A': { count: 1, min: 1, max: 1 },
  'Requests per second/A': { count: 2, min: 5, max: 10 },
  'Requests per second/B': { count: 2, min: 0, max: 1 },
  'Inferences per second/A': { count: 2, min: 5, max: 40 },
  'Request latency/A': { count: 2, min: 20, max: 50 },
  'Queue time/A': { count: 2, min: 5, max: 10 },
  'GPU utilisation/A': { count: 1, min: 0.5, max: 0.5 },
  'GPU memory/A': { count: 1, min: 8e9, max: 8e9 },
  'GPU memory/B': { count: 1, min: 16e9, max: 16e9 },
  'Envoy requests/A': { count: 1, min: 15, max: 15 },
  'Envoy requests/B': { count: 1, min: 12, max: 12 },
  'Envoy requests/C': { count: 2, min: 2, max: 13 },
  'Shed and refused requests/A': { count: 1, min: 3, max: 3 },
  'Shed and refused requests/B': { count: 1, min: 1, max: 1 },
  'Shed and refused requests/C': { count: 1, min: 2, max: 2 },
};

/** Grafana's variables as Grafana would substitute them for a 15 s scrape interval. */
const substitute = (expr: string) => expr.replaceAll('$__rate_interval', '1m');

panels('every panel query returns the values its panel describes, for this release only', async () => {
  requirePromtool();
  const objects = parseManifests(await templateOrThrow('helm', { release: 'supersonic', namespace: NS, values: { grafana: { dashboards: { sidecar: true } } } })) as Manifest[];
  const dashboard = JSON.parse(objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'supersonic-grafana-default-dashboard')!.data['default.json']);
  const targets = dashboard.panels.flatMap((p: Manifest) => (p.targets ?? []).map((t: Manifest) => ({ key: `${p.title}/${t.refId}`, expr: substitute(t.expr) })));
  assert.equal(targets.map((t: Manifest) => t.key).sort(), Object.keys(EXPECTED).sort(), 'every query has its expectation here');
  // Another release in the namespace, with other numbers: the dashboard must not count it.
  const series = [...seriesOf('supersonic', 1), ...seriesOf('supersonic-other', 7)];
  const checks: ExprCheck[] = targets.flatMap((t: Manifest) => {
    const want = EXPECTED[t.key]!;
    return [{ expr: `count(${t.expr})`, value: want.count }, { expr: `min(${t.expr})`, value: want.min }, { expr: `max(${t.expr})`, value: want.max }];
  });
  const result = await promtoolTest(series, checks, { approx: true });
  assert.is(result.code, 0, result.output);
});

panels('the queries parse and stay empty, not NaN, for a release with no series', async () => {
  requirePromtool();
  const objects = parseManifests(await templateOrThrow('helm', { release: 'idle', namespace: NS, values: { grafana: { dashboards: { sidecar: true } } } })) as Manifest[];
  const dashboard = JSON.parse(objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'idle-grafana-default-dashboard')!.data['default.json']);
  const exprs: string[] = dashboard.panels.flatMap((p: Manifest) => (p.targets ?? []).map((t: Manifest) => substitute(t.expr)));
  const checks = exprs.filter((e) => !e.startsWith('vector(')).map((expr) => ({ expr }));
  const result = await promtoolTest(seriesOf('supersonic', 1), checks);
  assert.is(result.code, 0, result.output);
});

panels.run();
