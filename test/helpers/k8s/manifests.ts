/**
 * Validation of rendered Kubernetes manifests (the objects that `helm template` prints) by the
 * real API server, so chart tests fail on what a cluster would reject. For every object
 * `validateManifests` returns every problem it finds (an empty array means "valid"):
 *
 *   1. offline: the apiVersion/kind allow-list (APIs served by every supported Kubernetes
 *      release, which one test server cannot tell),
 *   2. on the shared test cluster (server-check.ts): a strict dry-run create, which decodes,
 *      validates and admits the object as a real install would, CRDs included, and the
 *      restricted Pod Security Standard as Pod Security admission evaluates it.
 */
import { parseAllDocuments, type Tags } from 'yaml';
import { ALLOWED_API_VERSIONS, checkApiVersionAllowed } from './api-versions.ts';
import { checkOnServer, type ServerCheckOptions } from './server-check.ts';
import { isRecord, type Report } from './shared.ts';

export { ALLOWED_API_VERSIONS };

export interface ManifestProblem {
  /** Which object, e.g. "apps/v1 Deployment my-name". */
  object: string;
  /** JSON pointer into the object, e.g. "/spec/template/spec/containers/0/image". */
  path: string;
  message: string;
}

export type ValidateOptions = ServerCheckOptions;

/**
 * Splits multi-document YAML (as printed by `helm template`) into objects,
 * skipping empty documents (a `---` followed only by `# Source:` comments).
 *
 * Scalars are resolved the way Kubernetes tooling does (sigs.k8s.io/yaml, i.e.
 * go-yaml v2, YAML 1.1 rules): unquoted `on`/`yes`/`y` are booleans and `0777`
 * is octal. That is what the API server would receive, so a chart that
 * renders `value: on` where a string is meant is rejected by the API server.
 * Timestamps and sexagesimal numbers stay strings, as they do in go-yaml v2
 * when decoding into untyped maps.
 */
export function parseManifests(yamlText: string): Record<string, unknown>[] {
  const documents = parseAllDocuments(yamlText, { version: '1.1', customTags: keepGoYamlV2Tags });
  const objects: Record<string, unknown>[] = [];
  documents.forEach((document, index) => {
    const firstError = document.errors[0];
    if (firstError) throw new Error(`YAML document #${index}: ${firstError.message}`);
    const value: unknown = document.toJS();
    if (value === null || value === undefined) return;
    if (!isRecord(value)) {
      throw new Error(`YAML document #${index} is a ${describeType(value)}, expected a mapping (a Kubernetes object)`);
    }
    objects.push(value);
  });
  return objects;
}

function keepGoYamlV2Tags(tags: Tags): Tags {
  return tags.filter((tag) => {
    // Entries are tag objects for the built-in schemas; names are accepted too.
    if (typeof tag === 'string') return !['timestamp', 'intTime', 'floatTime'].includes(tag);
    const isTimestamp = tag.tag === 'tag:yaml.org,2002:timestamp';
    const isSexagesimal = 'format' in tag && tag.format === 'TIME';
    return !isTimestamp && !isSexagesimal;
  });
}

/** Runs the checks on every object; returns all problems found (empty = valid). */
export async function validateManifests(objects: unknown[], opts: ValidateOptions = {}): Promise<ManifestProblem[]> {
  const problems: ManifestProblem[] = [];
  const reporterOf = (object: Record<string, unknown>): Report => {
    const label = describeObject(object);
    return (path, message) => problems.push({ object: label, path, message });
  };
  const toServer: Record<string, unknown>[] = [];
  for (const [index, object] of objects.entries()) {
    if (!isRecord(object)) {
      problems.push({ object: `document #${index}`, path: '', message: `expected a Kubernetes object, got a ${describeType(object)}` });
      continue;
    }
    // For an API not on the list, the allow-list's problem already says what to fix.
    if (checkApiVersionAllowed(object, reporterOf(object))) toServer.push(object);
  }
  await checkOnServer(toServer, opts, (index) => reporterOf(toServer[index]!));
  return problems;
}

function describeObject(object: Record<string, unknown>): string {
  const apiVersion = typeof object.apiVersion === 'string' ? object.apiVersion : '<no apiVersion>';
  const kind = typeof object.kind === 'string' ? object.kind : '<no kind>';
  const metadata = isRecord(object.metadata) ? object.metadata : {};
  const name = typeof metadata.name === 'string' ? metadata.name : '<no name>';
  return `${apiVersion} ${kind} ${name}`;
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'list' : typeof value;
}
