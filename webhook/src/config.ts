/**
 * The webhook's configuration: the `webhook` section of the chart's values, rendered into a
 * ConfigMap, checked at start against the chart's own values.schema.json, so a value that
 * `helm install` accepts is a value the webhook accepts, and a bad one stops start-up with a
 * message that names the key.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import type { Values } from '../../generator/generated/values.ts';

export type WebhookValues = Values['webhook'];

export interface WebhookConfig {
  values: WebhookValues;
  /** The auth sidecar's Envoy bootstrap (YAML), rendered by the chart; absent when not configured. */
  authSidecarBootstrap?: string;
}

export class ConfigError extends Error {}

/** Files of the webhook's ConfigMap: `webhook.yaml` (the values section) and `auth-sidecar.yaml`. */
export function loadConfig(dir: string, schemaFile: string): WebhookConfig {
  const valuesFile = join(dir, 'webhook.yaml');
  if (!existsSync(valuesFile)) throw new ConfigError(`${valuesFile} is missing: the chart mounts the webhook's ConfigMap there`);
  let values: unknown;
  try {
    values = parse(readFileSync(valuesFile, 'utf8'));
  } catch (err) {
    throw new ConfigError(`${valuesFile}: invalid YAML: ${(err as Error).message}`);
  }
  const problems = validateWebhookValues(values, JSON.parse(readFileSync(schemaFile, 'utf8')));
  if (problems.length) throw new ConfigError(`${valuesFile} does not match the chart's schema:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  const sidecarFile = join(dir, 'auth-sidecar.yaml');
  return {
    values: values as WebhookValues,
    authSidecarBootstrap: existsSync(sidecarFile) ? readFileSync(sidecarFile, 'utf8') : undefined,
  };
}

/** Problems of `values` against `properties.webhook` of the chart's schema, as `webhook.<key>: <message>`. */
export function validateWebhookValues(values: unknown, chartSchema: Record<string, any>): string[] {
  const ajv = new Ajv({ strict: false, allErrors: true });
  const validate = ajv.compile({ ...chartSchema.properties.webhook, definitions: chartSchema.definitions });
  if (validate(values)) return [];
  return (validate.errors ?? []).map((err) => {
    const where = `webhook${err.instancePath.replaceAll('/', '.')}`;
    const extra = 'additionalProperty' in err.params ? ` "${err.params.additionalProperty}"` : '';
    const allowed = 'allowedValues' in err.params ? ` (${(err.params.allowedValues as unknown[]).join(', ')})` : '';
    return `${where}: ${err.message}${extra}${allowed}`;
  });
}
