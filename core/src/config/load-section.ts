/**
 * A server's configuration: its section of the chart's values (`webhook`, `dispatcher`),
 * rendered by the chart into a ConfigMap file, checked at start against the chart's own
 * values.schema.json with the validator `supersonic validate` and the editor use
 * (../validate/values-validator.ts). A value `helm install` accepts is a value the server
 * accepts, and a bad one stops start-up with a message that names the file, line and key.
 */
import { existsSync, readFileSync } from 'node:fs';
import { formatProblem, validateValuesText, type Problem } from '../validate/values-validator.ts';

/** What stops start-up: logged as its message alone, no stack trace. */
export class ConfigError extends Error {}

export interface LoadedSection<T> {
  values: T;
  /** Accepted, but worth a change (a legacy key): for the log. */
  warnings: string[];
}

/**
 * The chart's schema, read once per file: it is part of the image and never changes, and the
 * validator keeps its compiled form per schema object, so a ConfigMap reload (the kubelet's
 * symlink swap fires several change events) does not parse and compile it again each time.
 */
const schemas = new Map<string, Record<string, unknown>>();
function chartSchema(schemaFile: string): Record<string, unknown> {
  let schema = schemas.get(schemaFile);
  if (!schema) {
    schema = JSON.parse(readFileSync(schemaFile, 'utf8')) as Record<string, unknown>;
    schemas.set(schemaFile, schema);
  }
  return schema;
}

/**
 * Reads `file` (YAML) as the values section `section` (e.g. ['webhook']) and checks it against
 * the chart's schema in `schemaFile`. `mountedBy` says where the file should come from, for the
 * message when it is missing.
 */
export function loadSection<T>(file: string, schemaFile: string, section: string[], mountedBy: string): LoadedSection<T> {
  if (!existsSync(file)) throw new ConfigError(`${file} is missing: ${mountedBy}`);
  const schema = chartSchema(schemaFile);
  const result = validateValuesText(schema, readFileSync(file, 'utf8'), { section });
  if (result.parseError) throw new ConfigError(formatProblem(file, result.parseError));
  const errors = result.problems.filter((p: Problem) => p.severity === 'error');
  if (errors.length) throw new ConfigError(`${file} does not match the chart's schema:\n${errors.map((p) => `  - ${formatProblem(file, p)}`).join('\n')}`);
  const warnings = result.problems.filter((p) => p.severity === 'warning').map((p) => formatProblem(file, p));
  return { values: result.merged as T, warnings };
}
