/**
 * The protoc-gen-validate (PGV) rules Envoy enforces after parsing a config,
 * for the easy cases: required messages, string lengths, repeated/map sizes,
 * numeric and duration ranges, enum defined_only.
 * Not checked: patterns, well_known_regex, in/not_in lists (except string.in),
 * const, and rules on map keys/values and on repeated message items.
 *
 * Rules come from protobufjs' `parsedOptions`, not the flat `options` map:
 * the flat map drops options whose value is an empty message, e.g.
 * `[(validate.rules).duration = {gt {}}]` on Cluster.connect_timeout.
 */
import protobuf from 'protobufjs';

/** A PGV FieldRules message as protobufjs parses it: {string: {min_len: 1}}, {duration: {gt: {}}}, ... */
export type Rules = Record<string, any>;

type Report = (message: string) => void;

export function fieldRules(field: protobuf.FieldBase): Rules | undefined {
  const entries = parsedOptions(field).flatMap((option) => (option['(validate.rules)'] ? [option['(validate.rules)']] : []));
  return entries.length > 0 ? deepMerge(entries) : undefined;
}

/** `option (validate.required) = true;` inside a oneof: exactly one member must be set. */
export function isOneofRequired(oneof: protobuf.OneOf): boolean {
  return parsedOptions(oneof).some((option) => option['(validate.required)'] === true);
}

export function isRequired(rules: Rules | undefined): boolean {
  return Boolean(rules?.message?.required || rules?.any?.required || rules?.duration?.required);
}

/** `(validate.rules).enum.defined_only`: integers must name a value of the enum. */
export function requiresDefinedEnum(rules: Rules | undefined): boolean {
  return Boolean(rules?.enum?.defined_only);
}

/**
 * Rules on a single value. `kind` is the scalar type name (PGV keys rules by
 * it: uint32 rules also cover UInt32Value) or "duration"; `value` is already
 * type-checked: number|bigint for numbers, seconds for durations.
 */
export function checkValueRules(kind: string, rules: Rules | undefined, value: unknown, report: Report): void {
  const typed = rules?.[kind];
  if (!typed) return;
  if (typeof value === 'string') checkStringRules(typed, value, report);
  else if (kind === 'duration' && typeof value === 'number') checkRange(typed, value, report, durationSeconds, formatSeconds);
  else if (typeof value === 'number' || typeof value === 'bigint') checkRange(typed, Number(value), report, Number, String);
}

export function checkCountRules(kind: 'repeated' | 'map', rules: Rules | undefined, count: number, report: Report): void {
  const typed = rules?.[kind];
  if (!typed) return;
  const [min, max, noun] =
    kind === 'repeated' ? [typed.min_items, typed.max_items, 'item'] : [typed.min_pairs, typed.max_pairs, 'entry'];
  if (min !== undefined && count < Number(min)) report(`needs at least ${min} ${plural(noun, Number(min))}, has ${count}`);
  if (max !== undefined && count > Number(max)) report(`allows at most ${max} ${plural(noun, Number(max))}, has ${count}`);
}

/** Rules that apply to each element of a repeated field. */
export function itemRules(rules: Rules | undefined): Rules | undefined {
  return rules?.repeated?.items;
}

/** At run time parsedOptions is a list of single-key objects; index.d.ts types it as one object. */
function parsedOptions(object: protobuf.ReflectionObject): Array<Record<string, any>> {
  return (object.parsedOptions ?? []) as unknown as Array<Record<string, any>>;
}

function checkStringRules(rules: Rules, value: string, report: Report): void {
  if (rules.ignore_empty && value === '') return;
  const length = [...value].length; // PGV counts code points, not UTF-16 units
  if (rules.min_len !== undefined && length < Number(rules.min_len)) {
    report(
      value === ''
        ? `must not be empty (min_len ${rules.min_len})`
        : `must be at least ${rules.min_len} characters long, is ${length}`,
    );
  }
  if (rules.max_len !== undefined && length > Number(rules.max_len))
    report(`must be at most ${rules.max_len} characters long, is ${length}`);
  if (Array.isArray(rules.in) && !rules.in.includes(value)) report(`must be one of ${rules.in.join(', ')}`);
}

const COMPARISONS = [
  ['gt', (a: number, b: number) => a > b, 'greater than'],
  ['gte', (a: number, b: number) => a >= b, 'at least'],
  ['lt', (a: number, b: number) => a < b, 'less than'],
  ['lte', (a: number, b: number) => a <= b, 'at most'],
] as const;

function checkRange(
  rules: Rules,
  value: number,
  report: Report,
  toNumber: (bound: any) => number,
  format: (bound: number) => string,
): void {
  for (const [key, holds, words] of COMPARISONS) {
    if (rules[key] === undefined) continue;
    const bound = toNumber(rules[key]);
    if (!holds(value, bound)) report(`must be ${words} ${format(bound)}, is ${format(value)}`);
  }
}

/** A Duration bound as protobufjs parses it: {} (zero), {seconds: 1}, {nanos: 1000000}. */
function durationSeconds(bound: { seconds?: number | string; nanos?: number } | undefined): number {
  return Number(bound?.seconds ?? 0) + Number(bound?.nanos ?? 0) / 1e9;
}

function formatSeconds(seconds: number): string {
  return `${seconds}s`;
}

function plural(noun: string, count: number): string {
  if (count === 1) return noun;
  return noun.endsWith('y') ? `${noun.slice(0, -1)}ies` : `${noun}s`;
}

function deepMerge(objects: Rules[]): Rules {
  const merged: Rules = {};
  for (const object of objects) {
    for (const [key, value] of Object.entries(object)) {
      const isNested = typeof value === 'object' && value !== null && !Array.isArray(value);
      merged[key] = isNested && typeof merged[key] === 'object' ? deepMerge([merged[key], value]) : value;
    }
  }
  return merged;
}
