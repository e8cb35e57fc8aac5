import { isGroup, resolveRef } from '../schema/walk.ts';
import type { SchemaNode } from '../schema/types.ts';

/**
 * Helm deletes a key set to `null` before it validates, so without `required` a values file
 * with `image:` (empty, hence null) removes the default and renders a container with no image.
 * The published schema therefore requires every key the templates cannot do without: groups,
 * scalars, closed objects and non-empty lists. Free-form maps and lists stay optional, since
 * `null` is Helm's way to drop a default such as a security context; deprecated keys too.
 */
export function withRequiredKeys(node: SchemaNode, root: SchemaNode): SchemaNode {
  const resolved = resolveRef(node, root);
  if (node.$ref || !isGroup(resolved)) return node;
  const properties: Record<string, SchemaNode> = {};
  const required = new Set(node.required ?? []);
  for (const [name, child] of Object.entries(node.properties ?? {})) {
    properties[name] = withRequiredKeys(child, root);
    if (mustBePresent(resolveRef(child, root))) required.add(name);
  }
  return { ...node, properties, ...(required.size ? { required: [...required] } : {}) };
}

function mustBePresent(node: SchemaNode): boolean {
  if (node.deprecated) return false;
  if (isGroup(node)) return true;
  if (node.default === undefined) return false;
  if (node.type === 'array') return (node.minItems ?? 0) > 0;
  if (node.type === 'object') return node.additionalProperties === false;
  return true;
}
