/**
 * Loads Envoy's v3 API protos (vendored by @grpc/grpc-js-xds) into one
 * protobufjs Root, once per process, for the bootstrap validator.
 *
 * Four third-party imports are not vendored (opencensus, the opentelemetry
 * proto, prometheus' client_model). Types from them are stubbed as empty
 * messages marked "unavailable", so the rest still resolves and the
 * validator can say "not checkable" where a config reaches one.
 */
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);
const DEPS_DIR = path.join(path.dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
// google/protobuf/descriptor.proto is not among protobufjs' bundled "common"
// definitions; it ships as a file in the package directory instead.
const PROTOBUFJS_DIR = path.dirname(require.resolve('protobufjs/package.json'));
const INCLUDE_DIRS = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((dir) => path.join(DEPS_DIR, dir));
const ENVOY_API_DIR = path.join(DEPS_DIR, 'envoy-api');

/** Configs often wrap extension configs in a TypedStruct; nothing in envoy/ imports these. */
const EXTRA_ENTRY_POINTS = ['xds/type/v3/typed_struct.proto', 'udpa/type/v1/typed_struct.proto'];

/** Option set on stub types, so the validator can tell them from real empty messages. */
export const UNAVAILABLE_OPTION = 'unavailable_import';

export interface EnvoyProtos {
  root: protobuf.Root;
}

let cached: EnvoyProtos | undefined;

/** The protos, loaded on first use (about a second) and cached for the process. */
export function loadEnvoyProtos(): EnvoyProtos {
  cached ??= { root: loadRoot() };
  return cached;
}

function loadRoot(): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => findImport(target);
  // loadSync resolves every type reference at its very end, which throws on
  // the first type from a missing import. Defer that until the stubs exist.
  root.resolveAll = () => root;
  root.loadSync([...envoyEntryPoints(), ...EXTRA_ENTRY_POINTS], { keepCase: true });
  delete (root as Partial<protobuf.Root>).resolveAll; // back to the prototype's
  stubUnresolvableTypes(root);
  root.resolveAll();
  return root;
}

/** Returns null for imports that are not vendored: protobufjs then skips them. */
function findImport(target: string): string | null {
  if (path.isAbsolute(target)) return target;
  const candidates = [path.join(PROTOBUFJS_DIR, target), ...INCLUDE_DIRS.map((dir) => path.join(dir, target))];
  return candidates.find((candidate) => existsSync(candidate)) ?? null;
}

/** Every v3 proto plus all extensions: cheaper than chasing only what a bootstrap can reach. */
function envoyEntryPoints(): string[] {
  const files = readdirSync(path.join(ENVOY_API_DIR, 'envoy'), { recursive: true, encoding: 'utf8' });
  return files
    .filter((file) => file.endsWith('.proto'))
    .map((file) => `envoy/${file.split(path.sep).join('/')}`)
    .filter((file) => file.includes('/v3/') || file.startsWith('envoy/extensions/'));
}

/** Adds an empty, marked message type at the referenced name of every field whose type does not resolve. */
function stubUnresolvableTypes(root: protobuf.Root): void {
  for (const type of allTypes(root)) {
    for (const field of type.fieldsArray) {
      if (isScalar(field.type) || type.lookup(field.type, [protobuf.Type, protobuf.Enum])) continue;
      stubType(root, field.type.replace(/^\./, ''));
    }
  }
}

function stubType(root: protobuf.Root, fullName: string): void {
  const parts = fullName.split('.');
  const name = parts.pop() as string;
  const namespace = parts.length > 0 ? root.define(parts) : root;
  if (namespace.get(name)) return;
  const stub = new protobuf.Type(name);
  stub.setOption(UNAVAILABLE_OPTION, true);
  namespace.add(stub);
}

function isScalar(typeName: string): boolean {
  return typeName in protobuf.types.basic;
}

function* allTypes(namespace: protobuf.NamespaceBase): Generator<protobuf.Type> {
  for (const nested of namespace.nestedArray) {
    if (nested instanceof protobuf.Type) yield nested;
    if (nested instanceof protobuf.Namespace) yield* allTypes(nested); // Type is a Namespace too
  }
}
