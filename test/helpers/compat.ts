/**
 * Real users' values files from SuperSONIC 0.3.1 (../shared/compat/supersonic-0.3.1/).
 * Tests take the files as they are, except the sections of components the chart does not have
 * yet (STILL_CUT says which, and why); `supportedPart` cuts exactly those.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT } from './helm.ts';

export const COMPAT_DIR = join(REPO_ROOT, '../shared/compat/supersonic-0.3.1');

export interface CompatFile {
  name: string;
  values: Record<string, unknown>;
}

export function loadCompatFiles(): CompatFile[] {
  if (!existsSync(COMPAT_DIR)) {
    throw new Error(`${COMPAT_DIR} is missing: the compatibility tests read the shared/ folder that sits beside the repository`);
  }
  return readdirSync(COMPAT_DIR)
    .filter((name) => name.endsWith('.yaml'))
    .sort()
    .map((name) => ({ name, values: (parse(readFileSync(join(COMPAT_DIR, name), 'utf8')) ?? {}) as Record<string, unknown> }));
}

/** The root keys that are not components: every test of a component takes them along. */
export const ROOT_SCALAR_KEYS = ['global', 'nameOverride', 'fullnameOverride', 'commonLabels', 'serverLoadMetric', 'serverLoadThreshold'];

/** The parts of `values` under the given root keys. */
export function coveredPart(values: Record<string, unknown>, rootKeys: string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(values).filter(([key]) => rootKeys.includes(key)));
}

/** Values merged the way Helm merges a values file over the defaults: maps merge, everything else replaces. */
export function mergeValues(base: unknown, override: unknown): any {
  const isMap = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
  if (!isMap(base) || !isMap(override)) return override === undefined ? base : override;
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) out[key] = mergeValues(base[key], value);
  return out;
}

/**
 * The sections of 0.3.1 files that are still cut before rendering, each with the reason: the
 * chart has no such component yet, so its schema (closed, as every object is) refuses them.
 * Every other section (the root keys, triton, envoy, keda, prometheus.external) is rendered
 * as the file has it.
 */
export const STILL_CUT: Record<string, string> = {
  prometheus: 'the bundled Prometheus (prometheus.enabled, prometheus.server, rbac, serviceAccounts, ...) is not in the chart yet; prometheus.external is kept',
  tempo: 'the bundled Tempo is not in the chart yet',
  'opentelemetry-collector': 'the bundled OpenTelemetry collector is not in the chart yet',
  metricsCollector: 'the metrics collector is not in the chart yet',
};

export interface SupportedPart {
  values: Record<string, any>;
  /** What was cut, "<key>: <reason>". */
  cut: string[];
}

/**
 * A 0.3.1 file without the STILL_CUT sections. A section that depends on a cut one goes with
 * it, named with its reason: `keda` enabled on the bundled Prometheus (prometheus.enabled, no
 * prometheus.external), whose address the chart cannot know until that component exists; its
 * render without the Prometheus fails with a message naming prometheus.external, which the
 * compat test checks.
 */
export function supportedPart(values: Record<string, any>): SupportedPart {
  const out: Record<string, any> = {};
  const cut: string[] = [];
  for (const [key, value] of Object.entries(values)) {
    if (key === 'prometheus' && value && typeof value === 'object' && 'external' in value) out.prometheus = { external: value.external };
    if (key in STILL_CUT) cut.push(`${key}: ${STILL_CUT[key]}`);
    else out[key] = value;
  }
  if (kedaNeedsCutPrometheus(values)) {
    delete out.keda;
    cut.push('keda: enabled on the bundled Prometheus (prometheus.enabled), which is cut');
  }
  return { values: out, cut };
}

/** keda.enabled reading the bundled Prometheus only: no prometheus.external in use. */
export function kedaNeedsCutPrometheus(values: Record<string, any>): boolean {
  return values.keda?.enabled === true && values.prometheus?.enabled === true && values.prometheus?.external?.enabled !== true;
}
