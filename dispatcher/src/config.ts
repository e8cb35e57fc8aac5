/**
 * The dispatcher's configuration: the `dispatcher` section of the chart's values, rendered into
 * its ConfigMap as dispatcher.yaml, checked against the chart's schema by the shared loader
 * (#core/config/load-section.ts) at start and on every change of the ConfigMap, then the checks
 * the schema cannot make.
 */
import { join } from 'node:path';
import { ConfigError, loadSection } from '#core/config/load-section.ts';
import type { Values } from '../../generator/generated/values.ts';
import { familyAutoscaling, type Family } from './knative/service-spec.ts';

export type DispatcherValues = Values['dispatcher'];

export { ConfigError };

export const CONFIG_FILE = 'dispatcher.yaml';

export function loadDispatcherConfig(dir: string, schemaFile: string): { values: DispatcherValues; warnings: string[] } {
  const file = join(dir, CONFIG_FILE);
  const loaded = loadSection<DispatcherValues>(file, schemaFile, ['dispatcher'], "the chart mounts the dispatcher's ConfigMap there");
  const problems = crossChecks(loaded.values);
  if (problems.length) throw new ConfigError(`${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  return loaded;
}

/** What one key alone cannot say wrong. */
function crossChecks(values: DispatcherValues): string[] {
  const problems: string[] = [];
  const { env } = values;
  for (const key of env.secret ?? []) if ((env.allowed ?? []).includes(key)) problems.push(`dispatcher.env: ${key} is both allowed (plain) and secret; list it under secret only`);
  // Each family's autoscaling as it applies (its own keys over dispatcher.autoscaling).
  for (const family of Object.keys(values.families) as Family[]) {
    const autoscaling = familyAutoscaling(values, family);
    const where = values.families[family]?.autoscaling ? `dispatcher.families.${family}.autoscaling over dispatcher.autoscaling` : 'dispatcher.autoscaling';
    if (autoscaling.minScale > autoscaling.maxScale) problems.push(`${where}: minScale (${autoscaling.minScale}) is above maxScale (${autoscaling.maxScale})`);
    if (autoscaling.responseStartTimeoutSeconds > autoscaling.timeoutSeconds) {
      problems.push(`${where}: responseStartTimeoutSeconds (${autoscaling.responseStartTimeoutSeconds}) is above timeoutSeconds (${autoscaling.timeoutSeconds}); Knative refuses that`);
    }
  }
  for (const [id, model] of Object.entries(values.models ?? {})) {
    if (model?.family && !(model.family in values.families)) problems.push(`dispatcher.models.${id}.family: ${model.family} is not a family`);
  }
  return problems;
}
