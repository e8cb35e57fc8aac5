/**
 * Names, paths and "did you mean" hints for the Envoy config validator.
 */
import protobuf from 'protobufjs';
import { closestName } from '#core/validate/closest-name.ts';

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
  const suggestion = closestName(
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
  const suggestion = closestName(name, siblings);
  return suggestion ? ` (did you mean "${suggestion}"?)` : '';
}



/** `.name` for identifier-like keys, `["key"]` otherwise (map keys, "@type"). */
export function childPath(path: string, key: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}
