import { SchemaError, type SchemaNode } from './types.ts';

/** One key of the values, in schema order. */
export interface ValueKey {
  /** Key names from the root, e.g. ['triton', 'modelRepository', 'storageType']. */
  path: string[];
  /** The path as users write it: `triton.modelRepository.storageType`. */
  dotted: string;
  /** The node with any `#/definitions/...` reference merged in. */
  node: SchemaNode;
  /** A leaf holds a value; a group is a closed object whose keys are listed after it. */
  kind: 'leaf' | 'group';
  depth: number;
  /** Deprecated itself, or inside a deprecated group: kept out of values.yaml, still accepted. */
  deprecated: boolean;
}

/** Follows a local `#/definitions/<name>` reference; keywords beside the `$ref` win. */
export function resolveRef(node: SchemaNode, root: SchemaNode): SchemaNode {
  const ref = node.$ref;
  if (!ref) return node;
  const match = /^#\/definitions\/([^/]+)$/.exec(ref);
  const target = match ? root.definitions?.[match[1]!] : undefined;
  if (!target) throw new SchemaError(`unresolvable $ref "${ref}": no such definition (only #/definitions/<name> is supported)`);
  const { $ref: _, ...siblings } = node;
  return { ...resolveRef(target, root), ...siblings };
}

/**
 * A closed object with declared keys is a group we descend into; anything else is a leaf.
 * A closed object that carries its own `default` (resources, say) is a leaf: users set it as
 * one value and templates render it whole.
 */
export function isGroup(node: SchemaNode): boolean {
  return node.type === 'object' && node.additionalProperties === false && !!node.properties && node.default === undefined;
}

/** Every key of the values schema, depth first, in the order the schema declares them. */
export function walkValues(root: SchemaNode): ValueKey[] {
  const keys: ValueKey[] = [];
  const visit = (node: SchemaNode, path: string[], inDeprecated: boolean) => {
    for (const [name, child] of Object.entries(node.properties ?? {})) {
      const childPath = [...path, name];
      let resolved: SchemaNode;
      try {
        resolved = resolveRef(child, root);
      } catch (err) {
        throw new SchemaError(`${childPath.join('.')}: ${(err as Error).message}`);
      }
      const kind = isGroup(resolved) ? 'group' : 'leaf';
      const deprecated = inDeprecated || resolved.deprecated === true;
      keys.push({ path: childPath, dotted: childPath.join('.'), node: resolved, kind, depth: path.length, deprecated });
      if (kind === 'group') visit(resolved, childPath, deprecated);
    }
  };
  visit(root, [], false);
  return keys;
}

/** The defaults of a group, assembled from its leaves; deprecated keys and groups have none. */
export function defaultsOf(node: SchemaNode, root: SchemaNode): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, child] of Object.entries(node.properties ?? {})) {
    const resolved = resolveRef(child, root);
    if (resolved.deprecated) continue;
    if (isGroup(resolved)) out[name] = defaultsOf(resolved, root);
    else if (resolved.default !== undefined) out[name] = resolved.default;
  }
  return out;
}

/** A short human description of a node's type, for docs: `integer`, `map of string`, `array of object`. */
export function describeType(node: SchemaNode, root: SchemaNode): string {
  const resolved = resolveRef(node, root);
  if (resolved.enum) return `${resolved.type ?? 'value'} (one of ${resolved.enum.map((v) => JSON.stringify(v)).join(', ')})`;
  const alternatives = resolved.anyOf ?? resolved.oneOf;
  if (alternatives) return [...new Set(alternatives.map((alt) => describeType(alt, root)))].join(' or ');
  if (resolved.type === 'array') return resolved.items ? `array of ${describeType(resolved.items, root)}` : 'array';
  if (resolved.type === 'object' && !isGroup(resolved)) {
    const extra = resolved.additionalProperties;
    if (extra && typeof extra === 'object') return `map of ${describeType(extra, root)}`;
    return 'object';
  }
  return Array.isArray(resolved.type) ? resolved.type.join(' or ') : (resolved.type ?? 'any');
}
