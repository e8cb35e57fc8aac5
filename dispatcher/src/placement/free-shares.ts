/**
 * What is FREE on each GPU node: for every MIG slice, MPS share or whole GPU a node offers
 * (describeNode, counts from node allocatable), the allocatable count minus what the node's pods
 * request of that resource, with the memory one share gives. SSIS sums node capacity and never
 * subtracts usage (reference dispatcher.md §1.4, §1.10 item 4), so it keeps choosing a slice that
 * is used up and its pod stays Pending; this is the count the scheduler itself works from.
 *
 * Which pods count, as the scheduler counts them:
 * - bound pods only (spec.nodeName set). A pod not yet bound holds nothing anywhere: the
 *   scheduler has not placed it. A caller that has just created a model's Service and wants its
 *   pod counted before it binds passes a PodLike of its own, with the node it chose.
 * - not terminal: Succeeded and Failed pods have released their devices. A terminating pod
 *   (deletionTimestamp set) still counts: the kubelet holds its devices until it is gone.
 */
import { parseMigProfile } from '#core/gpu/catalogue.ts';
import { GPU, type DescribedNode, type Offer } from '#core/gpu/node-gpus.ts';
import { parseQuantity } from '#core/validate/quantity.ts';

const GiB = 2 ** 30;
const MiB = 2 ** 20;
/** GFD's share count of a sharing strategy (`nvidia.com/gpu.replicas`), and the GPUs it applies to. */
const LABEL_REPLICAS = `${GPU}.replicas`;
const LABEL_COUNT = `${GPU}.count`;

type Quantities = Record<string, string | undefined>;

export interface ContainerLike {
  resources?: { requests?: Quantities; limits?: Quantities };
  /** `Always` on an init container makes it a sidecar (Kubernetes ≥ 1.29): it runs beside the app. */
  restartPolicy?: string;
}

/** The parts of a V1Pod this reads. */
export interface PodLike {
  metadata?: { name?: string; namespace?: string };
  spec?: {
    nodeName?: string;
    containers?: ContainerLike[];
    initContainers?: ContainerLike[];
    /** RuntimeClass overhead, added to the pod's requests as the scheduler does. */
    overhead?: Quantities;
  };
  status?: { phase?: string };
}

export type ShareKind = 'mig' | 'mps' | 'whole';

export interface FreeShare {
  node: string;
  resource: string;
  kind: ShareKind;
  /** MIG only: the canonical profile (`1g.10gb`, `1g.10gb+me`). */
  profile?: string;
  allocatable: number;
  /** allocatable − what the node's pods request, never below 0. */
  free: number;
  /** GPU memory of one share; undefined when the node's labels do not say (no nvidia.com/gpu.memory). */
  memoryBytes?: number;
  /** MPS only: CUDA_MPS_ACTIVE_THREAD_PERCENTAGE for a client of this share. */
  activeThreadPercentage?: number;
}

export interface FreeShareOptions {
  /** CUDA_MPS_ACTIVE_THREAD_PERCENTAGE by resource name (dispatcher.mpsActiveThreadPercentage). */
  mpsActiveThreadPercentage?: Readonly<Record<string, number | undefined>>;
}

/**
 * Every MIG, MPS and whole-GPU offer of `nodes`, free count included (0 when used up, so that
 * messages can say what would fit once freed). Time-sliced replicas are left out: they isolate
 * neither memory nor faults, so no memory need can be said to fit one. Pods on nodes not in
 * `nodes` are ignored.
 */
export function freeShares(nodes: readonly DescribedNode[], pods: readonly PodLike[], options: FreeShareOptions = {}): FreeShare[] {
  const used = requestedByNode(pods);
  const shares: FreeShare[] = [];
  for (const node of nodes) {
    const onNode = used.get(node.name);
    for (const offer of node.offers) {
      if (offer.kind === 'shared') continue;
      const share: FreeShare = {
        node: node.name,
        resource: offer.resource,
        kind: offer.kind,
        allocatable: offer.count,
        free: Math.max(0, offer.count - (onNode?.get(offer.resource) ?? 0)),
      };
      if (offer.kind === 'mig') share.profile = offer.profile;
      const memoryBytes = shareMemoryBytes(node, offer);
      if (memoryBytes !== undefined) share.memoryBytes = memoryBytes;
      if (offer.kind === 'mps') {
        share.activeThreadPercentage = options.mpsActiveThreadPercentage?.[offer.resource] ?? defaultThreadPercentage(mpsReplicas(node, offer));
      }
      shares.push(share);
    }
  }
  return shares;
}

/**
 * The memory of a MIG profile as its name gives it, in GiB: `1g.10gb` → 10 GiB. The usable
 * memory is a little lower (GFD reports 9728 MiB for an A100's 1g.10gb), but the webhook's
 * `gpu-memory` resolver compares the same nominal GiB (#core/gpu/resolve.ts), so a model
 * configured with `gpuMemory: 10Gi` gets the same slice from either. Undefined for a text that is
 * not a profile. (A helper the core's catalogue lacks.)
 */
export function migProfileBytes(profile: string): number | undefined {
  const parsed = parseMigProfile(profile);
  return parsed ? parsed.memoryGB * GiB : undefined;
}

/** CUDA_MPS_ACTIVE_THREAD_PERCENTAGE for one of `replicas` shares: 100 / replicas, rounded down, at least 1. */
export function defaultThreadPercentage(replicas: number | undefined): number {
  if (!replicas || replicas < 1) return 100;
  return Math.max(1, Math.floor(100 / replicas));
}

function shareMemoryBytes(node: DescribedNode, offer: Exclude<Offer, { kind: 'shared' }>): number | undefined {
  switch (offer.kind) {
    case 'mig':
      return migProfileBytes(offer.profile);
    case 'whole':
      return offer.memoryMiB === undefined ? undefined : offer.memoryMiB * MiB;
    case 'mps': {
      // The device plugin splits memory evenly: each of the GPU's replicas gets 1/replicas.
      const replicas = mpsReplicas(node, offer);
      return node.memoryMiB === undefined || !replicas ? undefined : Math.floor((node.memoryMiB * MiB) / replicas);
    }
  }
}

/**
 * How many shares each GPU is split into: GFD's `nvidia.com/gpu.replicas` (or the same label under
 * a renamed resource), else allocatable over `nvidia.com/gpu.count` physical GPUs.
 */
function mpsReplicas(node: DescribedNode, offer: Offer): number | undefined {
  for (const label of [`${offer.resource}.replicas`, LABEL_REPLICAS]) {
    const replicas = positiveInteger(node.labels[label]);
    if (replicas) return replicas;
  }
  const gpus = positiveInteger(node.labels[LABEL_COUNT]);
  return gpus && offer.count % gpus === 0 ? offer.count / gpus : undefined;
}

/** Node name → resource → what its non-terminal bound pods request. */
function requestedByNode(pods: readonly PodLike[]): Map<string, Map<string, number>> {
  const byNode = new Map<string, Map<string, number>>();
  for (const pod of pods) {
    const node = pod?.spec?.nodeName;
    const phase = pod?.status?.phase;
    if (!node || phase === 'Succeeded' || phase === 'Failed') continue;
    const total = byNode.get(node) ?? byNode.set(node, new Map()).get(node)!;
    add(total, podRequests(pod));
  }
  return byNode;
}

/**
 * A pod's effective request of each resource, as Kubernetes computes it (PodRequests in
 * k8s.io/component-helpers/resource): the app containers' sum, plus sidecars (restartable init
 * containers), which run beside them; or, if higher, the peak while init containers run one by
 * one, each beside the sidecars started before it; plus the RuntimeClass overhead.
 */
export function podRequests(pod: PodLike): Map<string, number> {
  const total = new Map<string, number>();
  for (const container of list(pod?.spec?.containers)) add(total, containerRequests(container));
  const sidecars = new Map<string, number>();
  const initPeak = new Map<string, number>();
  for (const container of list(pod?.spec?.initContainers)) {
    const asks = containerRequests(container);
    if (container?.restartPolicy === 'Always') {
      add(total, asks);
      add(sidecars, asks);
      atLeast(initPeak, sidecars);
    } else {
      const running = new Map(sidecars);
      add(running, asks);
      atLeast(initPeak, running);
    }
  }
  atLeast(total, initPeak);
  add(total, quantities(pod?.spec?.overhead));
  return total;
}

/**
 * The larger of requests and limits per resource: for extended resources a limit alone sets
 * the request (and the API server refuses a request that differs from the limit), so this is
 * what the scheduler counts whichever the pod wrote.
 */
function containerRequests(container: ContainerLike): Map<string, number> {
  const asks = quantities(container?.resources?.requests);
  atLeast(asks, quantities(container?.resources?.limits));
  return asks;
}

/** Device counts are whole numbers; anything unreadable counts as nothing (the API server would not have admitted it). */
function quantities(record: Quantities | undefined): Map<string, number> {
  const out = new Map<string, number>();
  if (!record || typeof record !== 'object') return out;
  for (const [name, text] of Object.entries(record)) {
    const value = typeof text === 'string' ? parseQuantity(text)?.value : undefined;
    if (value !== undefined && Number.isFinite(value) && value > 0) out.set(name, Math.ceil(value));
  }
  return out;
}

function add(into: Map<string, number>, from: ReadonlyMap<string, number>): void {
  for (const [name, value] of from) into.set(name, (into.get(name) ?? 0) + value);
}

function atLeast(into: Map<string, number>, from: ReadonlyMap<string, number>): void {
  for (const [name, value] of from) into.set(name, Math.max(into.get(name) ?? 0, value));
}

function list<T>(value: T[] | undefined): T[] {
  return Array.isArray(value) ? value : [];
}

function positiveInteger(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,6}$/.test(text.trim())) return undefined;
  const value = Number(text.trim());
  return value > 0 ? value : undefined;
}
