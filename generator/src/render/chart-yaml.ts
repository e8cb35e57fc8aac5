import { stringify } from 'yaml';
import { yamlHeader } from './headers.ts';

/** Chart.yaml from the root schema's `x-chart` map, in the order written there. */
export function renderChartYaml(chart: Record<string, unknown>): string {
  return yamlHeader + stringify(chart, { lineWidth: 0 });
}
