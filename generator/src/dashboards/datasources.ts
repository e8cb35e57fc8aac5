/**
 * The datasources the dashboards read, by the fixed uids the chart provisions them with
 * (_grafana-helpers.tpl, supersonic.grafana.datasources). `prometheus` is also the uid of
 * kube-prometheus-stack's default Prometheus datasource, so the dashboards work in a Grafana
 * that loads them through its sidecar.
 */
import type { DataSourceRef } from '@grafana/grafana-foundation-sdk/common';

export const PROMETHEUS_DATASOURCE: DataSourceRef = { type: 'prometheus', uid: 'prometheus' };
export const TEMPO_DATASOURCE: DataSourceRef = { type: 'tempo', uid: 'tempo' };
