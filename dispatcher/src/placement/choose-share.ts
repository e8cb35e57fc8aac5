/**
 * Which GPU share a model gets: the smallest free one whose memory holds the model's need
 * (reference dispatcher.md §5 item 4), among the resources the site allows. Smallest first
 * keeps the large slices for the large models; exclusive MIG before MPS before whole GPUs at
 * the same memory, since MIG isolates memory and faults and a whole GPU is the most to give
 * away; then the node with the fewest of that share free, so that partly used nodes fill up and
 * whole nodes stay free for what needs them.
 *
 * Also SSIS's choice, for the placement benchmark to compare against (chooseShareSsis).
 */
import type { NodeLike } from '#core/gpu/node-gpus.ts';
import { parseMigProfile } from '#core/gpu/catalogue.ts';
import { parseQuantity } from '#core/validate/quantity.ts';
import type { FreeShare, ShareKind } from './free-shares.ts';

const GiB = 2 ** 30;
const MiB = 2 ** 20;
/** Groups a message lists before "and N more". */
const SHOWN = 8;

export interface ChooseShareOptions {
  /** dispatcher.gpuResources: the resource names allowed; empty or absent allows every MIG, MPS and whole-GPU share. */
  gpuResources?: readonly string[];
}

/** The environment a model server on an MPS share needs; empty for MIG and whole GPUs. */
export interface ShareEnv {
  CUDA_MPS_ACTIVE_THREAD_PERCENTAGE?: string;
  CUDA_MPS_PINNED_DEVICE_MEM_LIMIT?: string;
}

export type ShareChoice =
  | { ok: true; node: string; resource: string; kind: ShareKind; profile?: string; memoryBytes: number; env: ShareEnv }
  /**
   * retryable: a share that fits exists but is in use, so the caller's 503 may carry
   * Retry-After; false when no allowed share is large enough even when free (a retry cannot help,
   * the configuration or the cluster must change).
   */
  | { ok: false; message: string; retryable: boolean };

const KIND_ORDER: Record<ShareKind, number> = { mig: 0, mps: 1, whole: 2 };

export function chooseShare(needBytes: number, shares: readonly FreeShare[], options: ChooseShareOptions = {}): ShareChoice {
  const allowList = options.gpuResources ?? [];
  const allowed = allowList.length === 0 ? shares : shares.filter((share) => allowList.includes(share.resource));
  const fits = (share: FreeShare): share is FreeShare & { memoryBytes: number } => share.memoryBytes !== undefined && share.memoryBytes >= needBytes;
  const candidates = allowed.filter((share) => share.free > 0 && fits(share)).sort(compareShares);
  const best = candidates[0];
  if (!best) return refusal(needBytes, shares, allowed, fits);

  const choice: ShareChoice = { ok: true, node: best.node, resource: best.resource, kind: best.kind, memoryBytes: best.memoryBytes!, env: {} };
  if (best.profile) choice.profile = best.profile;
  if (best.kind === 'mps') {
    if (best.activeThreadPercentage !== undefined) choice.env.CUDA_MPS_ACTIVE_THREAD_PERCENTAGE = String(best.activeThreadPercentage);
    // The MPS daemon the device plugin starts already caps each client at its share; the
    // client's own cap says the same, so a server that sizes its KV cache from free memory
    // (vLLM, TGI) sees the share rather than the GPU. The container sees one GPU: device 0.
    choice.env.CUDA_MPS_PINNED_DEVICE_MEM_LIMIT = `0=${Math.floor(best.memoryBytes! / MiB)}M`;
  }
  return choice;
}

function compareShares(a: FreeShare, b: FreeShare): number {
  return (
    a.memoryBytes! - b.memoryBytes! ||
    KIND_ORDER[a.kind] - KIND_ORDER[b.kind] ||
    // Same memory, two MIG profiles (1g.20gb, 2g.20gb): the fewer compute slices, and the slice
    // without the media engines, leave the more capable one for later.
    migRank(a) - migRank(b) ||
    a.free - b.free ||
    (a.node < b.node ? -1 : a.node > b.node ? 1 : 0) ||
    (a.resource < b.resource ? -1 : a.resource > b.resource ? 1 : 0)
  );
}

function migRank(share: FreeShare): number {
  const parsed = share.profile ? parseMigProfile(share.profile) : undefined;
  return parsed ? parsed.slices * 2 + (parsed.media ? 1 : 0) : 0;
}

/**
 * "no free GPU share has 40 GiB: free are 3× mig-1g.10gb (10 GiB), 1× gpu.shared (20 GiB) on 2
 * nodes", then what would change the answer: shares that fit but are in use, shares that fit
 * but are not allowed, shares whose memory the node does not say.
 */
function refusal(
  needBytes: number,
  all: readonly FreeShare[],
  allowed: readonly FreeShare[],
  fits: (share: FreeShare) => boolean,
): ShareChoice {
  const need = formatBytes(needBytes);
  const free = allowed.filter((share) => share.free > 0 && share.memoryBytes !== undefined);
  const freeNodes = new Set(free.map((share) => share.node)).size;
  const parts = [
    free.length === 0
      ? `no free GPU share has ${need}: none is free`
      : `no free GPU share has ${need}: free are ${summarise(free, (share) => share.free)} on ${freeNodes === 1 ? '1 node' : `${freeNodes} nodes`}`,
  ];

  const busy = allowed.filter((share) => share.free === 0 && fits(share));
  if (busy.length > 0) parts.push(`${summarise(busy, (share) => share.allocatable)} would fit and ${busy.length === 1 && busy[0]!.allocatable === 1 ? 'is' : 'are'} in use`);
  else {
    const largest = Math.max(0, ...allowed.map((share) => share.memoryBytes ?? 0));
    parts.push(largest > 0 ? `no allowed share is that large (the largest has ${formatBytes(largest)})` : 'the nodes offer no allowed GPU share');
  }

  const allowedSet = new Set(allowed);
  const elsewhere = all.filter((share) => !allowedSet.has(share) && fits(share));
  if (elsewhere.length > 0) {
    const names = [...new Set(elsewhere.map((share) => share.resource))].sort();
    parts.push(`${names.slice(0, SHOWN).join(', ')} would fit but ${names.length === 1 ? 'is' : 'are'} not in dispatcher.gpuResources`);
  }

  const unknown = allowed.filter((share) => share.memoryBytes === undefined && share.free > 0);
  if (unknown.length > 0) {
    const nodes = [...new Set(unknown.map((share) => share.node))].sort();
    parts.push(`${nodes.slice(0, SHOWN).join(', ')}${nodes.length > SHOWN ? ` and ${nodes.length - SHOWN} more` : ''} ${nodes.length === 1 ? 'has' : 'have'} free shares of unknown memory (no nvidia.com/gpu.memory label)`);
  }
  return { ok: false, message: parts.join('; '), retryable: busy.length > 0 };
}

/**
 * "3× mig-1g.10gb (10 GiB), 1× gpu.shared (MPS, 20 GiB)": by what a share is and its memory,
 * smallest first. A name that does not say what it gives (nvidia.com/gpu is a MIG slice, an MPS
 * share or a whole GPU depending on the node) gets its kind.
 */
function summarise(shares: readonly FreeShare[], count: (share: FreeShare) => number): string {
  const groups = new Map<string, { label: string; kind: ShareKind; memoryBytes: number; count: number }>();
  for (const share of shares) {
    const name = share.resource.replace(/^nvidia\.com\//, '');
    const kind = share.kind === 'mig' ? (name.startsWith('mig-') ? '' : `MIG ${share.profile}, `) : share.kind === 'mps' ? 'MPS, ' : 'whole GPU, ';
    const label = `${name} (${kind}${formatBytes(share.memoryBytes ?? 0)})`;
    const group = groups.get(label) ?? groups.set(label, { label, kind: share.kind, memoryBytes: share.memoryBytes ?? 0, count: 0 }).get(label)!;
    group.count += count(share);
  }
  const sorted = [...groups.values()].sort((a, b) => a.memoryBytes - b.memoryBytes || KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || (a.label < b.label ? -1 : 1));
  const shown = sorted.slice(0, SHOWN).map((group) => `${group.count}× ${group.label}`);
  if (sorted.length > SHOWN) shown.push(`and ${sorted.length - SHOWN} more`);
  return shown.join(', ');
}

/** GiB with up to two decimals, so that 44.99 GiB is not shown as the 45 GiB it does not hold. */
export function formatBytes(bytes: number): string {
  if (bytes >= GiB) return `${Number((bytes / GiB).toFixed(2))} GiB`;
  return `${Number((bytes / MiB).toFixed(0))} MiB`;
}

/** The parts of a V1Node SSIS reads. */
export interface CapacityNodeLike extends NodeLike {
  status?: NodeLike['status'] & { capacity?: Record<string, string> };
}

/**
 * SSIS's slice choice (SSIS processor.go, reference dispatcher.md §1.4), for comparison: the first
 * name in the configured list (smallest first) whose summed node CAPACITY is above 0, whatever
 * the model's size and whatever is in use, cordoned nodes included. When none has any, SSIS still
 * takes the first name (its pod then stays Pending); undefined only for an empty list. A node
 * without status.capacity is read from allocatable, which for GPUs differs only by unhealthy
 * devices.
 */
export function chooseShareSsis(allowedOrdered: readonly string[], nodes: readonly CapacityNodeLike[]): string | undefined {
  const capacity = (resource: string) =>
    nodes.reduce((sum, node) => {
      const text = (node?.status?.capacity ?? node?.status?.allocatable)?.[resource];
      const value = text === undefined ? undefined : parseQuantity(text)?.value;
      return sum + (value !== undefined && Number.isFinite(value) && value > 0 ? value : 0);
    }, 0);
  return allowedOrdered.find((resource) => capacity(resource) > 0) ?? allowedOrdered[0];
}
