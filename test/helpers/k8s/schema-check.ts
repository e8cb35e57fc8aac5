/**
 * Check 2: OpenAPI schema validation with `kubernetes-models`.
 */
import { childPath, isRecord, type Report } from './shared.ts';

type KubernetesModelClass = new (data: Record<string, unknown>) => { validate(): void };

/** Shape of the ajv errors kubernetes-models attaches to the thrown ValidationError as `.errors`. */
interface AjvErrorLike {
  instancePath: string;
  keyword: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** CRD groups live in separate @kubernetes-models packages. */
const CRD_PACKAGES: Readonly<Record<string, string>> = {
  'cert-manager.io': '@kubernetes-models/cert-manager',
  'monitoring.coreos.com': '@kubernetes-models/prometheus-operator',
};

const kubernetesModelCache = new Map<string, Promise<KubernetesModelClass | undefined>>();

/**
 * kubernetes-models exposes one module per kind, named after the apiVersion:
 * `kubernetes-models/apps/v1/Deployment`, and the core group as
 * `kubernetes-models/v1/Service`. Each module exports a class named after the kind.
 */
function loadKubernetesModel(apiVersion: string, kind: string): Promise<KubernetesModelClass | undefined> {
  const group = apiVersion.includes('/') ? apiVersion.split('/')[0]! : '';
  const specifier = `${CRD_PACKAGES[group] ?? 'kubernetes-models'}/${apiVersion}/${kind}`;
  let loaded = kubernetesModelCache.get(specifier);
  if (!loaded) {
    loaded = import(specifier).then(
      (module: Record<string, unknown>) => module[kind] as KubernetesModelClass | undefined,
      () => undefined,
    );
    kubernetesModelCache.set(specifier, loaded);
  }
  return loaded;
}

export async function checkSchema(object: Record<string, unknown>, report: Report): Promise<void> {
  const apiVersion = object.apiVersion as string;
  const kind = object.kind as string;
  const Model = await loadKubernetesModel(apiVersion, kind);
  if (!Model) {
    report('', `schema: kubernetes-models has no model for ${apiVersion} ${kind} (the allow-list and the installed package disagree)`);
    return;
  }
  try {
    new Model(object).validate();
  } catch (error) {
    const ajvErrors = readAjvErrors(error);
    if (!ajvErrors) {
      report('', `schema: validation failed: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    for (const [path, messages] of groupSchemaMessagesByPath(ajvErrors)) {
      report(path, `schema: ${messages.join('; ')}`);
    }
  }
}

function readAjvErrors(error: unknown): AjvErrorLike[] | undefined {
  if (!isRecord(error) || !Array.isArray(error.errors)) return undefined;
  return error.errors.filter(
    (entry): entry is AjvErrorLike => isRecord(entry) && typeof entry.instancePath === 'string' && typeof entry.keyword === 'string',
  );
}

/**
 * One problem per path reads better than ajv's raw list: a bad quantity yields
 * "must be number", "must match format quantity" and "must match exactly one
 * schema in oneOf" for the same field. A missing required field is reported at
 * the missing field's own path rather than at its parent.
 */
function groupSchemaMessagesByPath(errors: AjvErrorLike[]): Map<string, string[]> {
  const byPath = new Map<string, string[]>();
  for (const error of errors) {
    const { path, message } = describeSchemaError(error);
    const messages = byPath.get(path) ?? [];
    if (!messages.includes(message)) messages.push(message);
    byPath.set(path, messages);
  }
  for (const [path, messages] of byPath) {
    const specific = messages.filter((message) => !message.startsWith('must match exactly one schema'));
    if (specific.length > 0) byPath.set(path, specific);
  }
  return byPath;
}

function describeSchemaError(error: AjvErrorLike): { path: string; message: string } {
  const params = error.params ?? {};
  const message = error.message ?? `failed "${error.keyword}"`;
  if (error.keyword === 'required' && typeof params.missingProperty === 'string') {
    return { path: childPath(error.instancePath, params.missingProperty), message: 'required field is missing' };
  }
  if (error.keyword === 'enum' && Array.isArray(params.allowedValues)) {
    return { path: error.instancePath, message: `${message}: ${params.allowedValues.map((v) => JSON.stringify(v)).join(', ')}` };
  }
  return { path: error.instancePath, message };
}
