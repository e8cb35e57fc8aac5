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
import { closestName } from '../../generator/src/validate/closest-name.ts';
import { ANNOTATION_NAMES, ANNOTATIONS, GPU_REQUEST_ANNOTATIONS, quote } from './annotations.ts';
import { parseGpuValue } from './gpu/resolve.ts';
import { authValueProblem } from './mutations/auth-sidecar.ts';
import { parseRepositories } from './mutations/cvmfs.ts';

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
  const config: WebhookConfig = {
    values: values as WebhookValues,
    authSidecarBootstrap: existsSync(sidecarFile) ? readFileSync(sidecarFile, 'utf8') : undefined,
  };
  const defaults = namespaceDefaultProblems(config);
  if (defaults.length) throw new ConfigError(`${valuesFile}: bad namespace defaults:\n${defaults.map((p) => `  - ${p}`).join('\n')}`);
  return config;
}

const CONTAINER_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * Problems of `webhook.injection.namespaceDefaults`, as `webhook.injection.namespaceDefaults.<namespace>.<key>: <message>`.
 * The schema sees a free-form map of strings; here each value is read with the parser the pod's
 * path uses, so a default that would refuse every pod of its namespace stops start-up instead.
 */
export function namespaceDefaultProblems(config: WebhookConfig): string[] {
  const problems: string[] = [];
  const { injection } = config.values;
  for (const [namespace, defaults] of Object.entries(injection.namespaceDefaults ?? {})) {
    const where = `webhook.injection.namespaceDefaults.${namespace}`;
    const gpu: string[] = [];
    for (const [key, value] of Object.entries(defaults ?? {})) {
      if (typeof value !== 'string') continue; // the schema says so
      const problem = defaultProblem(key, value, config);
      if (problem) problems.push(`${where}.${key}: ${problem}`);
      if ((GPU_REQUEST_ANNOTATIONS as readonly string[]).includes(key)) gpu.push(key);
    }
    if (gpu.length > 1) {
      problems.push(
        defaults?.gpu === 'none'
          ? `${where}: gpu: none asks for no GPU, but the default also sets ${gpu.filter((key) => key !== 'gpu').join(' and ')}; set one or the other`
          : `${where}: set only one GPU annotation; found ${gpu.join(' and ')}`,
      );
    }
  }
  return problems;
}

function defaultProblem(key: string, value: string, config: WebhookConfig): string | undefined {
  switch (key) {
    case ANNOTATIONS.gpu:
    case ANNOTATIONS.gpuProfile:
    case ANNOTATIONS.gpuMemory:
    case ANNOTATIONS.gpuMps: {
      if (key === ANNOTATIONS.gpu && value === 'none') return undefined;
      const parsed = parseGpuValue(key, value);
      return 'problem' in parsed ? parsed.problem : undefined;
    }
    case ANNOTATIONS.gpuContainer:
      return CONTAINER_NAME.test(value) && value.length <= 63 ? undefined : `${quote(value)} is not a container name (lower-case letters, digits and '-', at most 63)`;
    case ANNOTATIONS.cvmfsRepositories: {
      if (value === 'none') return undefined;
      const parsed = parseRepositories(value);
      return 'problem' in parsed ? parsed.problem : undefined;
    }
    case ANNOTATIONS.auth: {
      const problem = authValueProblem(value);
      if (problem || value !== 'enabled') return problem;
      const { issuer, jwksUri } = config.values.injection.auth;
      if (!issuer || !jwksUri) return 'enabled, but webhook.injection.auth.issuer and jwksUri are not set, so every pod of the namespace would be refused';
      if (!config.authSidecarBootstrap) return "enabled, but the auth sidecar's configuration (auth-sidecar.yaml) is missing from the webhook's ConfigMap";
      return undefined;
    }
    default: {
      const closest = closestName(key, ANNOTATION_NAMES);
      return `unknown key (${closest ? `did you mean ${closest}?` : `known: ${ANNOTATION_NAMES.join(', ')}`})`;
    }
  }
}

/** Problems of `values` against `properties.webhook` of the chart's schema, as `webhook.<key>: <message>`. */
export function validateWebhookValues(values: unknown, chartSchema: Record<string, any>): string[] {
  const ajv = new Ajv({ strict: false, allErrors: true });
  const validate = ajv.compile({ ...chartSchema.properties.webhook, definitions: chartSchema.definitions });
  if (validate(values)) return [];
  // A key refused by propertyNames is reported twice, as "property name must be valid" and as
  // the inner keyword's error with the key in `propertyName`: the second, with the key named, is kept.
  return (validate.errors ?? []).filter((err) => err.keyword !== 'propertyNames').map((err) => {
    const key = (err as { propertyName?: string }).propertyName;
    const where = `webhook${err.instancePath.replaceAll('/', '.')}${key === undefined ? '' : `.${key}`}`;
    const extra = 'additionalProperty' in err.params ? ` "${err.params.additionalProperty}"` : '';
    const allowed = 'allowedValues' in err.params ? ` (${(err.params.allowedValues as unknown[]).join(', ')})` : '';
    if (key !== undefined && 'allowedValues' in err.params) {
      const names = (err.params.allowedValues as unknown[]).map(String);
      const closest = closestName(key, names);
      return `${where}: unknown key (${closest ? `did you mean ${closest}?` : `allowed: ${names.join(', ')}`})`;
    }
    if (key !== undefined) return `${where}: this key ${err.message}`;
    return `${where}: ${err.message}${extra}${allowed}`;
  });
}
