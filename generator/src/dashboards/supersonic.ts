/**
 * The dashboard of one SuperSONIC release, built with Grafana's own dashboards-as-code builders
 * (@grafana/grafana-foundation-sdk), so it has the shape Grafana reads.
 *
 * The JSON is the same for every release; what is release-specific (the dashboard's uid and
 * title, the label matchers that select the release's Triton and Envoy series, the server-load
 * expression and its threshold) is written as PLACEHOLDERS, which the chart's template replaces
 * with Helm's `replace` (grafana-dashboards-configmap.yaml), from the same helpers KEDA and the
 * load shedder use. The JSON is never parsed as a Go template, so legends such as `{{model}}`
 * (Grafana's own delimiters) reach Grafana untouched.
 */
import { DashboardBuilder, DashboardCursorSync, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as TimeseriesBuilder } from '@grafana/grafana-foundation-sdk/timeseries';
import { PanelBuilder as StatBuilder } from '@grafana/grafana-foundation-sdk/stat';
import { LegendDisplayMode, LegendPlacement, VizLegendOptionsBuilder } from '@grafana/grafana-foundation-sdk/common';
import { PROMETHEUS_DATASOURCE } from './datasources.ts';

/** Tokens the chart replaces, each inside a JSON string (the chart JSON-escapes what it writes). */
export const PLACEHOLDERS = {
  uid: '__SUPERSONIC_DASHBOARD_UID__',
  instance: '__SUPERSONIC_INSTANCE__',
  namespace: '__SUPERSONIC_NAMESPACE__',
  /** `namespace="<ns>", pod=~"<instance>-triton-..."`: supersonic.serverLoad.tritonSelector. */
  triton: '__SUPERSONIC_TRITON_SELECTOR__',
  /** `namespace="<ns>", pod=~"<instance>-envoy-..."`: supersonic.grafana.envoySelector. */
  envoy: '__SUPERSONIC_ENVOY_SELECTOR__',
  /** supersonic.serverLoadMetric: the expression KEDA and the load shedder read. */
  serverLoad: '__SUPERSONIC_SERVER_LOAD__',
  /** serverLoadThreshold, a number. */
  threshold: '__SUPERSONIC_SERVER_LOAD_THRESHOLD__',
} as const;

export type Placeholders = { [K in keyof typeof PLACEHOLDERS]: string };

/** Envoy's counters for the client listener (HCM stat_prefix "grpc") and the Triton cluster. */
const ENVOY_CLIENT = 'envoy_http_conn_manager_prefix="grpc"';
const ENVOY_TRITON = 'envoy_cluster_name="triton"';
/**
 * Requests reach Triton through the pods' cluster, or, while Envoy holds requests for a Triton
 * that scales up from zero (keda.wakeOnRequest.hold), through the ClusterIP of triton_wait.
 */
const ENVOY_TO_TRITON = 'envoy_cluster_name=~"triton|triton_wait"';

function query(expr: string, legend: string, refId: string): DataqueryBuilder {
  return new DataqueryBuilder().datasource(PROMETHEUS_DATASOURCE).expr(expr).legendFormat(legend).refId(refId).range();
}

/** Panel ids, unique within the dashboard, in layout order (rows included). */
let nextId = 1;
const id = () => nextId++;

function row(title: string): RowBuilder {
  return new RowBuilder(title).id(id());
}

function timeseries(title: string, description: string, unit: string, targets: DataqueryBuilder[], width = 12): TimeseriesBuilder {
  const legend = new VizLegendOptionsBuilder().showLegend(true).displayMode(LegendDisplayMode.List).placement(LegendPlacement.Bottom);
  const panel = new TimeseriesBuilder().id(id()).title(title).legend(legend).description(description).unit(unit).datasource(PROMETHEUS_DATASOURCE)
    .height(8).span(width).fillOpacity(10).min(0);
  for (const target of targets) panel.withTarget(target);
  return panel;
}

/** Per-model ratio of two Triton counters, as rates over Grafana's window, 0 while idle (no 0/0). */
function perModelAverage(numerator: string, selector: string, scale: number): string {
  return `sum by (model) (rate(${numerator}{${selector}}[$__rate_interval])) / clamp_min(sum by (model) (rate(nv_inference_request_success{${selector}}[$__rate_interval])), 1e-9) / ${scale}`;
}

/** The release's dashboard; `p` are the placeholders (or, in tests, concrete values). */
export function supersonicDashboard(p: Placeholders = PLACEHOLDERS): Dashboard {
  nextId = 1;
  const t = p.triton;
  const e = p.envoy;
  const rate = (metric: string, selector: string) => `rate(${metric}{${selector}}[$__rate_interval])`;
  const downstream = `sum(${rate('envoy_http_downstream_rq_total', `${e}, ${ENVOY_CLIENT}`)})`;
  const upstream = `sum(${rate('envoy_cluster_upstream_rq_total', `${e}, ${ENVOY_TO_TRITON}`)})`;

  return new DashboardBuilder(`SuperSONIC: ${p.instance} (${p.namespace})`)
    .uid(p.uid)
    .description(`Triton and Envoy of the SuperSONIC instance ${p.instance} in namespace ${p.namespace}.`)
    .tags(['supersonic', 'triton', 'envoy'])
    .editable()
    .tooltip(DashboardCursorSync.Crosshair)
    .refresh('30s')
    .time({ from: 'now-1h', to: 'now' })
    .timezone('browser')

    .withRow(row('Load'))
    .withPanel(timeseries(
      'Server load',
      'The expression KEDA scales Triton on and Envoy\'s load shedder compares with serverLoadThreshold (by default the average time in ms a request waits in Triton\'s queue), and the threshold.',
      'none',
      [query(p.serverLoad, 'server load', 'A'), query(`vector(${p.threshold})`, 'threshold', 'B')],
      18,
    ))
    .withPanel(new StatBuilder().id(id()).title('Triton pods reporting').datasource(PROMETHEUS_DATASOURCE).height(8).span(6)
      .description('Triton pods of this instance whose metrics Prometheus holds.')
      .withTarget(query(`count(count by (pod) (nv_inference_request_success{${t}}))`, 'pods', 'A')))

    .withRow(row('Triton, per model'))
    .withPanel(timeseries('Requests per second', 'Successful inference requests per second, per model.', 'reqps', [
      query(`sum by (model) (${rate('nv_inference_request_success', t)})`, '{{model}}', 'A'),
      query(`sum by (model) (${rate('nv_inference_request_failure', t)})`, '{{model}} failed', 'B'),
    ]))
    .withPanel(timeseries('Inferences per second', 'Inferences (batch items) per second, per model: above the request rate when clients send batches.', 'ops', [
      query(`sum by (model) (${rate('nv_inference_count', t)})`, '{{model}}', 'A'),
    ]))
    .withPanel(timeseries('Request latency', 'Average time from a request\'s arrival to its answer in Triton, per model.', 'ms', [
      query(perModelAverage('nv_inference_request_duration_us', t, 1000), '{{model}}', 'A'),
    ]))
    .withPanel(timeseries('Queue time', 'Average time a request waits in Triton\'s queue, per model.', 'ms', [
      query(perModelAverage('nv_inference_queue_duration_us', t, 1000), '{{model}}', 'A'),
    ]))

    .withRow(row('GPUs'))
    .withPanel(timeseries('GPU utilisation', 'Utilisation of each GPU Triton uses, per pod.', 'percentunit', [
      query(`max by (pod, gpu_uuid) (nv_gpu_utilization{${t}})`, '{{pod}} {{gpu_uuid}}', 'A'),
    ]))
    .withPanel(timeseries('GPU memory', 'Memory used on each GPU Triton uses, and the GPU\'s total.', 'bytes', [
      query(`max by (pod, gpu_uuid) (nv_gpu_memory_used_bytes{${t}})`, '{{pod}} {{gpu_uuid}} used', 'A'),
      query(`max by (pod, gpu_uuid) (nv_gpu_memory_total_bytes{${t}})`, '{{pod}} {{gpu_uuid}} total', 'B'),
    ]))

    .withRow(row('Envoy'))
    .withPanel(timeseries('Envoy requests', 'Requests from clients to Envoy, requests Envoy sent to Triton, and the answers to clients by status class.', 'reqps', [
      query(downstream, 'from clients', 'A'),
      query(upstream, 'to Triton', 'B'),
      query(`sum by (envoy_response_code_class) (${rate('envoy_http_downstream_rq_xx', `${e}, ${ENVOY_CLIENT}`)})`, '{{envoy_response_code_class}}xx', 'C'),
    ]))
    .withPanel(timeseries('Shed and refused requests',
      'Requests Envoy answered itself instead of sending them to Triton: shed by the load shedder (gRPC RESOURCE_EXHAUSTED answers carry HTTP 200, so they count only here), refused by token auth, or with no Triton pod ready; and, of those, the ones that found no ready Triton pod. Retries to Triton make the difference an underestimate.',
      'reqps', [
        query(`clamp_min(${downstream} - ${upstream}, 0)`, 'answered by Envoy', 'A'),
        query(`sum(${rate('envoy_cluster_upstream_cx_none_healthy', `${e}, ${ENVOY_TRITON}`)})`, 'no Triton pod ready', 'B'),
        query(`sum(${rate('envoy_http_downstream_rq_xx', `${e}, ${ENVOY_CLIENT}, envoy_response_code_class="4"`)})`, 'HTTP 4xx (HTTP sheds are 429)', 'C'),
      ]))
    .build();
}
