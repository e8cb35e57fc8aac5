/**
 * Prometheus's /api/v1/query answer (an instant vector) as Prometheus text exposition (format
 * 0.0.4): each family's HELP and TYPE, then its samples sorted by labels, so the answer is the
 * same for the same data. Label values and HELP are escaped as the format says; values are
 * Prometheus's own strings (it writes floats without exponent, and NaN, +Inf, -Inf as the
 * format spells them), checked, never reformatted. Anything not shaped like a vector answer is a
 * BadAnswer, never a half-written page.
 */
import { quote } from '#core/text/quote.ts';
import type { MetricFamily } from './gpu-metrics.ts';

export class BadAnswer extends Error {}

export interface Sample {
  labels: Record<string, string>;
  value: string;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const FLOAT = /^(NaN|[+-]Inf|[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)$/;

export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** The samples of a /api/v1/query answer, by metric name; only the names in `families`. */
export function parseVector(answer: unknown, families: readonly MetricFamily[]): Map<string, Sample[]> {
  const wanted = new Set(families.map((family) => family.name));
  const byName = new Map<string, Sample[]>();
  if (!isObject(answer)) throw new BadAnswer('the answer is not a JSON object');
  if (answer.status !== 'success') throw new BadAnswer(`status is ${quote(answer.status)}, not "success"`);
  const data = answer.data;
  if (!isObject(data) || data.resultType !== 'vector' || !Array.isArray(data.result)) throw new BadAnswer('data is not an instant vector');
  for (const item of data.result as unknown[]) {
    if (!isObject(item) || !isObject(item.metric) || !Array.isArray(item.value) || item.value.length !== 2) throw new BadAnswer('a result is not {metric, value: [time, "value"]}');
    const { __name__: name, ...rest } = item.metric as Record<string, unknown>;
    if (typeof name !== 'string' || !METRIC_NAME.test(name)) throw new BadAnswer(`a result has no valid metric name (${quote(name)})`);
    if (!wanted.has(name)) continue;
    const labels: Record<string, string> = {};
    for (const [key, value] of Object.entries(rest)) {
      if (!LABEL_NAME.test(key) || key.startsWith('__')) throw new BadAnswer(`${name} has an invalid label name ${quote(key)}`);
      if (typeof value !== 'string') throw new BadAnswer(`${name}'s label ${key} is not a string`);
      labels[key] = value;
    }
    const value = item.value[1];
    if (typeof value !== 'string' || !FLOAT.test(value)) throw new BadAnswer(`${name} has an invalid value ${quote(value)}`);
    const list = byName.get(name) ?? [];
    list.push({ labels, value });
    byName.set(name, list);
  }
  return byName;
}

function labelText(labels: Record<string, string>): string {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return '';
  return `{${keys.map((key) => `${key}="${escapeLabelValue(labels[key]!)}"`).join(',')}}`;
}

/** The exposition text: every family in `families`' order, with HELP and TYPE even when it has no sample. */
export function toExposition(families: readonly MetricFamily[], samples: Map<string, Sample[]>): string {
  const lines: string[] = [];
  for (const family of families) {
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`);
    const series = (samples.get(family.name) ?? []).map((sample) => ({ text: labelText(sample.labels), value: sample.value }));
    series.sort((a, b) => (a.text < b.text ? -1 : a.text > b.text ? 1 : 0));
    for (const { text, value } of series) lines.push(`${family.name}${text} ${value}`);
  }
  return `${lines.join('\n')}\n`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
