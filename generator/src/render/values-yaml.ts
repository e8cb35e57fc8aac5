import { Document, isMap, isPair, isScalar, stringify, type Pair } from 'yaml';
import { defaultsOf, type ValueKey } from '../schema/walk.ts';
import type { SchemaNode } from '../schema/types.ts';
import { yamlHeader } from './headers.ts';
import { exampleAsValues, wrap } from './text.ts';

/**
 * values.yaml: every default, in schema order, each key preceded by its description as a
 * comment. Keys whose default is empty get an example, since an empty `{}` says little.
 * The first line points editors (yaml-language-server) at the schema, for completion and checks,
 * by its published URL, which `helm show values` copies keep.
 */
export function renderValuesYaml(root: SchemaNode, keys: ValueKey[], schemaUrl: string): string {
  const doc = new Document(defaultsOf(root, root));
  for (const key of keys) {
    const found = findPair(doc, key.path);
    if (!found) continue; // deprecated keys have no default and so no place in values.yaml
    const { pair, first } = found;
    if (isScalar(pair.key)) {
      pair.key.commentBefore = commentFor(key);
      // A blank line before each top-level key and each nested group, so sections stand apart;
      // not before the first key of a group, right under its parent.
      if (key.depth === 0 || (key.kind === 'group' && !first)) pair.key.spaceBefore = true;
    }
  }
  const body = doc.toString({ lineWidth: 0, indentSeq: true });
  return `# yaml-language-server: $schema=${schemaUrl}\n${yamlHeader}${body}`;
}

function findPair(doc: Document, path: string[]): { pair: Pair; first: boolean } | undefined {
  const parent = path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1), true);
  if (!isMap(parent)) return undefined;
  const pair = parent.items.find((item): item is Pair => isPair(item) && isScalar(item.key) && item.key.value === path.at(-1));
  return pair && { pair, first: parent.items[0] === pair };
}

function commentFor(key: ValueKey): string {
  const lines = wrap(key.node.description ?? '', 96);
  const example = key.node.examples?.[0];
  if (example !== undefined && isEmpty(key.node.default)) {
    lines.push('For example:');
    const yaml = stringify(exampleAsValues(key.path.slice(-1), example), { lineWidth: 0 }).trimEnd();
    lines.push(...yaml.split('\n').map((line) => `  ${line}`));
  }
  return lines.map((line) => ` ${line}`).join('\n');
}

function isEmpty(value: unknown): boolean {
  if (value === undefined || value === '' || value === null) return true;
  if (Array.isArray(value)) return value.length === 0;
  return typeof value === 'object' && Object.keys(value).length === 0;
}
