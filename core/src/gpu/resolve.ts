/**
 * Turns a GPU ask (a MIG profile, an amount of memory, MPS shares, whole GPUs) into the extended
 * resource to request, plus the node-affinity expressions that pin the pod to nodes where that
 * resource means what was asked for. The
 * choice is made against the cluster's current nodes (see inventory.ts) because the same
 * resource name means different things on different nodes (see node-gpus.ts).
 */
import { isKnownMigProfile, migProfileName, parseMigProfile } from './catalogue.ts';
import { GPU, GPU_SHARED, LABEL_MEMORY, LABEL_PRODUCT, LABEL_SHARING, type DescribedNode, type Offer } from './node-gpus.ts';
import { clip, quote } from '../text/quote.ts';
import { parseQuantity, quantitySpelling } from '../validate/quantity.ts';

/**
 * The ways to ask for a GPU, which exclude one another: a MIG profile, an amount of GPU memory,
 * MPS shares, whole GPUs. The webhook's pod annotations and the dispatcher's configuration use
 * these names.
 */
export const GPU_ASKS = ['gpu-profile', 'gpu-memory', 'gpu-mps', 'gpu'] as const;
export type GpuAsk = (typeof GPU_ASKS)[number];

export type GpuRequest =
  | { kind: 'profile'; profile: string; count: number }
  | { kind: 'memory'; bytes: number; count: number }
  | { kind: 'mps'; count: number }
  | { kind: 'whole'; count: number };

/** Structurally a V1NodeSelectorRequirement (a type, not an interface, so it is a plain record). */
export type MatchExpression = {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist' | 'Gt' | 'Lt';
  values?: string[];
};

export type Resolution =
  /**
   * gives: what the pod gets, which other GPU requests in the pod it can live with.
   * nodeAffinity: expressions to AND into every required node-selector term of the pod.
   */
  | { ok: true; gives: 'mig' | 'mps' | 'whole'; resources: Record<string, string>; nodeAffinity?: MatchExpression[]; description: string }
  | { ok: false; message: string };

const GiB = 2 ** 30;
const MiB = 2 ** 20;

/**
 * One GPU ask's value, read alone: the request, or what is wrong with it (a sentence that does
 * not name where it was written, so that a pod's annotation, a namespace default and the
 * dispatcher's configuration can each say where it was found).
 */
export function parseGpuValue(name: GpuAsk, text: string): { request: GpuRequest } | { problem: string } {
  const value = text.trim();
  const bad = (expected: string) => ({ problem: `${quote(value)} is not ${expected}` });
  switch (name) {
    case 'gpu-profile': {
      const parsed = parseMigProfile(value);
      return parsed ? { request: { kind: 'profile', profile: migProfileName(parsed), count: 1 } } : bad('a MIG profile (write e.g. 1g.10gb or 1g.10gb+me)');
    }
    case 'gpu-memory': {
      const memory = parseMemory(value);
      return 'problem' in memory ? memory : { request: { kind: 'memory', bytes: memory.bytes, count: 1 } };
    }
    case 'gpu-mps':
    case 'gpu': {
      const count = /^[1-9]\d{0,3}$/.test(value) ? Number(value) : 0;
      if (!count) return bad(name === 'gpu' ? 'a whole number of GPUs, 1 or more' : 'a whole number of MPS shares, 1 or more');
      return { request: { kind: name === 'gpu' ? 'whole' : 'mps', count } };
    }
  }
}

const MEMORY_EXAMPLES = 'not an amount of GPU memory (write e.g. 10Gi, 10G or 10240Mi)';

/**
 * A Kubernetes quantity of bytes (quantity.ts), as the API server reads `memory: 16Gi`:
 * `10Gi`, `10G`, `10240Mi`, `1e10`. The suffixes are case-sensitive, so `10GB`, `10gb` and
 * `10gi` are refused with the spelling meant; `10m` is a hundredth of a byte (milli), not ten
 * megabytes. Less than 1 MiB is no amount of GPU memory: a bare `10` is ten bytes, more likely
 * meant as GB, and guessing would be worse than asking. Fractions of a byte round up, as the
 * API server's Value() does.
 */
function parseMemory(text: string): { bytes: number } | { problem: string } {
  const quantity = parseQuantity(text);
  if (!quantity) {
    const spelling = quantitySpelling(text);
    return { problem: spelling ? `${quote(text)} is not a Kubernetes quantity; write ${spelling}` : `${quote(text)} is ${MEMORY_EXAMPLES}` };
  }
  const { value, suffix } = quantity;
  if (!Number.isFinite(value) || value <= 0) return { problem: `${quote(text)} is ${MEMORY_EXAMPLES}` };
  if (value < MiB) {
    if (suffix === 'm') {
      const number = text.slice(0, -1);
      return { problem: `${quote(text)} is ${value} bytes (m means milli); write ${clip(number, 20)}M or ${clip(number, 20)}Mi` };
    }
    return { problem: `${quote(text)} is ${value} bytes, ${MEMORY_EXAMPLES}` };
  }
  return { bytes: Math.ceil(value) };
}

export function resolveGpuRequest(request: GpuRequest, nodes: readonly DescribedNode[]): Resolution {
  switch (request.kind) {
    case 'profile':
      return resolveProfile(request.profile, request.count, nodes);
    case 'memory':
      return resolveMemory(request.bytes, request.count, nodes);
    case 'mps':
      return resolveMps(request.count, nodes);
    case 'whole':
      return resolveWhole(request.count, nodes);
  }
}

type Hit<K extends Offer['kind']> = { node: DescribedNode; offer: Extract<Offer, { kind: K }> };

/** Every offer of one kind, with its node, that passes `keep`. */
function hits<K extends Offer['kind']>(nodes: readonly DescribedNode[], kind: K, keep: (offer: Hit<K>['offer']) => boolean = () => true): Hit<K>[] {
  const found: Hit<K>[] = [];
  for (const node of nodes) {
    for (const offer of node.offers) {
      if (offer.kind === kind && keep(offer as Hit<K>['offer'])) found.push({ node, offer: offer as Hit<K>['offer'] });
    }
  }
  return found;
}

const maxCount = (found: Array<{ offer: { count: number } }>) => Math.max(0, ...found.map((hit) => hit.offer.count));
const isMixed = (offer: Offer) => offer.resource.startsWith('nvidia.com/mig-');
const fail = (message: string, nodes: readonly DescribedNode[]): Resolution => ({ ok: false, message: `${message}; available: ${available(nodes)}` });
const plural = (count: number, one: string, many = `${one}s`) => (count === 1 ? one : `${count} ${many}`);

function resolveProfile(profileText: string, count: number, nodes: readonly DescribedNode[], why = ''): Resolution {
  const parsed = parseMigProfile(profileText);
  if (!parsed) return { ok: false, message: `${JSON.stringify(profileText)} is not a MIG profile` };
  const profile = migProfileName(parsed);
  const offered = hits(nodes, 'mig', (offer) => offer.profile === profile);
  // Mixed first: its resource name is unambiguous, so the pod can use any mixed node.
  const mixed = offered.filter((hit) => isMixed(hit.offer));
  if (maxCount(mixed) >= count) {
    const resource = mixed[0]!.offer.resource;
    return {
      ok: true,
      gives: 'mig',
      resources: { [resource]: String(count) },
      // A time-slicing config may replicate MIG slices under the same name: keep off those nodes.
      nodeAffinity: [{ key: LABEL_SHARING, operator: 'NotIn', values: ['time-slicing'] }],
      description: `${plural(count, 'MIG slice')} ${profile}${why} (${resource}: ${count})`,
    };
  }
  // Single: the slices are plain nvidia.com/gpu, so pin to the products GFD names after them.
  const single = offered.filter((hit) => !isMixed(hit.offer));
  if (maxCount(single) >= count) {
    const products = [...new Set(single.map((hit) => hit.node.product!))].sort();
    return {
      ok: true,
      gives: 'mig',
      resources: { [GPU]: String(count) },
      nodeAffinity: [{ key: LABEL_PRODUCT, operator: 'In', values: products }],
      description: `${plural(count, 'MIG slice')} ${profile}${why} on MIG-single nodes (${GPU}: ${count})`,
    };
  }
  if (offered.length > 0) {
    return fail(`no node has ${count} MIG ${profile} slices allocatable (at most ${maxCount(offered)} on one node)`, nodes);
  }
  const hint = isKnownMigProfile(profile) ? '' : ' (no GPU in the catalogue has this profile)';
  return fail(`no node offers MIG profile ${profile}${hint}`, nodes);
}

/**
 * Smallest MIG slice that holds the memory, else whole GPUs with enough. Profile names are
 * nominal and compared as GiB so that `10Gi` picks `1g.10gb` (which really has ~9.75 GiB);
 * whole GPUs are compared on the `nvidia.com/gpu.memory` label, which is exact.
 */
function resolveMemory(bytes: number, count: number, nodes: readonly DescribedNode[]): Resolution {
  const wanted = formatBytes(bytes);
  const fitting = hits(nodes, 'mig', (offer) => offer.count >= count && parseMigProfile(offer.profile)!.memoryGB * GiB >= bytes)
    .map((hit) => parseMigProfile(hit.offer.profile)!)
    .sort((a, b) => a.memoryGB - b.memoryGB || a.slices - b.slices || Number(a.media) - Number(b.media));
  if (fitting.length > 0) return resolveProfile(migProfileName(fitting[0]!), count, nodes, ` for ${wanted} of GPU memory`);

  const needMiB = Math.ceil(bytes / MiB);
  const whole = hits(nodes, 'whole', (offer) => offer.count >= count && (offer.memoryMiB ?? 0) >= needMiB);
  if (whole.length > 0) {
    return {
      ok: true,
      gives: 'whole',
      resources: { [GPU]: String(count) },
      // The memory floor as well: the same product may report a little less memory on one node
      // than on another (ECC on or off, say).
      nodeAffinity: [wholeGpuProducts(whole), { key: LABEL_MEMORY, operator: 'Gt', values: [String(needMiB - 1)] }],
      description: `${plural(count, 'whole GPU')} with at least ${wanted} of memory (${GPU}: ${count})`,
    };
  }
  const times = count > 1 ? `, ${count} on one node` : '';
  return fail(`no MIG profile or whole GPU offers ${wanted} of GPU memory${times}`, nodes);
}

function resolveMps(count: number, nodes: readonly DescribedNode[]): Resolution {
  // The device plugin forces sharing.mps.failRequestsGreaterThanOne: a container asking for
  // 2 shares would be admitted here and then rejected by the kubelet (UnexpectedAdmissionError).
  if (count > 1) {
    return { ok: false, message: `the NVIDIA device plugin gives a container at most 1 MPS share (asked for ${count}); use a MIG profile or whole GPUs for more` };
  }
  const offered = hits(nodes, 'mps');
  if (offered.length === 0) return fail(`no node shares GPUs with MPS (label ${LABEL_SHARING}=mps)`, nodes);
  // Nodes may differ in renaming (nvidia.com/gpu vs .shared); a request names one, so take the
  // name more nodes use, preferring the unambiguous .shared on a tie.
  const shared = offered.filter((hit) => hit.offer.resource === GPU_SHARED).length;
  const resource = shared * 2 >= offered.length ? GPU_SHARED : GPU;
  return {
    ok: true,
    gives: 'mps',
    resources: { [resource]: '1' },
    nodeAffinity: [{ key: LABEL_SHARING, operator: 'In', values: ['mps'] }],
    description: `MPS share of a GPU (${resource}: 1)`,
  };
}

/**
 * Pins a whole-GPU pod to the products of the nodes that offer enough whole GPUs. Excluding
 * MIG-single nodes by their strategy label would exclude every GPU node of a GPU Operator
 * cluster (its default policy labels them all `single`); the product tells, as GFD appends
 * `-MIG-<profile>` under single and `-SHARED` under sharing, so a product of whole GPUs is never
 * a slice or a share elsewhere. Nodes without GPU feature discovery have no product label; they
 * are pinned as such only when no labelled node fits. A fresh object: callers mutate pods.
 */
function wholeGpuProducts(fitting: Array<{ node: DescribedNode }>): MatchExpression {
  const products = [...new Set(fitting.map((hit) => hit.node.product).filter((product) => product !== undefined))].sort();
  return products.length > 0 ? { key: LABEL_PRODUCT, operator: 'In', values: products } : { key: LABEL_PRODUCT, operator: 'DoesNotExist' };
}

function resolveWhole(count: number, nodes: readonly DescribedNode[]): Resolution {
  const offered = hits(nodes, 'whole');
  if (offered.length === 0) return fail('no node offers whole GPUs (rather than MIG slices, MPS shares or time-sliced replicas)', nodes);
  const fitting = offered.filter((hit) => hit.offer.count >= count);
  if (fitting.length === 0) return fail(`no node has ${count} whole GPUs allocatable (at most ${maxCount(offered)} on one node)`, nodes);
  return {
    ok: true,
    gives: 'whole',
    resources: { [GPU]: String(count) },
    nodeAffinity: [wholeGpuProducts(fitting)],
    description: `${plural(count, 'whole GPU')} (${GPU}: ${count})`,
  };
}

/** One line summing up what the nodes offer, for denial messages. */
export function available(nodes: readonly DescribedNode[]): string {
  const groups = new Map<string, { label: string; sort: number[]; nodes: Set<string>; max: number; note?: string }>();
  const add = (key: string, label: string, sort: number[], node: DescribedNode, count: number, note?: string) => {
    const group = groups.get(key) ?? groups.set(key, { label, sort, nodes: new Set(), max: 0, ...(note ? { note } : {}) }).get(key)!;
    group.nodes.add(node.name);
    group.max = Math.max(group.max, count);
  };
  for (const node of nodes) {
    for (const offer of node.offers) {
      if (offer.kind === 'mig') {
        const { memoryGB, slices } = parseMigProfile(offer.profile)!;
        const strategy = isMixed(offer) ? 'mixed' : 'single';
        add(`mig ${offer.profile} ${strategy}`, `MIG ${offer.profile}`, [0, memoryGB, slices, isMixed(offer) ? 0 : 1], node, offer.count, strategy);
      } else if (offer.kind === 'mps') {
        add('mps', 'MPS shares', [1], node, offer.count);
      } else if (offer.kind === 'whole') {
        const memory = offer.memoryMiB ? ` ${Math.round(offer.memoryMiB / 1024)} GiB` : '';
        add(`whole ${node.product} ${memory}`, `whole GPUs ${node.product ?? '(unlabelled)'}${memory}`, [2, offer.memoryMiB ?? 0], node, offer.count);
      } else {
        add('shared', 'time-sliced GPUs', [3], node, offer.count, 'not isolated, never chosen');
      }
    }
  }
  if (groups.size === 0) return 'no GPUs on schedulable nodes';
  const sorted = [...groups.values()].sort((a, b) => compareNumbers(a.sort, b.sort) || a.label.localeCompare(b.label));
  const shown = sorted.slice(0, 12).map((group) => {
    const parts = [group.note, `up to ${group.max} per node`, group.nodes.size === 1 ? '1 node' : `${group.nodes.size} nodes`];
    return `${group.label} (${parts.filter(Boolean).join(', ')})`;
  });
  if (sorted.length > shown.length) shown.push(`and ${sorted.length - shown.length} more`);
  return shown.join(', ');
}

function compareNumbers(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) - (b[i] ?? 0);
  return 0;
}

function formatBytes(bytes: number): string {
  if (bytes >= GiB) return `${Number((bytes / GiB).toFixed(2))} GiB`;
  return `${Number((bytes / MiB).toFixed(1))} MiB`;
}
