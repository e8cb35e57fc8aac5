/**
 * The nodes a pod could land on by its own spec: `spec.nodeName`, `spec.nodeSelector` and the
 * required node affinity, matched against a node's labels as the scheduler matches them
 * (k8s.io/component-helpers/scheduling/corev1/nodeaffinity). The GPU ask is resolved among
 * those nodes only: a choice made on a node the pod can never reach would leave it Pending.
 *
 * Preferred affinity is a wish, not a constraint, and is left out. So are taints: tolerations
 * are often added after this webhook answers (the API server runs its built-in mutating plugins
 * again after a webhook's patch, and ExtendedResourceToleration, where enabled, then tolerates
 * the taint named after the GPU resource written here; other webhooks may add some too), so
 * judging them now would refuse pods that schedule. The scheduler names an untolerated taint.
 */

/** The parts of a DescribedNode matching needs. */
export interface LabelledNode {
  name: string;
  labels: Record<string, string>;
}

export interface NodeConstraints {
  /** The same for the same constraints: resolutions are remembered under it (resolve-cached.ts). */
  key: string;
  /** What a refusal names: `nodeSelector (zone=ucsd) and node affinity (pool Exists)`. */
  description: string;
  matches(node: LabelledNode): boolean;
}

type Requirement = { key: string; operator: string; values: string[] };
type Term = { expressions: Requirement[]; fields: Requirement[] };

const REQUIRED = 'spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution';

/**
 * The pod's constraints, none (`{}`) when it has none, or an error naming a malformed field
 * (the API server would refuse such a pod anyway, and matching cannot guess what it meant).
 */
export function readNodeConstraints(spec: unknown): { constraints?: NodeConstraints; error?: string } {
  const pod = isMap(spec) ? spec : {};
  const nodeName = typeof pod.nodeName === 'string' && pod.nodeName !== '' ? pod.nodeName : undefined;

  let selector: Array<[string, string]> = [];
  if (pod.nodeSelector !== undefined && pod.nodeSelector !== null) {
    if (!isMap(pod.nodeSelector) || !Object.values(pod.nodeSelector).every((value) => typeof value === 'string')) {
      return { error: 'spec.nodeSelector is not a map of strings' };
    }
    selector = Object.entries(pod.nodeSelector as Record<string, string>);
  }

  const read = readTerms(isMap(pod.affinity) && isMap(pod.affinity.nodeAffinity) ? pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution : undefined);
  if (typeof read === 'string') return { error: read };
  const terms = read;

  if (nodeName === undefined && selector.length === 0 && terms.length === 0) return {};
  const parts: string[] = [];
  if (nodeName !== undefined) parts.push(`spec.nodeName (${nodeName})`);
  if (selector.length > 0) parts.push(`nodeSelector (${selector.map(([key, value]) => `${key}=${value}`).join(', ')})`);
  if (terms.length > 0) parts.push(`node affinity (${terms.map(describeTerm).join('; or ')})`);
  return {
    constraints: {
      key: JSON.stringify([nodeName ?? null, selector, terms]),
      description: parts.join(' and '),
      matches: (node) =>
        (nodeName === undefined || node.name === nodeName) &&
        selector.every(([key, value]) => node.labels[key] === value) &&
        (terms.length === 0 || terms.some((term) => matchesTerm(term, node))),
    },
  };
}

/** No terms (or no required affinity) is no constraint: the GPU mutation then writes the first term. */
function readTerms(required: unknown): Term[] | string {
  if (required === undefined || required === null) return [];
  if (!isMap(required)) return `${REQUIRED} is not an object`;
  const list = required.nodeSelectorTerms;
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) return `${REQUIRED}.nodeSelectorTerms is not a list`;
  const terms: Term[] = [];
  for (const [i, term] of list.entries()) {
    const path = `${REQUIRED}.nodeSelectorTerms[${i}]`;
    if (term !== null && !isMap(term)) return `${path} is not an object`;
    const expressions = readRequirements(term?.matchExpressions, `${path}.matchExpressions`);
    if (typeof expressions === 'string') return expressions;
    const fields = readRequirements(term?.matchFields, `${path}.matchFields`);
    if (typeof fields === 'string') return fields;
    terms.push({ expressions, fields });
  }
  return terms;
}

function readRequirements(list: unknown, path: string): Requirement[] | string {
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) return `${path} is not a list`;
  const requirements: Requirement[] = [];
  for (const [i, item] of list.entries()) {
    if (!isMap(item) || typeof item.key !== 'string' || typeof item.operator !== 'string') return `${path}[${i}] needs a key and an operator`;
    const values = item.values ?? [];
    if (!Array.isArray(values) || !values.every((value) => typeof value === 'string')) return `${path}[${i}].values is not a list of strings`;
    requirements.push({ key: item.key, operator: item.operator, values });
  }
  return requirements;
}

/** A null or empty term selects no node; otherwise every requirement must hold. */
function matchesTerm(term: Term, node: LabelledNode): boolean {
  if (term.expressions.length === 0 && term.fields.length === 0) return false;
  // metadata.name is the only field a node selector may name.
  return term.expressions.every((r) => matchesRequirement(r, node.labels)) && term.fields.every((r) => matchesRequirement(r, { 'metadata.name': node.name }));
}

function matchesRequirement({ key, operator, values }: Requirement, labels: Record<string, string>): boolean {
  const has = Object.hasOwn(labels, key);
  switch (operator) {
    case 'In':
      return has && values.includes(labels[key]!);
    case 'NotIn':
      return !has || !values.includes(labels[key]!);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    case 'Gt':
    case 'Lt': {
      // One integer on each side, as the scheduler parses them; anything else matches nothing.
      const limit = values.length === 1 ? integer(values[0]!) : undefined;
      const value = has ? integer(labels[key]!) : undefined;
      if (limit === undefined || value === undefined) return false;
      return operator === 'Gt' ? value > limit : value < limit;
    }
    default:
      return false;
  }
}

function integer(text: string): bigint | undefined {
  return /^[+-]?\d{1,19}$/.test(text) ? BigInt(text) : undefined;
}

function describeTerm(term: Term): string {
  const all = [...term.expressions, ...term.fields];
  if (all.length === 0) return 'an empty term, which matches no node';
  return all.map(({ key, operator, values }) => (operator === 'Exists' || operator === 'DoesNotExist' ? `${key} ${operator}` : `${key} ${operator} [${values.join(', ')}]`)).join(', ');
}

function isMap(value: unknown): value is Record<string, any> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
