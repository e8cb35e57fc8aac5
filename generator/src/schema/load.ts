import { readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { parse } from 'yaml';
import { SchemaError, type BundledSchema, type SchemaNode } from './types.ts';

export { SchemaError };

/**
 * Reads `root.yaml` and every file it references with `$ref: <file>.yaml`, and returns one
 * bundled document. File references are replaced by the file's content (so the published
 * schema is self-contained: air-gapped Helm never fetches a remote `$ref`); `#/definitions/...`
 * references are kept. Remote references are refused.
 */
export function loadSchema(rootFile: string): BundledSchema {
  const root = readSchemaFile(rootFile, []);
  const chart = root['x-chart'];
  if (!chart || typeof chart !== 'object') {
    throw new SchemaError(`${rootFile}: the root schema needs an \`x-chart\` map with the Chart.yaml fields`);
  }
  return { root, chart };
}

function readSchemaFile(file: string, stack: string[]): SchemaNode {
  if (stack.includes(file)) {
    throw new SchemaError(`schema files reference each other in a loop: ${[...stack, file].join(' -> ')}`);
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    const from = stack.at(-1);
    throw new SchemaError(`${from ?? 'schema'}: cannot read referenced file ${relative(process.cwd(), file)}`);
  }
  let doc: unknown;
  try {
    doc = parse(text, { prettyErrors: true });
  } catch (err) {
    throw new SchemaError(`${file}: invalid YAML: ${(err as Error).message}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new SchemaError(`${file}: a schema file must hold a YAML map`);
  }
  return resolveFileRefs(doc as SchemaNode, file, [...stack, file], '#');
}

function resolveFileRefs(node: unknown, file: string, stack: string[], pointer: string): any {
  if (Array.isArray(node)) return node.map((item, i) => resolveFileRefs(item, file, stack, `${pointer}/${i}`));
  if (!node || typeof node !== 'object') return node;
  const obj = node as Record<string, unknown>;
  const ref = obj.$ref;
  if (typeof ref === 'string' && !ref.startsWith('#')) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(ref)) {
      throw new SchemaError(`${file} at ${pointer}: remote $ref "${ref}" is not allowed; the published schema must be self-contained`);
    }
    const { $ref: _, ...siblings } = obj;
    const target = readSchemaFile(join(dirname(file), ref), stack);
    // Keywords written next to the reference (a description, say) override the file's own.
    return { ...target, ...resolveFileRefs(siblings, file, stack, pointer) };
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(obj)) out[key] = resolveFileRefs(value, file, stack, `${pointer}/${key}`);
  return out;
}
