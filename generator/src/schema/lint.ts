import { createAjv, compileNode, formatErrors } from './validator.ts';
import { isGroup, resolveRef, walkValues } from './walk.ts';
import type { SchemaNode } from './types.ts';

/**
 * Authoring rules for the values schema. Each problem names the key (dotted) or the schema
 * location, so the author knows where to look.
 */
export function lintSchema(root: SchemaNode): string[] {
  const problems: string[] = [];
  problems.push(...checkKeywords(root));
  problems.push(...checkObjectsDeclareClosure(root, '(root)'));
  for (const [name, def] of Object.entries(root.definitions ?? {})) {
    problems.push(...checkObjectsDeclareClosure(def, `definitions.${name}`));
  }
  problems.push(...checkGlobal(root));

  const ajv = createAjv();
  for (const key of walkValues(root)) {
    const { node, dotted } = key;
    if (!node.description?.trim()) problems.push(`${dotted}: has no description`);
    if (node.deprecated && !/^Deprecated\b/.test(node.description ?? '')) {
      problems.push(`${dotted}: is deprecated, so its description must start with "Deprecated" and say what to use instead`);
    }
    if (key.deprecated) {
      // Deprecated keys (and keys of deprecated groups) are accepted but never written to values.yaml.
      if (node.default !== undefined) problems.push(`${dotted}: is deprecated, so it must have no default (it would appear in values.yaml)`);
      continue;
    }
    if (key.kind === 'group') {
      if (node.examples) problems.push(`${dotted}: examples belong on its keys, not on the group`);
      continue;
    }
    if (node.default === undefined) problems.push(`${dotted}: has no default`);
    problems.push(...checkAgainstNode(ajv, root, node, dotted));
  }
  return problems;
}

/** Compiling every node in strict mode catches misspelt keywords; then defaults and examples must validate. */
function checkAgainstNode(ajv: ReturnType<typeof createAjv>, root: SchemaNode, node: SchemaNode, dotted: string): string[] {
  let validate;
  try {
    validate = compileNode(ajv, node, root);
  } catch (err) {
    return [`${dotted}: invalid schema: ${(err as Error).message}`];
  }
  const problems: string[] = [];
  if (node.default !== undefined && !validate(node.default)) {
    problems.push(...formatErrors(validate, dotted).map((msg) => `default does not validate: ${msg}`));
  }
  (node.examples ?? []).forEach((example, i) => {
    if (!validate(example)) problems.push(...formatErrors(validate, dotted).map((msg) => `examples[${i}] does not validate: ${msg}`));
  });
  if (node.examples !== undefined && !Array.isArray(node.examples)) problems.push(`${dotted}: examples must be a list of examples`);
  return problems;
}

/** The whole document compiles in strict mode (unknown keywords, bad patterns). */
function checkKeywords(root: SchemaNode): string[] {
  try {
    createAjv().compile({ ...root, $schema: undefined });
    return [];
  } catch (err) {
    return [`schema does not compile: ${(err as Error).message}`];
  }
}

/**
 * Every object says whether it is closed (`additionalProperties: false`) or a free-form map
 * (`additionalProperties: true` or a schema for the values). Nothing is open by accident, so a
 * typo in a values file fails `helm install` with the key's name.
 */
function checkObjectsDeclareClosure(node: SchemaNode, where: string): string[] {
  const problems: string[] = [];
  const isObject = node.type === 'object' || (node.properties !== undefined && node.type === undefined);
  if (isObject && !node.$ref && node.additionalProperties === undefined) {
    problems.push(`${where}: object does not declare additionalProperties (false to close it, true or a schema for a free-form map)`);
  }
  if (node.type === 'array' && !node.items && !node.$ref) problems.push(`${where}: array has no items schema`);
  for (const [name, child] of Object.entries(node.properties ?? {})) {
    problems.push(...checkObjectsDeclareClosure(child, where === '(root)' ? name : `${where}.${name}`));
  }
  if (node.items) problems.push(...checkObjectsDeclareClosure(node.items, `${where}[]`));
  if (node.additionalProperties && typeof node.additionalProperties === 'object') {
    problems.push(...checkObjectsDeclareClosure(node.additionalProperties, `${where}.*`));
  }
  for (const alt of [...(node.anyOf ?? []), ...(node.oneOf ?? []), ...(node.allOf ?? [])]) {
    problems.push(...checkObjectsDeclareClosure(alt, where));
  }
  return problems;
}

/**
 * The root declares draft-07, is closed, and declares `global` open: Helm injects `global` into
 * a subchart's values, so without it the chart fails validation as a dependency.
 */
function checkGlobal(root: SchemaNode): string[] {
  if (root.$schema !== 'http://json-schema.org/draft-07/schema#') {
    return ['(root): $schema must be http://json-schema.org/draft-07/schema# (the draft both Helm 3 and Helm 4 validate)'];
  }
  if (root.additionalProperties !== false) return ['(root): the root object must be closed (additionalProperties: false)'];
  const global = root.properties?.global && resolveRef(root.properties.global, root);
  if (!global || global.additionalProperties !== true || isGroup(global)) {
    return ['global: must be declared as an open object, or the chart fails validation when used as a subchart'];
  }
  return [];
}
