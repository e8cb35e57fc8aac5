/**
 * Checks a values file against the chart's schema and says where each problem is
 * (`file:line:column: key: message`), with what to write instead: the nearest known key for a
 * misspelt one, the allowed values of an enum, the expected form of a quantity, and for a
 * legacy 0.3 key what replaced it.
 *
 * The one module `supersonic validate` (generator/src/validate-cli.ts), the servers (their
 * section of the values, at start) and the values editor page share. Browser-safe: no Node
 * import; every function takes the schema and the text, and returns problems.
 *
 * Helm validates the values merged over the chart's defaults (a `key: null` removes the
 * default), so `defaults` are merged in first, as Helm does: a `required` key is missing only
 * when the file removes it.
 */
import { closestName } from './closest-name.ts';
import { quantitySpelling } from './quantity.ts';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';

export interface Problem {
  /** 1-based, in the values text. */
  line: number;
  column: number;
  /** Dotted values path (with the prefix), e.g. `triton.resources.limits.memory`; '' for the whole file. */
  key: string;
  message: string;
  /** `warning`: accepted by Helm, but worth a change (a deprecated key). */
  severity: 'error' | 'warning';
}

export interface ValidateOptions {
  /** The values section this text holds, e.g. ['webhook'] for the webhook's config: validated against that subschema, named with that prefix. */
  section?: string[];
  /** The chart's defaults for that section (values.yaml parsed), merged under the text as Helm merges them. */
  defaults?: unknown;
}

export interface ValidateResult {
  /** The text is not YAML (or not a map): nothing else was checked. */
  parseError?: Problem;
  problems: Problem[];
  /** The values as Helm would see them (defaults merged), for further checks; undefined on a parse error. */
  merged?: unknown;
}

type Schema = Record<string, any>;

/** Validates YAML `text` against the chart's JSON schema `schema` (values.schema.json, parsed). */
export function validateValuesText(schema: Schema, text: string, options: ValidateOptions = {}): ValidateResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const first = doc.errors[0];
  if (first) {
    const [line, column] = position(lineCounter, first.pos[0]);
    return { parseError: { line, column, key: '', message: `invalid YAML: ${first.message.split('\n')[0]}`, severity: 'error' }, problems: [] };
  }
  const values = doc.toJS() ?? {};
  const prefix = options.section ?? [];
  if (!isPlainObject(values)) {
    return { parseError: { line: 1, column: 1, key: prefix.join('.'), message: `a values file holds a map of keys, not ${describe(values)}`, severity: 'error' }, problems: [] };
  }
  const merged = options.defaults === undefined ? withoutNulls(values) : mergeValues(options.defaults, values);
  return { problems: validateValues(schema, merged, { doc, lineCounter, prefix }), merged };
}

/** Where the problems point: the parsed text, and the section it holds. */
export interface Source {
  doc: Document;
  lineCounter: LineCounter;
  prefix: string[];
}

/** Problems of `values` (already merged) against `schema`, or against the subschema of `source.prefix`. */
export function validateValues(schema: Schema, values: unknown, source: Source): Problem[] {
  const sub = subschema(schema, source.prefix);
  const validate = compile(schema, sub);
  const problems: Problem[] = [];
  if (!validate(values)) problems.push(...explain(validate.errors ?? [], schema, source));
  problems.push(...deprecations(schema, sub, values, source));
  const seen = new Set<string>();
  return problems
    .filter((p) => {
      const id = `${p.line}:${p.column}:${p.key}:${p.message}`;
      return seen.has(id) ? false : (seen.add(id), true);
    })
    .sort((a, b) => a.line - b.line || a.column - b.column);
}

/** `file:line:column: key: message`, as compilers print, so editors and terminals link it. */
export function formatProblem(file: string, problem: Problem): string {
  const where = `${file}:${problem.line}:${problem.column}`;
  const tag = problem.severity === 'warning' ? 'warning: ' : '';
  return problem.key ? `${where}: ${tag}${problem.key}: ${problem.message}` : `${where}: ${tag}${problem.message}`;
}

/** Values merged the way Helm merges a values file over the defaults: maps merge, `null` removes, everything else replaces. */
export function mergeValues(base: unknown, override: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(override)) return override === undefined ? base : withoutNulls(override);
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) {
    if (value === null) delete out[key];
    else out[key] = mergeValues(base[key], value);
  }
  return out;
}

function withoutNulls(value: unknown): unknown {
  if (!isPlainObject(value)) return value;
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null).map(([k, v]) => [k, withoutNulls(v)]));
}

// ---- ajv errors, explained ------------------------------------------------------------------

const compiled = new WeakMap<object, Map<string, ValidateFunction>>();

function compile(root: Schema, sub: Schema): ValidateFunction {
  let bySub = compiled.get(root);
  if (!bySub) compiled.set(root, (bySub = new Map()));
  const id = JSON.stringify(sub === root ? '' : sub);
  let validate = bySub.get(id);
  if (!validate) {
    const ajv = new Ajv({ strict: false, allErrors: true, verbose: true, allowUnionTypes: true });
    const { $schema: _, $id: __, ...rest } = sub;
    validate = ajv.compile({ ...rest, definitions: root.definitions ?? {} });
    bySub.set(id, validate);
  }
  return validate;
}

function subschema(root: Schema, section: string[]): Schema {
  let node: Schema | undefined = root;
  for (const key of section) {
    node = resolve(root, node)?.properties?.[key];
    if (!node) throw new Error(`the schema has no section ${section.join('.')}`);
  }
  return node!;
}

function resolve(root: Schema, node: Schema | undefined): Schema | undefined {
  let current = node;
  for (let i = 0; current?.$ref && i < 10; i++) {
    const name = String(current.$ref).match(/^#\/definitions\/(.+)$/)?.[1];
    current = name ? root.definitions?.[name] : undefined;
  }
  return current;
}

function explain(errors: ErrorObject[], root: Schema, source: Source): Problem[] {
  // An anyOf (a quantity: number or string) fails with one error per branch, then its own:
  // the branch errors say nothing the anyOf's message does not, so they go.
  const anyOfPaths = errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf').map((e) => ({ schemaPath: e.schemaPath, instancePath: e.instancePath }));
  const kept = errors.filter(
    (e) => e.keyword === 'anyOf' || e.keyword === 'oneOf' || !anyOfPaths.some((a) => a.instancePath === e.instancePath && e.schemaPath.startsWith(`${a.schemaPath}/`)),
  );
  // A key refused by propertyNames is reported twice; the inner error names it.
  return kept.filter((e) => e.keyword !== 'propertyNames').map((e) => explainOne(e, root, source));
}

function explainOne(err: ErrorObject, root: Schema, source: Source): Problem {
  const path = pointerToPath(err.instancePath);
  const parent = (err.parentSchema ?? {}) as Schema;
  const params = err.params as Record<string, any>;
  const at = (segments: (string | number)[], part: 'key' | 'value' = 'value') => locate(source, segments, part);
  const name = (segments: (string | number)[]) => [...source.prefix, ...segments].join('.');

  // A key refused by a map's propertyNames (a closed set of keys, as in namespaceDefaults): the
  // error is about the key, not the map.
  const propertyName = (err as { propertyName?: string }).propertyName;
  if (propertyName !== undefined) {
    const allowed = err.keyword === 'enum' ? (params.allowedValues as unknown[]).map(String) : [];
    const closest = closestName(propertyName, allowed);
    const message = closest ? `unknown key (did you mean ${name([...path, closest])}?)` : allowed.length ? `unknown key (known keys here: ${allowed.join(', ')})` : `this key ${err.message}`;
    return problem(at([...path, propertyName], 'key'), name([...path, propertyName]), message);
  }

  switch (err.keyword) {
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      const known = Object.keys(resolve(root, parent)?.properties ?? {});
      const closest = closestName(key, known);
      const hint = closest ? `did you mean ${name([...path, closest])}?` : known.length ? `known keys here: ${known.join(', ')}` : 'this map takes no keys';
      return problem(at([...path, key], 'key'), name([...path, key]), `unknown key (${hint})`);
    }
    case 'required': {
      const key = String(params.missingProperty);
      const where = locateExisting(source, [...path, key], 'key');
      const removed = where.exact ? 'set to null, which removes the chart\'s default' : 'missing';
      return problem(where, name([...path, key]), `is required, but ${removed}: the chart's templates need it (delete the line to keep the default)`);
    }
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).map((v) => JSON.stringify(v));
      const closest = typeof err.data === 'string' ? closestName(err.data, (params.allowedValues as unknown[]).map(String)) : undefined;
      return problem(at(path), name(path), `${JSON.stringify(err.data)} is not allowed: use one of ${allowed.join(', ')}${closest ? ` (did you mean ${closest}?)` : ''}`);
    }
    case 'const':
      return problem(at(path), name(path), `must be ${JSON.stringify(params.allowedValue)}, not ${JSON.stringify(err.data)}`);
    case 'type':
      return problem(at(path), name(path), `expected ${String(params.type).replaceAll(',', ' or ')}, got ${describe(err.data)}`);
    case 'anyOf':
    case 'oneOf': {
      if (isQuantitySchema(parent, root)) {
        const hint = typeof err.data === 'string' ? quantitySpelling(err.data, true) : undefined;
        return problem(at(path), name(path), `${JSON.stringify(err.data)} is not a Kubernetes quantity: ${hint ? `write ${hint}` : 'write a number, or a number with a suffix (m, k, M, G, T, or Ki, Mi, Gi, Ti), e.g. 500m, 2G, 16Gi'}`);
      }
      return problem(at(path), name(path), `${describe(err.data)} matches none of the allowed forms${parent.description ? ` (${firstSentence(parent.description)})` : ''}`);
    }
    case 'pattern': {
      const hint = parent.description ? `: ${firstSentence(parent.description)}` : '';
      return problem(at(path), name(path), `${JSON.stringify(err.data)} does not have the expected form (${params.pattern})${hint}`);
    }
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
    case 'minLength':
    case 'maxLength':
    case 'minItems':
    case 'maxItems':
    case 'format':
      return problem(at(path), name(path), `${err.message}, got ${describe(err.data)}`);
    default:
      return problem(at(path), name(path), err.message ?? err.keyword);
  }
}

function isQuantitySchema(node: Schema, root: Schema): boolean {
  const quantity = root.definitions?.quantity;
  return !!quantity && (node === quantity || JSON.stringify(node.anyOf) === JSON.stringify(quantity.anyOf));
}

function problem(where: { line: number; column: number }, key: string, message: string, severity: Problem['severity'] = 'error'): Problem {
  return { line: where.line, column: where.column, key, message, severity };
}

// ---- deprecated keys --------------------------------------------------------------------------

/** Keys of `values` whose schema says `deprecated: true`, with what the description says replaced them. */
function deprecations(root: Schema, node: Schema, values: unknown, source: Source, path: (string | number)[] = []): Problem[] {
  const schema = resolve(root, node);
  if (!schema || !isPlainObject(values)) return [];
  const out: Problem[] = [];
  for (const [key, value] of Object.entries(values)) {
    const child = schema.properties?.[key];
    if (!child) continue;
    const resolved = resolve(root, child) ?? {};
    if (child.deprecated || resolved.deprecated) {
      const description = String(child.description ?? resolved.description ?? 'deprecated');
      const where = locateExisting(source, [...path, key], 'key');
      if (where.exact) out.push(problem(where, [...source.prefix, ...path, key].join('.'), `legacy key from SuperSONIC 0.3: ${description.replace(/\s+/g, ' ').trim()} Remove it.`, 'warning'));
    }
    out.push(...deprecations(root, child, value, source, [...path, key]));
  }
  return out;
}

// ---- positions --------------------------------------------------------------------------------

function position(lineCounter: LineCounter, offset: number): [number, number] {
  const { line, col } = lineCounter.linePos(offset);
  return [line, col];
}

/** The deepest node of `segments` that the text has, and whether it is the node itself. */
function locateExisting(source: Source, segments: (string | number)[], part: 'key' | 'value'): { line: number; column: number; exact: boolean } {
  let node: unknown = source.doc.contents;
  let found: { offset: number } | undefined = node && (node as Node).range ? { offset: (node as Node).range![0] } : undefined;
  let depth = 0;
  for (const segment of segments) {
    if (isMap(node)) {
      const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(segment));
      if (!pair) break;
      const keyNode = pair.key as Node;
      const valueNode = pair.value as Node | null;
      const last = depth === segments.length - 1;
      found = { offset: (last && part === 'value' && valueNode?.range ? valueNode.range : keyNode.range!)[0] };
      node = valueNode;
    } else if (isSeq(node)) {
      const item = node.items[Number(segment)] as Node | undefined;
      if (!item?.range) break;
      found = { offset: item.range[0] };
      node = item;
    } else break;
    depth++;
  }
  const [line, column] = found ? position(source.lineCounter, found.offset) : [1, 1];
  return { line, column, exact: depth === segments.length };
}

function locate(source: Source, segments: (string | number)[], part: 'key' | 'value'): { line: number; column: number } {
  return locateExisting(source, segments, part);
}

/** The position of a dotted key (with the section prefix) in the text, or of its deepest ancestor there; for checks run elsewhere (helm template). */
export function locateKey(source: Source, key: string): { line: number; column: number; exact: boolean } {
  const segments = key.split('.');
  const prefix = source.prefix;
  if (prefix.some((p, i) => segments[i] !== p)) return { line: 1, column: 1, exact: false };
  return locateExisting(source, segments.slice(prefix.length), 'key');
}

function pointerToPath(pointer: string): string[] {
  return pointer === '' ? [] : pointer.slice(1).split('/').map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function isPlainObject(value: unknown): value is Record<string, any> {
  return !!value && typeof value === 'object' && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  return `${typeof value} ${JSON.stringify(value)}`;
}

function firstSentence(text: string): string {
  const flat = String(text).replace(/\s+/g, ' ').trim();
  return flat.match(/^.*?[.!?](?=\s|$)/)?.[0] ?? flat;
}
