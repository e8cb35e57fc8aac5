import { readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { parse } from 'yaml';
import { SchemaError, type BundledSchema, type Publish, type SchemaNode } from './types.ts';

export { SchemaError };

/**
 * Reads `root.yaml` and every file it references with `$ref: <file>.yaml`, and returns one
 * bundled document. File references are replaced by the file's content (so the published
 * schema is self-contained: air-gapped Helm never fetches a remote `$ref`); `#/definitions/...`
 * references are kept. Remote references are refused.
 */
export function loadSchema(rootFile: string): BundledSchema {
  const bundled = readSchemaFile(rootFile, []);
  const chart = bundled['x-chart'];
  if (!chart || typeof chart !== 'object') {
    throw new SchemaError(`${rootFile}: the root schema needs an \`x-chart\` map with the Chart.yaml fields`);
  }
  const versions: Record<string, string | undefined> = { chartVersion: chart.version as string | undefined, appVersion: chart.appVersion as string | undefined };
  const root = substituteVersions(bundled, versions, '#') as SchemaNode;
  const publish = root['x-publish'] === undefined ? undefined : readPublish(rootFile, root['x-publish']);
  return { root, chart: root['x-chart']!, ...(publish ? { publish } : {}) };
}

/**
 * `${chartVersion}` and `${appVersion}` in any string become x-chart's version and appVersion,
 * so an image tag that follows the chart is written once (in x-chart) and never drifts.
 */
function substituteVersions(node: unknown, versions: Record<string, string | undefined>, pointer: string): unknown {
  if (typeof node === 'string') {
    return node.replace(/\$\{(\w+)\}/g, (whole, name: string) => {
      if (!(name in versions)) throw new SchemaError(`${pointer}: unknown placeholder ${whole}; the known ones are ${Object.keys(versions).map((k) => `\${${k}}`).join(' and ')}`);
      const value = versions[name];
      if (!value) throw new SchemaError(`${pointer}: ${whole} needs x-chart.${name === 'chartVersion' ? 'version' : name} to be set`);
      return value;
    });
  }
  if (Array.isArray(node)) return node.map((item, i) => substituteVersions(item, versions, `${pointer}/${i}`));
  if (!node || typeof node !== 'object') return node;
  return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, substituteVersions(value, versions, `${pointer}/${key}`)]));
}

function readPublish(rootFile: string, raw: unknown): Publish {
  const publish = (raw ?? {}) as Record<string, unknown>;
  for (const key of ['helmRepository', 'ociRepository', 'docs'] as const) {
    if (typeof publish[key] !== 'string' || !publish[key]) throw new SchemaError(`${rootFile}: x-publish.${key} must be set (where the chart is published)`);
  }
  if (!String(publish.docs).endsWith('/')) throw new SchemaError(`${rootFile}: x-publish.docs must end in "/"`);
  return { helmRepository: String(publish.helmRepository).replace(/\/$/, ''), ociRepository: String(publish.ociRepository), docs: String(publish.docs) };
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
