/**
 * The real API server checks the objects: each is created with `dryRun=All` and
 * `fieldValidation=Strict` (nothing is stored) in a namespace of its own that warns at the
 * "restricted" Pod Security level. So an object passes only if kube-apiserver v1.36 decodes it
 * without an unknown or duplicate field, its validation accepts it (types, required fields,
 * names, quantities, the CRDs' structural schemas), it warns about nothing (a hidden duplicate
 * env var, a deprecated API), and Pod Security admission finds no violation of the restricted
 * profile in its pod template.
 *
 * Pod Security admission knows whole profiles only; a documented exception (hostPath for CVMFS,
 * nfs) is honoured by checking a copy of the object in which those volumes are emptyDirs, so
 * the rest of the restricted profile still applies to it.
 */
import { request as httpsRequest } from 'node:https';
import type { Cluster } from '../cluster/control-plane.ts';
import { createNamespace, sharedCluster } from '../cluster/shared.ts';
import { resourceFor, resourcePath } from '../api-resources.ts';
import { mapLimit } from '../map-limit.ts';
import { asRecord, childPath, isRecord, type Report } from './shared.ts';

export interface ServerCheckOptions {
  /** hostPath volumes are forbidden even by the baseline profile; pass only with a documented reason. */
  allowHostPath?: boolean;
  /** nfs volumes are not in the restricted profile's volume list; pass only with a documented reason. */
  allowNfs?: boolean;
  /** No Pod Security check: for users' pods (webhook fixtures), which we do not author. */
  skipPodSecurity?: boolean;
}

interface ServerAnswer {
  status: number;
  body: any;
  /** The Warning headers, one entry each, without the `299 - "…"` wrapping. */
  warnings: string[];
}

const POD_SECURITY_WARNING = /^would violate PodSecurity "([^"]+)": (.*)$/s;
const WORKLOADS_WITH_POD_TEMPLATE = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'ReplicationController', 'PodTemplate']);

/** Checks each object on the shared test cluster; `reportFor(i)` reports the problems of objects[i]. */
export async function checkOnServer(objects: Record<string, unknown>[], opts: ServerCheckOptions, reportFor: (index: number) => Report): Promise<void> {
  if (objects.length === 0) return;
  const cluster = await sharedCluster();
  const namespace = await createNamespace(cluster, 'manifest-check', {
    'pod-security.kubernetes.io/warn': 'restricted',
    'pod-security.kubernetes.io/warn-version': 'latest',
  });
  try {
    await mapLimit(objects, 8, (object, index) => checkObject(cluster, namespace.name, object, opts, reportFor(index)));
  } finally {
    await namespace.remove();
  }
}

async function checkObject(cluster: Cluster, namespace: string, object: Record<string, unknown>, opts: ServerCheckOptions, report: Report): Promise<void> {
  let resource;
  try {
    resource = await resourceFor(cluster, String(object.apiVersion), String(object.kind));
  } catch (err) {
    report('/apiVersion', (err as Error).message);
    return;
  }
  const body = forRequest(object, resource.namespaced ? namespace : undefined);
  const podSpecPath = podSpecPathOf(object);
  const checkPodSecurity = podSpecPath !== undefined && !opts.skipPodSecurity;
  const withoutExceptions = checkPodSecurity ? withAllowedVolumesEmpty(body, podSpecPath, opts) : undefined;

  const answer = await dryRunCreate(cluster, resource, namespace, body);
  reportAnswer(answer, object, report, { podSecurity: checkPodSecurity && !withoutExceptions, podSpecPath });
  if (withoutExceptions && (answer.status < 300 || answer.status === 409)) {
    // The same object with its allowed volumes swapped for emptyDirs: whatever Pod Security still finds is not excused.
    const again = await dryRunCreate(cluster, resource, namespace, withoutExceptions);
    for (const warning of again.warnings) {
      if (POD_SECURITY_WARNING.test(warning)) reportPodSecurity(warning, podSpecPath!, report);
    }
  }
}

/** What is sent: the object without the fields the server owns, in the check's namespace. */
function forRequest(object: Record<string, unknown>, namespace: string | undefined): Record<string, unknown> {
  const body = structuredClone(object);
  const metadata = asRecord(body.metadata);
  for (const owned of ['managedFields', 'resourceVersion', 'uid', 'selfLink', 'creationTimestamp', 'generation']) delete metadata[owned];
  if (namespace) metadata.namespace = namespace;
  else delete metadata.namespace;
  body.metadata = metadata;
  return body;
}

/**
 * POST with dryRun=All: decoding, admission and validation all run before the server looks for
 * an object of that name, so 409 AlreadyExists (a cluster-scoped object another test created)
 * means the object passed them all; its warnings are still read.
 */
function dryRunCreate(cluster: Cluster, resource: Parameters<typeof resourcePath>[0], namespace: string, body: Record<string, unknown>): Promise<ServerAnswer> {
  return send(cluster, 'POST', `${resourcePath(resource, namespace)}?dryRun=All&fieldValidation=Strict`, body);
}

function reportAnswer(answer: ServerAnswer, object: Record<string, unknown>, report: Report, pss: { podSecurity: boolean; podSpecPath: string | undefined }): void {
  for (const warning of answer.warnings) {
    if (POD_SECURITY_WARNING.test(warning)) {
      if (pss.podSecurity) reportPodSecurity(warning, pss.podSpecPath!, report);
      continue;
    }
    // "spec.template.spec.containers[0].env[1]: hides previous definition of …"
    const located = /^([a-zA-Z][\w.[\]"=-]*): (.*)$/s.exec(warning);
    if (located) report(fieldToPointer(located[1]!, object), `server warning: ${located[2]}`);
    else report('', `server warning: ${warning}`);
  }
  if (answer.status < 300 || (answer.status === 409 && asRecord(answer.body).reason === 'AlreadyExists')) return;

  const body = asRecord(answer.body);
  const message = typeof body.message === 'string' ? body.message : JSON.stringify(answer.body);
  const causes = Array.isArray(asRecord(body.details).causes) ? (asRecord(body.details).causes as unknown[]) : [];
  if (answer.status === 422 && causes.length > 0) {
    for (const cause of causes.map(asRecord)) report(fieldToPointer(String(cause.field ?? ''), object), String(cause.message ?? cause.reason));
    return;
  }
  // Decoding: 'Deployment in version "v1" cannot be handled as a Deployment: <why>'
  const why = message.replace(/^.* cannot be handled as an? \w+: /s, '');
  const strict = /^strict decoding error: (.*)$/s.exec(why);
  if (strict) {
    for (const part of strict[1]!.split(/, (?=unknown field|duplicate field)/)) {
      const field = /^(unknown|duplicate) field "(.*)"$/s.exec(part);
      if (field) report(fieldToPointer(field[2]!, object), `${field[1]} field`);
      else report('', part);
    }
    return;
  }
  // "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"
  const typeError = /Go struct field \w+\.(\S+) of type/.exec(why);
  if (typeError) {
    report(fieldToPointer(typeError[1]!, object), why.replace(/^json: /, ''));
    return;
  }
  report('', `HTTP ${answer.status}: ${message}`);
}

function reportPodSecurity(warning: string, podSpecPath: string, report: Report): void {
  const [, profile, violations] = POD_SECURITY_WARNING.exec(warning)!;
  for (const violation of splitTopLevel(violations!)) report(podSpecPath, `${profile!.split(':')[0]} PSS: ${violation}`);
}

/** Splits "a (x, y), b, c (z)" at the commas outside parentheses and quotes. */
export function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\') i++;
    else if (c === '"') quoted = !quoted;
    else if (!quoted && c === '(') depth++;
    else if (!quoted && c === ')') depth--;
    else if (!quoted && depth === 0 && c === ',') {
      parts.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(text.slice(start).trim());
  return parts.filter(Boolean);
}

/**
 * The API server's field path ("spec.template.spec.containers[0].image",
 * 'containers[name="triton"].image' as server-side apply writes it, "metadata.annotations[a/b]")
 * as a JSON pointer into the object.
 */
export function fieldToPointer(field: string, object: unknown): string {
  let path = '';
  let node: unknown = object;
  for (const [, key, bracket] of field.matchAll(/([^.[\]]+)|\[([^\]]*)\]/g)) {
    let segment: string | number;
    if (key !== undefined) segment = key;
    else if (/^\d+$/.test(bracket!)) segment = Number(bracket);
    else {
      const keyed = /^(\w+)="(.*)"$/.exec(bracket!);
      if (keyed && Array.isArray(node)) {
        const index = node.findIndex((item) => isRecord(item) && String(item[keyed[1]!]) === keyed[2]);
        segment = index >= 0 ? index : bracket!;
      } else segment = bracket!;
    }
    path = childPath(path, segment);
    node = isRecord(node) || Array.isArray(node) ? (node as Record<string | number, unknown>)[segment] : undefined;
  }
  return path;
}

function podSpecPathOf(object: Record<string, unknown>): string | undefined {
  if (object.kind === 'Pod') return '/spec';
  if (object.kind === 'CronJob') return '/spec/jobTemplate/spec/template/spec';
  if (WORKLOADS_WITH_POD_TEMPLATE.has(String(object.kind))) return object.kind === 'PodTemplate' ? '/template/spec' : '/spec/template/spec';
  return undefined;
}

/** A copy with the volumes the options allow turned into emptyDirs, or undefined when there are none. */
function withAllowedVolumesEmpty(body: Record<string, unknown>, podSpecPath: string, opts: ServerCheckOptions): Record<string, unknown> | undefined {
  const allowed = [opts.allowHostPath && 'hostPath', opts.allowNfs && 'nfs'].filter((type): type is string => Boolean(type));
  if (allowed.length === 0) return undefined;
  const copy = structuredClone(body);
  const spec = podSpecPath.split('/').slice(1).reduce<unknown>((node, key) => asRecord(node)[key], copy);
  let changed = false;
  for (const volume of Array.isArray(asRecord(spec).volumes) ? (asRecord(spec).volumes as unknown[]) : []) {
    if (!isRecord(volume)) continue;
    for (const type of allowed) {
      if (type in volume) {
        delete volume[type];
        volume.emptyDir = {};
        changed = true;
      }
    }
  }
  return changed ? copy : undefined;
}

/** An HTTPS call as the admin that keeps every Warning header (cluster.request keeps none). */
function send(cluster: Cluster, method: string, path: string, body: unknown): Promise<ServerAnswer> {
  return new Promise((resolve, reject) => {
    const headers = { authorization: `Bearer ${cluster.token('admin')}`, accept: 'application/json', 'content-type': 'application/json' };
    const req = httpsRequest(new URL(path, cluster.url), { method, headers, ca: cluster.ca }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => {
        const warnings: string[] = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) {
          if (res.rawHeaders[i]!.toLowerCase() === 'warning') warnings.push(unwrapWarning(res.rawHeaders[i + 1]!));
        }
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // not JSON: keep the text
        }
        resolve({ status: res.statusCode ?? 0, body: parsed, warnings });
      });
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/** `299 - "text with \"quotes\""` -> `text with "quotes"` (RFC 7234 warn-text). */
function unwrapWarning(header: string): string {
  const match = /^\d{3} \S+ "((?:[^"\\]|\\.)*)"/.exec(header);
  return match ? match[1]!.replace(/\\(.)/g, '$1') : header;
}
