/**
 * What one node offers in NVIDIA GPUs, read from the labels GPU feature discovery (GFD) writes
 * and the extended resources the NVIDIA device plugin advertises. The same resource name means
 * different things on different nodes (`nvidia.com/gpu` is a whole GPU, a MIG slice under the
 * single strategy, an MPS share or a time-sliced replica), so the resolver needs this per-node
 * reading to know what a pod would actually get.
 */
import { parseMigProfile, migProfileName } from './catalogue.ts';

export const LABEL_PRODUCT = 'nvidia.com/gpu.product';
export const LABEL_MEMORY = 'nvidia.com/gpu.memory';
export const LABEL_MIG_STRATEGY = 'nvidia.com/mig.strategy';
export const LABEL_SHARING = 'nvidia.com/gpu.sharing-strategy';
export const GPU = 'nvidia.com/gpu';
export const GPU_SHARED = 'nvidia.com/gpu.shared';
const MIG_PREFIX = 'nvidia.com/mig-';

/** The parts of a V1Node we read; anything else may be missing or malformed. */
export interface NodeLike {
  metadata?: { name?: string; labels?: Record<string, string> };
  status?: { allocatable?: Record<string, string> };
  spec?: { unschedulable?: boolean; taints?: Array<{ key?: string; effect?: string }> };
}

export type Offer =
  /** An exclusive MIG slice: `nvidia.com/mig-<profile>` (mixed) or `nvidia.com/gpu` (single). */
  | { kind: 'mig'; profile: string; resource: string; count: number }
  /** An MPS share of a whole GPU (memory and compute limited to 1/replicas). */
  | { kind: 'mps'; resource: string; count: number }
  /** A whole, unshared GPU. */
  | { kind: 'whole'; resource: string; count: number; memoryMiB?: number }
  /** A time-sliced replica: no memory or fault isolation, so no request kind resolves to it. */
  | { kind: 'shared'; resource: string; count: number; profile?: string };

export type MigStrategy = 'none' | 'single' | 'mixed';
export type Sharing = 'none' | 'mps' | 'time-slicing';

export interface DescribedNode {
  name: string;
  /**
   * The node's labels, for matching a pod's own nodeSelector and node affinity, which may name
   * any label (a zone, a product, a driver version), so none can be dropped; their values are
   * shared between nodes (describeNodeInterned), since GPU nodes of one kind carry the same
   * ones. GFD's labels stay put between its runs (its timestamp is taken once per start), so
   * keeping them does not turn every relabel pass into a new snapshot.
   */
  labels: Record<string, string>;
  product?: string;
  /** `nvidia.com/gpu.memory`: per GPU, or per slice under the MIG single strategy. */
  memoryMiB?: number;
  migStrategy: MigStrategy;
  sharing: Sharing;
  offers: Offer[];
}

/** A node's GPU facts. */
export function describeNode(node: NodeLike): DescribedNode {
  return describeNodeInterned(node, (value) => value);
}

/**
 * describeNode, with `intern` (the node view's) returning one string for equal strings, so that
 * thousands of nodes of a few kinds hold each label value once, not once per node. (Keys need
 * no help: V8 keeps one copy of each property name, and of each parsed JSON string value of up
 * to 10 characters, but a product name or a driver version is longer.)
 */
export function describeNodeInterned(node: NodeLike, intern: (value: string) => string): DescribedNode {
  const labels = stringRecord(node?.metadata?.labels, intern);
  const allocatable = stringRecord(node?.status?.allocatable);
  const product = labels[LABEL_PRODUCT] || undefined;
  const memoryMiB = wholeNumber(labels[LABEL_MEMORY]);
  const counts = Object.entries(allocatable)
    .map(([resource, value]) => [resource, wholeNumber(value) ?? 0] as const)
    .filter(([resource, count]) => count > 0 && (resource === GPU || resource === GPU_SHARED || resource.startsWith(MIG_PREFIX)));

  // The labels are authoritative; without GFD, fall back on what the resource names reveal.
  const migLabel = labels[LABEL_MIG_STRATEGY];
  const migStrategy: MigStrategy =
    migLabel === 'single' || migLabel === 'mixed' ? migLabel : counts.some(([r]) => r.startsWith(MIG_PREFIX)) ? 'mixed' : 'none';
  const sharingLabel = labels[LABEL_SHARING];
  const labelled: Sharing = sharingLabel === 'mps' || sharingLabel === 'time-slicing' ? sharingLabel : 'none';
  // Renamed replicas without a label: time-slicing, the weaker guarantee (MPS needs its label).
  const sharing: Sharing = labelled === 'none' && counts.some(([r]) => r.endsWith('.shared')) ? 'time-slicing' : labelled;

  const described: DescribedNode = { name: String(node?.metadata?.name ?? ''), labels, migStrategy, sharing, offers: [] };
  if (product) described.product = product;
  if (memoryMiB !== undefined) described.memoryMiB = memoryMiB;
  if (node?.spec?.unschedulable === true || isCordoned(node)) return described; // nothing new lands there

  for (const [resource, count] of counts) {
    const offer = offerFor(resource, count, migStrategy, labelled, product, memoryMiB);
    if (offer) described.offers.push(offer);
  }
  return described;
}

/**
 * `labelled` is the node's sharing label only. When it says time-slicing, every GPU resource on
 * the node is taken as replicated (the config may replicate only some, but the labels do not
 * say which, and the resolver's node affinity keeps MIG and whole-GPU pods off such nodes
 * anyway). Without a label, only `.shared` names are replicas.
 */
function offerFor(
  resource: string,
  count: number,
  migStrategy: MigStrategy,
  labelled: Sharing,
  product: string | undefined,
  memoryMiB: number | undefined,
): Offer | undefined {
  const replicated = labelled === 'time-slicing' || resource.endsWith('.shared');
  if (resource.startsWith(MIG_PREFIX)) {
    // Time-slicing may replicate MIG slices too; MPS never applies to them.
    const parsed = parseMigProfile(resource.slice(MIG_PREFIX.length).replace(/\.shared$/, ''));
    if (!parsed) return undefined;
    const profile = migProfileName(parsed);
    return replicated ? { kind: 'shared', resource, count, profile } : { kind: 'mig', profile, resource, count };
  }
  // nvidia.com/gpu or nvidia.com/gpu.shared. MPS only ever shares whole GPUs.
  if (labelled === 'mps') return { kind: 'mps', resource, count };
  if (replicated) return { kind: 'shared', resource, count };
  // The strategy label does not say whether MIG is on: the GPU Operator's default policy writes
  // `single` on every GPU node, an L40S or an A100 with MIG off included (and `mig.capable`,
  // `mig.config=all-disabled` do not tell either). What the node offers does: under single, GFD
  // names the product after the slices, `<model>-MIG-<profile>`; `-MIG-INVALID` (mismatched
  // layouts) offers nothing usable.
  const migSuffix = /-MIG-(.+)$/.exec(product ?? '');
  if (migStrategy === 'single' && migSuffix) {
    const parsed = parseMigProfile(migSuffix[1]!);
    return parsed ? { kind: 'mig', profile: migProfileName(parsed), resource, count } : undefined;
  }
  // Whole GPUs: MIG off (whatever the strategy), or left out of MIG on a mixed node.
  const offer: Offer = { kind: 'whole', resource, count };
  if (memoryMiB !== undefined) offer.memoryMiB = memoryMiB;
  return offer;
}

/**
 * `kubectl cordon` sets spec.unschedulable and the node controller mirrors it as this taint;
 * either is enough. Other taints are ignored on purpose: GPU nodes are commonly tainted
 * `nvidia.com/gpu:NoSchedule` and GPU pods tolerate it, and a NotReady node is expected back.
 */
function isCordoned(node: NodeLike): boolean {
  const taints = Array.isArray(node?.spec?.taints) ? node.spec.taints : [];
  return taints.some((taint) => taint?.key === 'node.kubernetes.io/unschedulable');
}

function stringRecord(value: unknown, intern: (value: string) => string = (value) => value): Record<string, string> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return {};
  const out: Record<string, string> = {};
  for (const [key, item] of Object.entries(value)) if (typeof item === 'string') out[key] = intern(item);
  return out;
}

function wholeNumber(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,9}$/.test(value.trim())) return undefined;
  return Number(value.trim());
}
