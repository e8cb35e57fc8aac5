/**
 * The dispatcher's configuration: the `dispatcher` section of the chart's values, rendered into
 * its ConfigMap as dispatcher.yaml, checked against the chart's schema by the shared loader
 * (#core/config/load-section.ts) at start and on every change of the ConfigMap, then the checks
 * the schema cannot make.
 */
import { join } from 'node:path';
import { ConfigError, loadSection } from '#core/config/load-section.ts';
import type { Values } from '../../generator/generated/values.ts';

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
  const { env, autoscaling } = values;
  for (const key of env.secret ?? []) if ((env.allowed ?? []).includes(key)) problems.push(`dispatcher.env: ${key} is both allowed (plain) and secret; list it under secret only`);
  if (autoscaling.minScale > autoscaling.maxScale) problems.push(`dispatcher.autoscaling.minScale (${autoscaling.minScale}) is above maxScale (${autoscaling.maxScale})`);
  if (autoscaling.responseStartTimeoutSeconds > autoscaling.timeoutSeconds) {
    problems.push(`dispatcher.autoscaling.responseStartTimeoutSeconds (${autoscaling.responseStartTimeoutSeconds}) is above timeoutSeconds (${autoscaling.timeoutSeconds}); Knative refuses that`);
  }
  for (const [id, model] of Object.entries(values.models ?? {})) {
    if (model?.family && !(model.family in values.families)) problems.push(`dispatcher.models.${id}.family: ${model.family} is not a family`);
  }
  return problems;
}
