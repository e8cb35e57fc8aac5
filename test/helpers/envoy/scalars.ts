/**
 * Leaf values in the proto3 JSON mapping Envoy parses configs with: scalar
 * fields, and the well-known types that have a non-object JSON form
 * (Duration, Timestamp, FieldMask, wrappers, Struct/Value/ListValue).
 */

/** Either the value normalized for PGV range checks, or why it is wrong. */
export type LeafResult = { ok: true; value: unknown } | { ok: false; message: string };

const ok = (value: unknown): LeafResult => ({ ok: true, value });
const fail = (message: string): LeafResult => ({ ok: false, message });

const INTEGER_RANGES: Record<string, readonly [bigint, bigint]> = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  sint32: [-(2n ** 31n), 2n ** 31n - 1n],
  sfixed32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  fixed32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  sint64: [-(2n ** 63n), 2n ** 63n - 1n],
  sfixed64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
  fixed64: [0n, 2n ** 64n - 1n],
};

/** Wrapper message -> the scalar it carries; PGV keys wrapper rules by that scalar too. */
export const WRAPPER_SCALARS: Record<string, string> = {
  'google.protobuf.DoubleValue': 'double',
  'google.protobuf.FloatValue': 'float',
  'google.protobuf.Int64Value': 'int64',
  'google.protobuf.UInt64Value': 'uint64',
  'google.protobuf.Int32Value': 'int32',
  'google.protobuf.UInt32Value': 'uint32',
  'google.protobuf.BoolValue': 'bool',
  'google.protobuf.StringValue': 'string',
  'google.protobuf.BytesValue': 'bytes',
};

/** Types whose JSON form is not an object of their fields; inside an Any they sit under "value". */
export const SPECIAL_JSON_TYPES = new Set([
  ...Object.keys(WRAPPER_SCALARS),
  'google.protobuf.Duration',
  'google.protobuf.Timestamp',
  'google.protobuf.FieldMask',
  'google.protobuf.Struct',
  'google.protobuf.Value',
  'google.protobuf.ListValue',
  'google.protobuf.Any',
]);

export function checkScalar(type: string, value: unknown): LeafResult {
  const range = INTEGER_RANGES[type];
  if (range) return checkInteger(type, range, value);
  switch (type) {
    case 'double':
    case 'float':
      return checkFloat(type, value);
    case 'bool':
      return typeof value === 'boolean' ? ok(value) : fail(`expected true or false (bool), got ${describe(value)}`);
    case 'string':
      return typeof value === 'string' ? ok(value) : fail(`expected a string, got ${describe(value)}`);
    case 'bytes':
      return checkBytes(value);
    default:
      return fail(`unsupported scalar type ${type}`);
  }
}

/**
 * The proto3 JSON mapping accepts integers as numbers or decimal strings for
 * every integer type (strings matter for 64-bit values beyond 2^53).
 */
function checkInteger(type: string, [min, max]: readonly [bigint, bigint], value: unknown): LeafResult {
  const expected = `expected an integer (${type})`;
  let parsed: bigint;
  if (typeof value === 'number' && Number.isInteger(value)) parsed = BigInt(value);
  else if (typeof value === 'string' && /^-?\d+$/.test(value)) parsed = BigInt(value);
  else return fail(`${expected}, got ${describe(value)}`);
  if (parsed < min || parsed > max) return fail(`${expected} between ${min} and ${max}, got ${parsed}`);
  return ok(parsed);
}

function checkFloat(type: string, value: unknown): LeafResult {
  if (typeof value === 'number') {
    const tooBig = type === 'float' && Math.abs(value) > 3.4028234663852886e38;
    return tooBig ? fail(`${value} is out of range for a float`) : ok(value);
  }
  if (value === 'NaN' || value === 'Infinity' || value === '-Infinity') return ok(Number(value));
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return ok(Number(value));
  return fail(`expected a number (${type}), got ${describe(value)}`);
}

function checkBytes(value: unknown): LeafResult {
  // Standard or URL-safe base64, padding optional, as the JSON mapping allows.
  const isBase64 =
    typeof value === 'string' && /^[A-Za-z0-9+/_-]*={0,2}$/.test(value) && value.replace(/=+$/, '').length % 4 !== 1;
  return isBase64 ? ok(value) : fail(`expected base64-encoded bytes, got ${describe(value)}`);
}

/**
 * Envoy's YAML/JSON form of a Duration: seconds with an "s" suffix and up to
 * nine fractional digits ("0s", "1.5s", "0.250s"). Go-style "250ms" and bare
 * numbers are rejected. Normalized to seconds for PGV range rules.
 */
export function checkDuration(value: unknown): LeafResult {
  const example = 'expected a duration string in seconds like "5s", "1.5s" or "0.250s"';
  if (typeof value !== 'string') return fail(`${example}, got ${describe(value)}`);
  if (!/^-?\d+(\.\d{1,9})?s$/.test(value)) return fail(`${example}, got "${value}"`);
  const seconds = Number(value.slice(0, -1));
  if (Math.abs(seconds) > 315_576_000_000) return fail(`duration "${value}" is out of range (at most 10000 years)`);
  return ok(seconds);
}

export function checkTimestamp(value: unknown): LeafResult {
  const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
  const valid = typeof value === 'string' && rfc3339.test(value) && !Number.isNaN(Date.parse(value));
  return valid ? ok(value) : fail(`expected an RFC 3339 timestamp like "1972-01-01T10:00:20.021Z", got ${describe(value)}`);
}

export function checkFieldMask(value: unknown): LeafResult {
  return typeof value === 'string' ? ok(value) : fail(`expected a comma-separated field mask string, got ${describe(value)}`);
}

/** Struct needs an object, ListValue an array, Value anything JSON can hold. */
export function checkStructLike(typeName: string, value: unknown): LeafResult {
  if (typeName === 'google.protobuf.Struct' && !isPlainObject(value))
    return fail(`expected an object (google.protobuf.Struct), got ${describe(value)}`);
  if (typeName === 'google.protobuf.ListValue' && !Array.isArray(value))
    return fail(`expected a list (google.protobuf.ListValue), got ${describe(value)}`);
  return ok(value);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Short description of a wrong value for messages: `string "eight"`, `number 5`, `a list`. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return `string ${JSON.stringify(value)}`;
  return `${typeof value} ${String(value)}`;
}
