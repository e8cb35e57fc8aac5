/**
 * Check 3: unknown-field detection against the `@kubernetes/client-node`
 * attribute type maps. kubernetes-models ignores unknown fields, the API
 * server drops or, with strict field validation, rejects them.
 */
import { childPath, isRecord, type Report } from './shared.ts';
import { closestName } from '../closest-name.ts';

interface AttributeType {
  baseName: string;
  type: string;
}

interface ClientNodeModelClass {
  getAttributeTypeMap(): AttributeType[];
}

type ClientNodeModels = Record<string, unknown>;

let clientNodeModels: Promise<ClientNodeModels> | undefined;

/** Only the generated models: the package's index also loads every API group's client. */
function loadClientNodeModels(): Promise<ClientNodeModels> {
  clientNodeModels ??= import('@kubernetes/client-node/dist/gen/models/all.js').then(
    (module) => module as unknown as ClientNodeModels,
  );
  return clientNodeModels;
}

function findClientNodeModel(models: ClientNodeModels, typeName: string): ClientNodeModelClass | undefined {
  const candidate = models[typeName];
  const hasTypeMap =
    typeof candidate === 'function' && typeof (candidate as Partial<ClientNodeModelClass>).getAttributeTypeMap === 'function';
  return hasTypeMap ? (candidate as unknown as ClientNodeModelClass) : undefined;
}

/** client-node names top-level classes "<Version><Kind>": apps/v1 Deployment -> V1Deployment, autoscaling/v2 HPA -> V2HorizontalPodAutoscaler. */
function clientNodeClassName(apiVersion: string, kind: string): string {
  const version = apiVersion.split('/').pop() ?? apiVersion;
  return `${version.charAt(0).toUpperCase()}${version.slice(1)}${kind}`;
}

const ARRAY_TYPE = /^Array<(.+)>$/;
const MAP_TYPE = /^\{ \[key: string\]: (.+); \}$/;

const CRD_GROUPS = new Set(['cert-manager.io', 'monitoring.coreos.com']);

export async function checkUnknownFields(object: Record<string, unknown>, report: Report): Promise<void> {
  // Known gap: client-node has models for Kubernetes' own kinds only. CRD objects (cert-manager,
  // prometheus-operator) are schema-checked by @kubernetes-models, whose compiled validators
  // cannot be walked for unknown fields.
  if (CRD_GROUPS.has(String(object.apiVersion).split('/')[0]!)) return;
  const models = await loadClientNodeModels();
  const className = clientNodeClassName(object.apiVersion as string, object.kind as string);
  if (!findClientNodeModel(models, className)) {
    report('', `unknown-field check: @kubernetes/client-node has no model ${className}`);
    return;
  }
  walkAgainstType(object, className, '', models, report);
}

/**
 * Descends into `value` following the client-node type name. Only unknown
 * keys are reported: type mismatches are the schema check's job, and
 * client-node types Quantity as "string" although YAML often yields numbers.
 * Anything that is not a model class ("string", "IntOrString", "any",
 * "V1MicroTime", ...) is a leaf.
 */
function walkAgainstType(value: unknown, typeName: string, path: string, models: ClientNodeModels, report: Report): void {
  if (value === null || value === undefined) return;

  const arrayItemType = ARRAY_TYPE.exec(typeName)?.[1];
  if (arrayItemType !== undefined) {
    if (Array.isArray(value)) value.forEach((item, i) => walkAgainstType(item, arrayItemType, childPath(path, i), models, report));
    return;
  }
  const mapValueType = MAP_TYPE.exec(typeName)?.[1];
  if (mapValueType !== undefined) {
    if (isRecord(value)) {
      for (const [key, item] of Object.entries(value)) walkAgainstType(item, mapValueType, childPath(path, key), models, report);
    }
    return;
  }
  const model = findClientNodeModel(models, typeName);
  if (!model || !isRecord(value)) return;

  const fieldTypes = new Map(model.getAttributeTypeMap().map((attribute) => [attribute.baseName, attribute.type]));
  for (const [key, fieldValue] of Object.entries(value)) {
    const fieldType = fieldTypes.get(key);
    if (fieldType === undefined) {
      report(childPath(path, key), unknownFieldMessage(key, typeName, [...fieldTypes.keys()]));
    } else {
      walkAgainstType(fieldValue, fieldType, childPath(path, key), models, report);
    }
  }
}

function unknownFieldMessage(key: string, typeName: string, knownFields: string[]): string {
  const suggestion = closestName(key, knownFields);
  const hint = suggestion ? `; did you mean "${suggestion}"?` : `; known fields: ${knownFields.join(', ')}`;
  return `unknown field (not in ${typeName})${hint}`;
}


