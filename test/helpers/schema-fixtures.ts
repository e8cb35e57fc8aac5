/** Small schemas for the generator's unit tests, written to a temporary folder when needed. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { SchemaNode } from '../../generator/src/schema/types.ts';

/** A minimal schema that passes every lint rule; tests break one thing at a time. */
export function validSchema(): SchemaNode {
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    type: 'object',
    additionalProperties: false,
    properties: {
      global: { type: 'object', additionalProperties: true, default: {}, description: 'Shared with subcharts.' },
      replicas: { type: 'integer', minimum: 0, default: 1, description: 'How many.', examples: [3] },
      app: {
        type: 'object',
        additionalProperties: false,
        description: 'The app.',
        properties: {
          image: { type: 'string', default: 'nginx:1', description: 'The image.' },
          labels: { $ref: '#/definitions/stringMap', default: {}, description: 'Labels.', examples: [{ a: 'b' }] },
          cpu: { $ref: '#/definitions/quantity', default: '500m', description: 'CPU.' },
        },
      },
    },
    definitions: {
      stringMap: { type: 'object', additionalProperties: { type: 'string' } },
      quantity: { anyOf: [{ type: 'number' }, { type: 'string', pattern: '^[0-9]+m?$' }] },
    },
  };
}

/** Writes YAML schema files into a fresh folder and returns its path. */
export function writeSchemaFiles(files: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'supersonic-schema-'));
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(join(dir, name), typeof content === 'string' ? content : stringify(content));
  }
  return dir;
}
