import type { SchemaNode } from '../schema/types.ts';
import { jsonComment } from './headers.ts';
import { withRequiredKeys } from './required-keys.ts';

/**
 * The schema Helm validates every install against: draft-07, self-contained, with the keys
 * templates need marked required, and without our own `x-` keywords (Helm would ignore them,
 * but they are noise to users reading the file).
 */
export function publishedSchema(root: SchemaNode): SchemaNode {
  const { $schema, ...rest } = withoutKeywords(withRequiredKeys(root, root), (keyword) => keyword.startsWith('x-')) as SchemaNode;
  return { $schema, $comment: jsonComment, ...rest };
}

export function renderValuesSchema(root: SchemaNode): string {
  return JSON.stringify(publishedSchema(root), null, 2) + '\n';
}

/** Keywords whose value is data (kept verbatim), and those whose value maps names to schemas. */
const DATA_KEYWORDS = new Set(['default', 'examples', 'enum', 'const']);
const NAME_MAP_KEYWORDS = new Set(['properties', 'definitions']);

/**
 * A copy of a schema without the keywords `drop` names, wherever they are keywords: not inside
 * data (defaults, examples, enums) and not where they are property names (a value key called
 * `required` stays).
 */
function withoutKeywords(value: unknown, drop: (keyword: string, child: unknown) => boolean, role: 'schema' | 'nameMap' = 'schema'): unknown {
  if (Array.isArray(value)) return value.map((item) => withoutKeywords(item, drop));
  if (!value || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    if (role === 'nameMap') out[key] = withoutKeywords(child, drop);
    else if (drop(key, child)) continue;
    else if (DATA_KEYWORDS.has(key)) out[key] = child;
    else out[key] = withoutKeywords(child, drop, NAME_MAP_KEYWORDS.has(key) ? 'nameMap' : 'schema');
  }
  return out;
}

/**
 * The published schema for editors: without any `required`. Helm validates the values merged
 * over the defaults, where `required` only stops a `key: null` from removing what templates
 * need; an editor sees an override file alone, where every `required` key it leaves out would
 * be a "missing property" warning burying the real error. Everything else (closed objects,
 * types, enums, patterns) stays, so a typo is still flagged.
 */
export function editorSchema(published: Record<string, unknown>): Record<string, unknown> {
  return withoutKeywords(published, (keyword, child) => keyword === 'required' && Array.isArray(child)) as Record<string, unknown>;
}
