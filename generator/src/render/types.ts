import { compile } from 'json-schema-to-typescript';
import { resolveRef } from '../schema/walk.ts';
import type { SchemaNode } from '../schema/types.ts';
import { publishedSchema } from './values-schema.ts';
import { typescriptHeader } from './headers.ts';

/**
 * TypeScript types for the values, used by the generator, the webhook and the dispatcher.
 * References are inlined first, so every key is typed where it sits (`Values['triton']['resources']`)
 * with its own description, rather than as numbered copies of shared definitions.
 * `strictIndexSignatures` makes free-form map lookups `T | undefined`; closed objects get no
 * index signature, so a misspelt key in code is a compile error too.
 */
export async function renderTypes(root: SchemaNode): Promise<string> {
  const { $comment: _, definitions: __, title: ___, ...schema } = inlineRefs(publishedSchema(root), root) as SchemaNode;
  const body = await compile(schema as Parameters<typeof compile>[0], 'Values', {
    bannerComment: '',
    additionalProperties: false,
    strictIndexSignatures: true,
    format: true,
    style: { printWidth: 110, singleQuote: true },
  });
  return typescriptHeader + body;
}

function inlineRefs(node: unknown, root: SchemaNode): unknown {
  if (Array.isArray(node)) return node.map((item) => inlineRefs(item, root));
  if (!node || typeof node !== 'object') return node;
  const resolved = resolveRef(node as SchemaNode, root);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(resolved)) {
    out[key] = key === 'default' || key === 'examples' || key === 'enum' ? value : inlineRefs(value, root);
  }
  return out;
}
