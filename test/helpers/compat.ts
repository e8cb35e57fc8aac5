/**
 * Real users' values files from SuperSONIC 0.3.1 (../shared/compat/supersonic-0.3.1/).
 * Tests take the files as they are: every section of every file is a key of the chart.
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
