import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Publish } from './schema/types.ts';
import { loadSchema } from './schema/load.ts';
import { lintSchema } from './schema/lint.ts';
import { walkValues } from './schema/walk.ts';
import { checkValuesUsage } from './check/values-usage.ts';
import { buildModel } from './render/model.ts';
import { renderChartYaml } from './render/chart-yaml.ts';
import { renderValuesYaml } from './render/values-yaml.ts';
import { renderValuesSchema } from './render/values-schema.ts';
import { renderTemplateTree } from './render/templates.ts';
import { renderTypes } from './render/types.ts';
import { renderDashboards } from './dashboards/index.ts';

/** A problem in the sources that stops generation; each line names what and where. */
export class GeneratorError extends Error {
  readonly problems: string[];
  constructor(problems: string[], heading: string) {
    super(`${heading}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.problems = problems;
  }
}

export const CHART_DIR = 'chart/supersonic';

/**
 * Where the editor schema of this chart version is published (`make package` writes it in
 * dist/): the `$schema` line of values.yaml names it, so every `helm show values` copy still
 * finds it outside this repository. The editor's, not Helm's: an override file sets a few keys,
 * and Helm's schema `required`s every key the templates need (only that stops `key: null` from
 * removing one), which an editor would report as dozens of missing properties.
 */
export function schemaUrl(publish: Publish, chart: Record<string, unknown>): string {
  return `${publish.helmRepository}/${editorSchemaFileName(chart)}`;
}

export function schemaFileName(chart: Record<string, unknown>): string {
  return `schemas/${String(chart.name)}-${String(chart.version)}.values.schema.json`;
}

/** The same schema without `required` (dist/, `make package`), for editors: see render/values-schema.ts. */
export function editorSchemaFileName(chart: Record<string, unknown>): string {
  return `schemas/${String(chart.name)}-${String(chart.version)}.editor.schema.json`;
}

/** package.json's version is npm's copy of the chart version, which x-chart holds: they must agree. */
function checkPackageVersion(repoRoot: string, chart: Record<string, unknown>): void {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));
  if (pkg.version !== chart.version) {
    throw new GeneratorError([`package.json's version (${pkg.version}) is not the chart's (${String(chart.version)}, x-chart.version in schema/root.yaml): set it to ${String(chart.version)}`], 'versions disagree');
  }
}
/** Folders whose whole content is generated: files in them that we no longer produce are removed. */
export const OWNED_DIRS = [CHART_DIR, 'generator/generated'];

/**
 * Every generated file, keyed by its path relative to the repository root. Pure: reads the
 * sources, writes nothing, and gives byte-identical output for the same sources.
 */
export async function generateAll(repoRoot: string): Promise<Map<string, string>> {
  const schema = loadSchema(join(repoRoot, 'schema/root.yaml'));
  if (!schema.publish) throw new GeneratorError(['schema/root.yaml has no x-publish map: say where the chart is published (helmRepository, ociRepository, docs)'], 'schema/ breaks the authoring rules');
  const publish = schema.publish;
  const lint = lintSchema(schema.root);
  if (lint.length) throw new GeneratorError(lint, 'schema/ breaks the authoring rules');

  const keys = walkValues(schema.root);
  const model = buildModel(schema, publish, keys);
  const files = new Map<string, string>();
  const add = (prefix: string, rendered: Map<string, string>) => {
    for (const [path, content] of rendered) files.set(`${prefix}/${path}`, content);
  };

  checkPackageVersion(repoRoot, schema.chart);
  files.set(`${CHART_DIR}/Chart.yaml`, renderChartYaml(schema.chart, keys));
  files.set(`${CHART_DIR}/values.yaml`, renderValuesYaml(schema.root, keys, schemaUrl(publish, schema.chart)));
  files.set(`${CHART_DIR}/values.schema.json`, renderValuesSchema(schema.root));
  const chartFiles = renderTemplateTree(join(repoRoot, 'generator/templates/chart'), model);
  add(CHART_DIR, chartFiles);
  add(`${CHART_DIR}/files/dashboards`, renderDashboards());
  add('docs', renderTemplateTree(join(repoRoot, 'generator/templates/docs'), model));
  files.set('generator/generated/values.ts', await renderTypes(schema.root));

  const templates = new Map([...chartFiles].filter(([path]) => path.startsWith('templates/')));
  const usage = checkValuesUsage(keys, templates, schema.root);
  if (usage.length) throw new GeneratorError(usage, 'the chart templates and the schema disagree');
  return files;
}
