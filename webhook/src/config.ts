/**
 * The webhook's configuration: the `webhook` section of the chart's values, rendered into a
 * ConfigMap, checked at start against the chart's own values.schema.json by the shared loader
 * (#core/config/load-section.ts), then the namespace defaults read as a pod's annotations are.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadSection } from '#core/config/load-section.ts';
import type { Values } from '../../generator/generated/values.ts';
import { closestName } from '#core/validate/closest-name.ts';
import { ANNOTATION_NAMES, ANNOTATIONS, GPU_REQUEST_ANNOTATIONS } from './annotations.ts';
import { quote } from '#core/text/quote.ts';
import { parseGpuValue } from '#core/gpu/resolve.ts';
import { authValueProblem } from './mutations/auth-sidecar.ts';
import { parseRepositories } from './mutations/cvmfs.ts';

export type WebhookValues = Values['webhook'];

export interface WebhookConfig {
  values: WebhookValues;
  /** The auth sidecar's Envoy bootstrap (YAML), rendered by the chart; absent when not configured. */
  authSidecarBootstrap?: string;
}

export { ConfigError };

/** Files of the webhook's ConfigMap: `webhook.yaml` (the values section) and `auth-sidecar.yaml`. */
export function loadConfig(dir: string, schemaFile: string): WebhookConfig {
  const valuesFile = join(dir, 'webhook.yaml');
  const { values } = loadSection<WebhookValues>(valuesFile, schemaFile, ['webhook'], "the chart mounts the webhook's ConfigMap there");
  const sidecarFile = join(dir, 'auth-sidecar.yaml');
  const config: WebhookConfig = {
    values,
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
