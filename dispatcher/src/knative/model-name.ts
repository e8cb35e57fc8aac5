/**
 * The name of a model's Knative Service, from its MODEL_ID.
 *
 * SSIS-Dispatcher kept only `[a-z0-9]` of the text after the last '/', so `org-a/Llama-3` and
 * `org-b/llama3` were the same Service, and ids starting with a digit or longer than 63
 * characters made names Knative refuses. Here the readable part is still the tail of the id,
 * but a hash of the whole id follows it: different ids get different names, the same id always
 * the same name, and every name is one Knative accepts and can derive its own names from.
 */
import { createHash } from 'node:crypto';

/**
 * Knative's webhook accepts a Service name of up to 63 characters (a DNS-1035 label), but
 * derives the names of what it creates from it: the revision `<name>-00001`, that revision's
 * Kubernetes Services `<name>-00001` and `<name>-00001-private`, and its Deployment
 * `<name>-00001-deployment`. Where one of those would pass 63, Knative (kmeta.ChildName)
 * replaces it with a truncated name plus an MD5 hash, so pods and Deployments no longer carry
 * the Service's name and are hard to find. The longest suffix is `-00001-deployment` (17), so
 * a name of at most 63 - 17 = 46 characters keeps every derived name as written.
 */
export const SERVICE_NAME_MAX = 63 - '-00001-deployment'.length;

/** Hex digits of sha256(MODEL_ID) in a name: 32 bits, so a clash needs ~65k models to be likely. */
const HASH_LENGTH = 8;

/** The Knative Service name of a model: `<sanitised tail of MODEL_ID>-<8 hex of sha256(MODEL_ID)>`. */
export function serviceNameFor(modelId: string): string {
  const hash = createHash('sha256').update(modelId, 'utf8').digest('hex').slice(0, HASH_LENGTH);
  // The tail names the model (`meta-llama/Llama-3.1-8B` -> `llama-3-1-8b`); for an id ending
  // in '/' (a directory path), the whole id.
  const tail = modelId.slice(modelId.lastIndexOf('/') + 1) || modelId;
  let stem = sanitise(tail);
  // DNS-1035 labels start with a letter: `3b-model` becomes `m-3b-model`, nothing left `model`.
  if (stem === '') stem = 'model';
  else if (!/^[a-z]/.test(stem)) stem = `m-${stem}`;
  stem = stem.slice(0, SERVICE_NAME_MAX - HASH_LENGTH - 1).replace(/-+$/, '');
  return `${stem}-${hash}`;
}

/** The Secret holding a model's secret env (HF_TOKEN and the like): `<service-name>-env`. */
export function secretNameFor(modelId: string): string {
  return `${serviceNameFor(modelId)}-env`;
}

/**
 * Whether `name` is a Service name Knative's webhook accepts: a DNS-1035 label as Kubernetes
 * checks it (validation.IsDNS1035Label: lower-case letters, digits and '-', starting with a
 * letter, ending with a letter or digit, at most 63 characters).
 */
export function isValidDns1035(name: string): boolean {
  return name.length >= 1 && name.length <= 63 && /^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(name);
}

/**
 * Lower-case letters, digits and single dashes: accents are dropped from their letters
 * (`Modèle` -> `modele`), every other run of characters becomes one '-'.
 */
function sanitise(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}
