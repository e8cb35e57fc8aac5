import { Ajv, type ValidateFunction } from 'ajv';
import type { SchemaNode } from './types.ts';

/**
 * An ajv instance for draft-07 in strict mode, so a misspelt keyword in our schema files
 * (`descripton`, `additionalProperty`) is an error rather than silently ignored. Our own
 * `x-` keywords are declared as annotations.
 */
export function createAjv(): Ajv {
  const ajv = new Ajv({ strict: true, allErrors: true, allowUnionTypes: true });
  for (const keyword of ['x-chart', 'x-publish', 'x-unread']) ajv.addKeyword({ keyword, schemaType: ['object', 'string'] });
  return ajv;
}

/** Compiles one node of the schema, with the root's definitions available to its `$ref`s. */
export function compileNode(ajv: Ajv, node: SchemaNode, root: SchemaNode): ValidateFunction {
  const { $schema: _, 'x-chart': __, 'x-publish': ___, ...rest } = node;
  return ajv.compile({ ...rest, definitions: root.definitions ?? {} });
}

/** ajv errors as `<path>: <message>` lines, with the path in dotted values notation. */
export function formatErrors(validate: ValidateFunction, base = ''): string[] {
  return (validate.errors ?? []).map((err) => {
    const where = (base + err.instancePath.replaceAll('/', '.')).replace(/^\./, '') || '(root)';
    const extra = 'additionalProperty' in err.params ? ` "${err.params.additionalProperty}"` : '';
    return `${where}: ${err.message}${extra}`;
  });
}
