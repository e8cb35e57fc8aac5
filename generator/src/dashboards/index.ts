/**
 * Every dashboard the chart ships, as the files the generator writes into the chart
 * (chart/supersonic/files/dashboards/<name>.json) and the chart's ConfigMap carries.
 */
import { jsonComment } from '../render/headers.ts';
import { supersonicDashboard } from './supersonic.ts';

/** Each dashboard headed by the generated-file notice; Grafana keeps an unknown top-level key as it is. */
export function renderDashboards(): Map<string, string> {
  return new Map([['default.json', `${JSON.stringify({ $comment: jsonComment, ...supersonicDashboard() }, null, 2)}\n`]]);
}
