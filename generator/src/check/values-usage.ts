import { resolveRef, type ValueKey } from '../schema/walk.ts';
import type { SchemaNode } from '../schema/types.ts';

/**
 * Cross-checks the schema with the chart templates, both ways: every key is read by some
 * template (or says why not, with `x-unread`), and every `.Values.x.y` a template reads exists
 * in the schema. Templates must spell out full paths (`.Values.triton.replicas`, not
 * `with .Values.triton` then `.replicas`) so this check can see what they read.
 */
export function checkValuesUsage(keys: ValueKey[], templates: Map<string, string>, root: SchemaNode): string[] {
  const reads = collectReads(templates);
  const byPath = new Map(keys.map((key) => [key.dotted, key]));
  const problems: string[] = [];

  for (const [file, text] of templates) {
    // `toYaml .Values` or `index .Values $name` read keys this check cannot see.
    if (/\.Values(?![.\w])/.test(withoutIndexReads(withoutComments(text)))) {
      problems.push(`${file}: reads .Values without a full key path; spell out .Values.<key>.<key> (or index .Values "<key>" with literal keys)`);
    }
  }
  for (const [path, files] of reads) {
    if (!isKnownPath(path.replace(/\.\*$/, ''), byPath, root)) {
      problems.push(`${files.join(', ')}: reads .Values.${path}, which the schema does not declare`);
    }
  }
  for (const key of keys) {
    // Keys inside a deprecated group are covered by the group's own NOTES warning.
    const insideDeprecatedGroup = key.deprecated && !key.node.deprecated;
    if (key.kind === 'group' || key.node['x-unread'] || insideDeprecatedGroup) continue;
    const readSomewhere = [...reads.keys()].some(
      (path) => path === key.dotted || path.startsWith(`${key.dotted}.`) || (path.endsWith('.*') && key.dotted.startsWith(path.slice(0, -1))),
    );
    if (!readSomewhere) problems.push(`${key.dotted}: declared in the schema but read by no template (read it, remove it, or explain with x-unread)`);
  }
  return problems;
}

/**
 * `.Values.a.b` paths (also as `$.Values`, `.root.Values`, or `index .Values "a" "b"` for keys
 * that are not identifiers) mapped to the files reading them. Comments do not count: a key
 * mentioned in a Go template comment or a `#` line is not read.
 */
export function collectReads(templates: Map<string, string>): Map<string, string[]> {
  const reads = new Map<string, string[]>();
  const record = (path: string, file: string) => {
    const files = reads.get(path) ?? [];
    if (!files.includes(file)) files.push(file);
    reads.set(path, files);
  };
  for (const [file, template] of templates) {
    const text = withoutComments(template);
    for (const match of text.matchAll(INDEX_READ)) {
      record([...match[1]!.matchAll(/"([^"]+)"/g)].map((m) => m[1]!).join('.'), file);
    }
    for (const match of withoutIndexReads(text).matchAll(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) {
      record(match[1]!.slice(1), file);
    }
    // `toYaml .Values.x` renders every key below x: a read of all of them, recorded as `x.*`.
    for (const match of text.matchAll(WHOLE_READ)) record(`${(match[1] ?? match[2])!.slice(1)}.*`, file);
  }
  return reads;
}

/**
 * `toYaml .Values.a` or `.Values.a | toYaml`: the whole of a is rendered; `include "helper"
 * .Values.a`: the whole of a is handed to a helper (supersonic.ingressHosts reads an Ingress map).
 */
const WHOLE_READ = /(?:toYaml|include\s+"[^"]+")\s+(?:\$|\.root)?\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)(?![.\w])|(?:\$|\.root)?\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)\s*\|\s*toYaml/g;

/** `index .Values "a" "b"`: a read of a.b spelled with string literals. */
const INDEX_READ = /index\s+(?:\$|\.root)?\.Values((?:\s+"[^"]+")+)/g;

function withoutIndexReads(text: string): string {
  return text.replace(INDEX_READ, '');
}

function withoutComments(text: string): string {
  return text.replace(/\{\{-?\s*\/\*[\s\S]*?\*\/\s*-?\}\}/g, '').replace(/^\s*#.*$/gm, '');
}

/**
 * A path is known if it is a key, or lies inside a leaf whose schema allows it: any name in a
 * free-form map (`triton.nodeSelector.zone`), only declared names in a closed one
 * (`triton.resources.limits`, not `triton.resources.limit`), nothing below a scalar.
 */
function isKnownPath(path: string, byPath: Map<string, ValueKey>, root: SchemaNode): boolean {
  if (byPath.has(path)) return true;
  const parts = path.split('.');
  for (let i = parts.length - 1; i > 0; i--) {
    const prefix = byPath.get(parts.slice(0, i).join('.'));
    if (prefix) return prefix.kind === 'leaf' && allowsSubPath(prefix.node, parts.slice(i), root);
  }
  return false;
}

function allowsSubPath(node: SchemaNode, rest: string[], root: SchemaNode): boolean {
  if (rest.length === 0) return true;
  const resolved = resolveRef(node, root);
  const [name, ...deeper] = rest as [string, ...string[]];
  const declared = resolved.properties?.[name];
  if (declared) return allowsSubPath(declared, deeper, root);
  const extra = resolved.additionalProperties;
  if (extra === true || (extra === undefined && resolved.type === 'object')) return true;
  if (extra && typeof extra === 'object') return allowsSubPath(extra, deeper, root);
  return false;
}
