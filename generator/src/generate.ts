import { join } from 'node:path';
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

/** A problem in the sources that stops generation; each line names what and where. */
export class GeneratorError extends Error {
  readonly problems: string[];
  constructor(problems: string[], heading: string) {
    super(`${heading}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.problems = problems;
  }
}

export const CHART_DIR = 'chart/supersonic';
/** Folders whose whole content is generated: files in them that we no longer produce are removed. */
export const OWNED_DIRS = [CHART_DIR, 'generator/generated'];

/**
 * Every generated file, keyed by its path relative to the repository root. Pure: reads the
 * sources, writes nothing, and gives byte-identical output for the same sources.
 */
export async function generateAll(repoRoot: string): Promise<Map<string, string>> {
  const schema = loadSchema(join(repoRoot, 'schema/root.yaml'));
  const lint = lintSchema(schema.root);
  if (lint.length) throw new GeneratorError(lint, 'schema/ breaks the authoring rules');

  const keys = walkValues(schema.root);
  const model = buildModel(schema, keys);
  const files = new Map<string, string>();
  const add = (prefix: string, rendered: Map<string, string>) => {
    for (const [path, content] of rendered) files.set(`${prefix}/${path}`, content);
  };

  files.set(`${CHART_DIR}/Chart.yaml`, renderChartYaml(schema.chart));
  files.set(`${CHART_DIR}/values.yaml`, renderValuesYaml(schema.root, keys));
  files.set(`${CHART_DIR}/values.schema.json`, renderValuesSchema(schema.root));
  const chartFiles = renderTemplateTree(join(repoRoot, 'generator/templates/chart'), model);
  add(CHART_DIR, chartFiles);
  add('docs', renderTemplateTree(join(repoRoot, 'generator/templates/docs'), model));
  files.set('generator/generated/values.ts', await renderTypes(schema.root));

  const templates = new Map([...chartFiles].filter(([path]) => path.startsWith('templates/')));
  const usage = checkValuesUsage(keys, templates, schema.root);
  if (usage.length) throw new GeneratorError(usage, 'the chart templates and the schema disagree');
  return files;
}
