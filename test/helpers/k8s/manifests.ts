/**
 * Offline validation of rendered Kubernetes manifests (the objects that
 * `helm template` prints), so chart tests can fail on what a real cluster
 * would reject, without needing a cluster.
 *
 * For every object `validateManifests` runs four independent checks, one file
 * each in this folder, and returns every problem it finds (an empty array
 * means "valid"):
 *
 *   1. apiVersion/kind allow-list + metadata.name format,
 *   2. OpenAPI schema validation with `kubernetes-models`,
 *   3. unknown-field detection against the `@kubernetes/client-node` type maps
 *      (kubernetes-models ignores unknown fields, the API server drops or, with
 *      strict field validation, rejects them),
 *   4. the "restricted" Pod Security Standard for anything with a pod template.
 */
import { parseAllDocuments, type Tags } from 'yaml';
import { ALLOWED_API_VERSIONS, checkApiVersionAllowed, checkMetadataName } from './api-versions.ts';
import { checkRestrictedPodSecurity } from './pod-security.ts';
import { checkSchema } from './schema-check.ts';
import { isRecord, type Report } from './shared.ts';
import { checkUnknownFields } from './unknown-fields.ts';

export { ALLOWED_API_VERSIONS };

export interface ManifestProblem {
  /** Which object, e.g. "apps/v1 Deployment my-name". */
  object: string;
  /** JSON pointer into the object, e.g. "/spec/template/spec/containers/0/image". */
  path: string;
  message: string;
}

export interface ValidateOptions {
  /** hostPath volumes are forbidden even by the baseline profile; pass only with a documented reason. */
  allowHostPath?: boolean;
  /** nfs volumes are not in the restricted profile's volume list; pass only with a documented reason. */
  allowNfs?: boolean;
  /** Skip the Pod Security check: for users' pods (webhook fixtures), which we do not author. */
  skipPodSecurity?: boolean;
}

/**
 * Splits multi-document YAML (as printed by `helm template`) into objects,
 * skipping empty documents (a `---` followed only by `# Source:` comments).
 *
 * Scalars are resolved the way Kubernetes tooling does (sigs.k8s.io/yaml, i.e.
 * go-yaml v2, YAML 1.1 rules): unquoted `on`/`yes`/`y` are booleans and `0777`
 * is octal. That is what the API server would receive, so a chart that
 * renders `value: on` where a string is meant is caught by the schema check.
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

/** Runs all four checks on every object; returns all problems found (empty = valid). */
export async function validateManifests(objects: unknown[], opts: ValidateOptions = {}): Promise<ManifestProblem[]> {
  const problems: ManifestProblem[] = [];
  for (const [index, object] of objects.entries()) {
    problems.push(...(await validateObject(object, index, opts)));
  }
  return problems;
}

async function validateObject(object: unknown, index: number, opts: ValidateOptions): Promise<ManifestProblem[]> {
  if (!isRecord(object)) {
    return [{ object: `document #${index}`, path: '', message: `expected a Kubernetes object, got a ${describeType(object)}` }];
  }
  const problems: ManifestProblem[] = [];
  const label = describeObject(object);
  const report: Report = (path, message) => problems.push({ object: label, path, message });

  const isAllowedKind = checkApiVersionAllowed(object, report);
  checkMetadataName(object, report);
  // Schema and field checks need a known model; for a rejected apiVersion the
  // allow-list problem already says what to fix.
  if (isAllowedKind) {
    await checkSchema(object, report);
    await checkUnknownFields(object, report);
  }
  if (!opts.skipPodSecurity) checkRestrictedPodSecurity(object, opts, report);
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
