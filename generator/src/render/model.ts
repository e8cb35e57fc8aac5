import { stringify } from 'yaml';
import { describeType, type ValueKey } from '../schema/walk.ts';
import type { BundledSchema, Publish, SchemaNode } from '../schema/types.ts';
import { exampleAsValues } from './text.ts';

/** What the Handlebars templates (chart and docs) are rendered with. */
export interface TemplateModel {
  chart: Record<string, unknown>;
  /** Where the chart is published (x-publish): absolute links in the packaged README. */
  publish: Publish;
  /** Top-level groups, each with its keys; root-level leaves form the first section. */
  sections: Section[];
  /** Deprecated keys, for the warnings in NOTES.txt. */
  deprecated: DocKey[];
}

export interface Section {
  title: string;
  description: string;
  keys: DocKey[];
}

export interface DocKey {
  dotted: string;
  /** The key as a Go template expression, e.g. `.Values.triton.name`. */
  goPath: string;
  type: string;
  description: string;
  deprecated: boolean;
  group: boolean;
  /** The default on one line (JSON), or '' when there is none. */
  defaultInline: string;
  /** The default as a YAML block under its key, for multi-line values. */
  defaultBlock: string;
  /** Each example as a YAML snippet from the root, ready to paste into a values file. */
  examples: string[];
}

export function buildModel(schema: BundledSchema, publish: Publish, keys: ValueKey[]): TemplateModel {
  const { root } = schema;
  const docKeys = keys.map((key) => toDocKey(key, root));
  const general: Section = { title: 'General', description: 'Keys at the root of the values.', keys: [] };
  const sections: Section[] = [general];
  keys.forEach((key, i) => {
    const docKey = docKeys[i]!;
    if (key.depth === 0 && key.kind === 'group') {
      sections.push({ title: key.dotted, description: key.node.description ?? '', keys: [] });
    } else if (key.depth === 0) {
      general.keys.push(docKey);
    } else {
      sections.at(-1)!.keys.push(docKey);
    }
  });
  // NOTES warns about a deprecated key or group once, not about each key inside a deprecated group.
  const warnings = docKeys.filter((docKey, i) => keys[i]!.node.deprecated === true);
  return { chart: schema.chart, publish, sections, deprecated: warnings };
}

function toDocKey(key: ValueKey, root: SchemaNode): DocKey {
  const { node } = key;
  const hasDefault = node.default !== undefined;
  return {
    dotted: key.dotted,
    goPath: goValuesPath(key.path),
    type: key.kind === 'group' ? 'object' : describeType(node, root),
    description: (node.description ?? '').trim(),
    deprecated: key.deprecated,
    group: key.kind === 'group',
    defaultInline: hasDefault ? JSON.stringify(node.default) : '',
    defaultBlock: hasDefault ? yamlSnippet(key.path, node.default) : '',
    examples: (node.examples ?? []).map((example) => yamlSnippet(key.path, example)),
  };
}

/** `.Values.a.b`, or `(index .Values "a-b" "c")` when a key is not a Go identifier. */
function goValuesPath(path: string[]): string {
  if (path.every((name) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(name))) return `.Values.${path.join('.')}`;
  return `(index .Values ${path.map((name) => JSON.stringify(name)).join(' ')})`;
}

function yamlSnippet(path: string[], value: unknown): string {
  return stringify(exampleAsValues(path, value), { lineWidth: 0 }).trimEnd();
}
