/**
 * Structural validation of a parsed Envoy bootstrap config (the YAML a chart
 * renders, parsed to a JS object) against envoy.config.bootstrap.v3.Bootstrap
 * from Envoy's real protos: what Envoy's own proto3 JSON parsing plus
 * protoc-gen-validate would reject, without needing an envoy binary.
 *
 * Checked: unknown fields (snake_case or lowerCamelCase, as Envoy accepts),
 * enum names, scalar types, Duration/Timestamp/wrapper/Struct JSON forms,
 * Any (@type must resolve; the payload is validated as that message, and so
 * is a TypedStruct's value), oneofs (at most one member; exactly one where
 * PGV requires it), maps, repeated fields, and the simple PGV rules in
 * pgv-rules.ts.
 */
import protobuf from 'protobufjs';
import { childPath, fieldsByJsonName, fieldTypeName, suggestTypeName, typeName, unknownFieldMessage } from './names.ts';
import { loadEnvoyProtos, UNAVAILABLE_OPTION } from './proto-registry.ts';
import {
  checkCountRules,
  checkValueRules,
  fieldRules,
  isOneofRequired,
  isRequired,
  itemRules,
  requiresDefinedEnum,
  type Rules,
} from './pgv-rules.ts';
import {
  checkDuration,
  checkFieldMask,
  checkScalar,
  checkStructLike,
  checkTimestamp,
  describe,
  isPlainObject,
  SPECIAL_JSON_TYPES,
  WRAPPER_SCALARS,
  type LeafResult,
} from './scalars.ts';

export interface EnvoyProblem {
  /** JSON-path-like location, e.g. $.static_resources.clusters[0].lb_policy */
  path: string;
  message: string;
}

export { loadEnvoyProtos } from './proto-registry.ts';

const BOOTSTRAP_TYPE = '.envoy.config.bootstrap.v3.Bootstrap';
const TYPE_URL_PREFIX = 'type.googleapis.com/';
const TYPED_STRUCTS = new Set(['xds.type.v3.TypedStruct', 'udpa.type.v1.TypedStruct']);

/** Returns [] when the config is valid. The protos are loaded on the first call (0.6-1.2 s) and cached. */
export async function validateEnvoyBootstrap(config: unknown): Promise<EnvoyProblem[]> {
  const { root } = loadEnvoyProtos();
  const walker = new ConfigWalker(root);
  walker.message(root.lookupType(BOOTSTRAP_TYPE), config, '$');
  return walker.problems;
}

class ConfigWalker {
  readonly problems: EnvoyProblem[] = [];

  private readonly root: protobuf.Root;

  constructor(root: protobuf.Root) {
    this.root = root;
  }

  /** Validates `value` as `type`; returns the normalized leaf for wrappers and durations (for PGV ranges). */
  message(type: protobuf.Type, value: unknown, path: string): unknown {
    const name = typeName(type);
    if (type.getOption(UNAVAILABLE_OPTION)) return this.report(path, notCheckable(name));
    if (SPECIAL_JSON_TYPES.has(name)) return this.specialJson(name, value, path);
    if (!isPlainObject(value)) return this.report(path, `expected an object (${name}), got ${describe(value)}`);
    this.messageBody(type, value, path, new Set());
    if (TYPED_STRUCTS.has(name)) this.typedStruct(value, path);
    return undefined;
  }

  private messageBody(type: protobuf.Type, object: Record<string, unknown>, path: string, skipKeys: Set<string>): void {
    const set = this.fields(type, object, path, skipKeys);
    this.oneofs(type, set, path);
    this.unsetFieldRules(type, set, path);
  }

  /** Checks every key of `object`; returns the fields that are set (JSON null counts as unset). */
  private fields(
    type: protobuf.Type,
    object: Record<string, unknown>,
    path: string,
    skipKeys: Set<string>,
  ): Map<protobuf.FieldBase, string> {
    const byName = fieldsByJsonName(type);
    const set = new Map<protobuf.FieldBase, string>();
    for (const [key, value] of Object.entries(object)) {
      if (skipKeys.has(key)) continue;
      const at = childPath(path, key);
      const field = byName.get(key);
      if (!field) {
        this.report(at, unknownFieldMessage(key, type));
      } else if (set.has(field)) {
        this.report(at, `field ${field.name} is set twice, as "${set.get(field)}" and as "${key}"`);
      } else if (value !== null || field.resolvedType?.fullName === '.google.protobuf.Value') {
        set.set(field, key);
        this.field(field, value, at);
      }
    }
    return set;
  }

  private field(field: protobuf.FieldBase, value: unknown, at: string): void {
    const rules = fieldRules(field);
    if (field instanceof protobuf.MapField) this.map(field, value, at, rules);
    else if (field.repeated) this.repeated(field, value, at, rules);
    else this.single(field, value, at, rules);
  }

  private map(field: protobuf.MapField, value: unknown, at: string, rules: Rules | undefined): void {
    if (!isPlainObject(value))
      return this.report(at, `expected an object (map<${field.keyType}, ${fieldTypeName(field)}>), got ${describe(value)}`);
    for (const [key, entry] of Object.entries(value)) {
      const keyCheck = field.keyType === 'string' ? undefined : checkMapKey(field.keyType, key);
      if (keyCheck && !keyCheck.ok) this.report(childPath(at, key), `invalid map key: ${keyCheck.message}`);
      if (entry !== null) this.single(field, entry, childPath(at, key), undefined);
    }
    checkCountRules('map', rules, Object.keys(value).length, (message) => this.report(at, message));
  }

  private repeated(field: protobuf.FieldBase, value: unknown, at: string, rules: Rules | undefined): void {
    if (!Array.isArray(value))
      return this.report(at, `expected a list (repeated ${fieldTypeName(field)}), got ${describe(value)}`);
    value.forEach((item, index) => this.single(field, item, `${at}[${index}]`, itemRules(rules)));
    checkCountRules('repeated', rules, value.length, (message) => this.report(at, message));
  }

  /** One value of the field's type: an element of a repeated field, a map value, or a singular field. */
  private single(field: protobuf.FieldBase, value: unknown, at: string, rules: Rules | undefined): void {
    const report = (message: string) => this.report(at, message);
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Enum) return this.enumValue(resolved, value, at, rules);
    if (resolved instanceof protobuf.Type) {
      const leaf = this.message(resolved, value, at);
      const kind = typeName(resolved) === 'google.protobuf.Duration' ? 'duration' : WRAPPER_SCALARS[typeName(resolved)];
      if (kind && leaf !== undefined) checkValueRules(kind, rules, leaf, report);
      return;
    }
    const result = checkScalar(field.type, value);
    if (result.ok) checkValueRules(field.type, rules, result.value, report);
    else report(result.message);
  }

  /** Enums are written as value names; integers are accepted too, as by the JSON parser. */
  private enumValue(type: protobuf.Enum, value: unknown, at: string, rules: Rules | undefined): void {
    const names = Object.keys(type.values);
    const expected = `enum ${typeName(type)}: expected one of ${names.join(', ')}`;
    if (typeof value === 'string') {
      if (!(value in type.values)) this.report(at, `unknown value "${value}" for ${expected}`);
    } else if (typeof value === 'number' && Number.isInteger(value)) {
      const defined = Object.values(type.values).includes(value);
      if (!defined && requiresDefinedEnum(rules)) this.report(at, `${value} is not a defined value of ${expected}`);
    } else {
      this.report(at, `expected a value name of ${expected}; got ${describe(value)}`);
    }
  }

  private oneofs(type: protobuf.Type, set: Map<protobuf.FieldBase, string>, path: string): void {
    for (const oneof of type.oneofsArray) {
      const members = oneof.fieldsArray.map((field) => field.name);
      const chosen = oneof.fieldsArray.filter((field) => set.has(field)).map((field) => field.name);
      if (chosen.length > 1) {
        this.report(
          path,
          `only one of [${members.join(', ')}] may be set (oneof ${oneof.name}), but ${chosen.join(' and ')} are set`,
        );
      } else if (chosen.length === 0 && isOneofRequired(oneof)) {
        this.report(path, `one of [${members.join(', ')}] is required (oneof ${oneof.name})`);
      }
    }
  }

  /**
   * PGV validates unset proto3 fields as their defaults: a required message,
   * a string with min_len, a list with min_items are errors when missing.
   * Oneof members (and proto3 `optional` fields) are only validated when set.
   */
  private unsetFieldRules(type: protobuf.Type, set: Map<protobuf.FieldBase, string>, path: string): void {
    for (const field of type.fieldsArray) {
      const rules = fieldRules(field);
      if (!rules || set.has(field) || field.partOf) continue;
      const at = childPath(path, field.name);
      const missing = `missing required field ${field.name} (${typeName(type)})`;
      const report = (message: string) => this.report(at, `${missing}: ${message}`);
      if (isRequired(rules)) this.report(at, missing);
      else if (field instanceof protobuf.MapField) checkCountRules('map', rules, 0, report);
      else if (field.repeated) checkCountRules('repeated', rules, 0, report);
      else if (!field.resolvedType) checkValueRules(field.type, rules, defaultScalar(field.type), report);
    }
  }

  /** Well-known types with their own JSON form; returns the normalized leaf for rule checks. */
  private specialJson(name: string, value: unknown, path: string): unknown {
    if (name === 'google.protobuf.Any') return this.any(value, path);
    const result = specialLeaf(name, value);
    if (!result.ok) return this.report(path, result.message);
    return result.value;
  }

  private any(value: unknown, path: string): undefined {
    if (!isPlainObject(value))
      return this.report(path, `expected an object with "@type" (google.protobuf.Any), got ${describe(value)}`);
    const typeUrl = value['@type'];
    if (typeof typeUrl !== 'string')
      return this.report(path, `google.protobuf.Any needs "@type": "${TYPE_URL_PREFIX}<full.message.Name>"`);
    const type = this.resolveTypeUrl(typeUrl, childPath(path, '@type'));
    if (!type) return undefined;
    if (!SPECIAL_JSON_TYPES.has(typeName(type))) {
      this.messageBody(type, value, path, new Set(['@type']));
      if (TYPED_STRUCTS.has(typeName(type))) this.typedStruct(value, path);
      return undefined;
    }
    // A packed well-known type keeps its JSON form under "value".
    for (const key of Object.keys(value)) {
      if (key !== '@type' && key !== 'value')
        this.report(childPath(path, key), `unknown field "${key}" in an Any holding ${typeName(type)}`);
    }
    this.message(type, value.value, childPath(path, 'value'));
    return undefined;
  }

  /** A TypedStruct carries an extension config as a Struct; Envoy converts it to `type_url`'s message. */
  private typedStruct(object: Record<string, unknown>, path: string): void {
    const typeUrl = object.type_url ?? object.typeUrl;
    if (typeof typeUrl !== 'string' || !isPlainObject(object.value)) return;
    const type = this.resolveTypeUrl(typeUrl, childPath(path, object.type_url === undefined ? 'typeUrl' : 'type_url'));
    if (type) this.message(type, object.value, childPath(path, 'value'));
  }

  private resolveTypeUrl(typeUrl: string, at: string): protobuf.Type | undefined {
    if (!typeUrl.startsWith(TYPE_URL_PREFIX)) {
      this.report(at, `type URL must look like "${TYPE_URL_PREFIX}<full.message.Name>", got "${typeUrl}"`);
      return undefined;
    }
    const name = typeUrl.slice(TYPE_URL_PREFIX.length);
    const type = this.root.lookup(`.${name}`, [protobuf.Type]);
    if (type instanceof protobuf.Type) return type;
    this.report(at, `unknown type "${name}": no such message in Envoy's v3 API${suggestTypeName(this.root, name)}`);
    return undefined;
  }

  /** Returns undefined so callers can `return this.report(...)`. */
  private report(path: string, message: string): undefined {
    this.problems.push({ path, message });
    return undefined;
  }
}

function specialLeaf(name: string, value: unknown): LeafResult {
  const wrapped = WRAPPER_SCALARS[name];
  if (wrapped) {
    const result = checkScalar(wrapped, value);
    return result.ok ? result : { ok: false, message: `${result.message} (${name} is written as the bare value)` };
  }
  if (name === 'google.protobuf.Duration') return checkDuration(value);
  if (name === 'google.protobuf.Timestamp') return checkTimestamp(value);
  if (name === 'google.protobuf.FieldMask') return checkFieldMask(value);
  return checkStructLike(name, value);
}

function checkMapKey(keyType: string, key: string): LeafResult {
  if (keyType === 'bool')
    return key === 'true' || key === 'false'
      ? { ok: true, value: key }
      : { ok: false, message: `expected "true" or "false", got "${key}"` };
  return checkScalar(keyType, key);
}

function defaultScalar(type: string): unknown {
  if (type === 'string' || type === 'bytes') return '';
  if (type === 'bool') return false;
  return 0;
}

function notCheckable(name: string): string {
  return `not checkable: ${name} comes from a proto that @grpc/grpc-js-xds does not vendor (opencensus, opentelemetry-proto or prometheus client_model)`;
}
