/**
 * Names, paths and "did you mean" hints for the Envoy config validator.
 */
import protobuf from 'protobufjs';

export function typeName(type: protobuf.ReflectionObject): string {
  return type.fullName.replace(/^\./, '');
}

/** The full name of a message or enum field type ("LocalityLbEndpoints" as written -> envoy.config.endpoint.v3.LocalityLbEndpoints). */
export function fieldTypeName(field: protobuf.FieldBase): string {
  return field.resolvedType ? typeName(field.resolvedType) : field.type;
}

const jsonNameIndex = new WeakMap<protobuf.Type, Map<string, protobuf.FieldBase>>();

/** Envoy's parser accepts a field's proto name and its lowerCamelCase JSON name. */
export function fieldsByJsonName(type: protobuf.Type): Map<string, protobuf.FieldBase> {
  let index = jsonNameIndex.get(type);
  if (!index) {
    index = new Map();
    for (const field of type.fieldsArray) {
      index.set(field.name, field);
      index.set(lowerCamelCase(field.name), field);
    }
    jsonNameIndex.set(type, index);
  }
  return index;
}

/** protoc's ToJsonName: drop each underscore and upper-case the letter after it. */
function lowerCamelCase(name: string): string {
  return name.replace(/_(.?)/g, (_match, next: string) => next.toUpperCase());
}

export function unknownFieldMessage(key: string, type: protobuf.Type): string {
  const suggestion = closest(
    key,
    type.fieldsArray.map((field) => field.name),
  );
  return `unknown field "${key}" in ${typeName(type)}${suggestion ? ` (did you mean "${suggestion}"?)` : ''}`;
}

export function suggestTypeName(root: protobuf.Root, name: string): string {
  const packageName = name.split('.').slice(0, -1).join('.');
  const namespace = packageName ? root.lookup(`.${packageName}`) : null;
  if (!(namespace instanceof protobuf.Namespace)) return '';
  const siblings = namespace.nestedArray.filter((nested) => nested instanceof protobuf.Type).map(typeName);
  const suggestion = closest(name, siblings);
  return suggestion ? ` (did you mean "${suggestion}"?)` : '';
}

/** The candidate within a small edit distance of `word`, for "did you mean" hints. */
function closest(word: string, candidates: string[]): string | undefined {
  const tolerance = Math.max(2, Math.floor(word.length / 4));
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance <= tolerance && (!best || distance < best.distance)) best = { candidate, distance };
  }
  return best?.candidate;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] as number;
}

/** `.name` for identifier-like keys, `["key"]` otherwise (map keys, "@type"). */
export function childPath(path: string, key: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}
