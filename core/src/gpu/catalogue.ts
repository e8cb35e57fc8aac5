/**
 * NVIDIA MIG profiles per GPU model, and the names Kubernetes uses for them. Shared by the
 * webhook (which turns a pod's GPU annotations into resource requests) and the dispatcher.
 *
 * Source: NVIDIA's MIG user guide ("Supported MIG profiles") and the default config of
 * mig-parted (the tool the GPU operator uses to partition GPUs). Where the guide lists a profile without a count, the
 * count follows the pattern every other 7-slice GPU has (1g ×7, 1g double-memory ×4, 2g ×3,
 * 3g ×2, 4g ×1, 7g ×1); those entries are marked below.
 */

export interface MigProfileSpec {
  /** As NVIDIA writes it: `1g.10gb`, or `1g.10gb+me` for the slice that owns the media engines. */
  name: string;
  /** Compute slices (the `g` number). */
  slices: number;
  /** Memory in GB as written in the name; the usable amount is a little lower (1g.10gb ≈ 9984 MiB). */
  memoryGB: number;
  /** How many instances of this profile fit on one GPU. */
  maxInstances: number;
}

export interface GpuModel {
  model: string;
  profiles: MigProfileSpec[];
}

/** `['1g.10gb', 7]` → a spec; the slices and memory are read from the name so they cannot disagree. */
function model(name: string, profiles: Array<[string, number]>): GpuModel {
  return {
    model: name,
    profiles: profiles.map(([profile, maxInstances]) => {
      const parsed = parseMigProfile(profile)!;
      return { name: profile, slices: parsed.slices, memoryGB: parsed.memoryGB, maxInstances };
    }),
  };
}

const A100_80GB: Array<[string, number]> = [['1g.10gb', 7], ['1g.10gb+me', 1], ['1g.20gb', 4], ['2g.20gb', 3], ['3g.40gb', 2], ['4g.40gb', 1], ['7g.80gb', 1]];

export const GPU_CATALOGUE: readonly GpuModel[] = [
  model('A100-40GB', [['1g.5gb', 7], ['1g.5gb+me', 1], ['1g.10gb', 4], ['2g.10gb', 3], ['3g.20gb', 2], ['4g.20gb', 1], ['7g.40gb', 1]]),
  model('A100-80GB', A100_80GB),
  model('A30', [['1g.6gb', 4], ['1g.6gb+me', 1], ['2g.12gb', 2], ['2g.12gb+me', 1], ['4g.24gb', 1]]),
  // The H100 80 GB parts use the same profile names as the A100 80 GB.
  model('H100-80GB', A100_80GB),
  model('H100-94GB', [['1g.12gb', 7], ['1g.12gb+me', 1], ['1g.24gb', 4], ['2g.24gb', 3], ['3g.47gb', 2], ['4g.47gb', 1], ['7g.94gb', 1]]),
  // H100 96 GB, the H100 in a GH200 (96 GB) and the H20: counts inferred from the pattern.
  model('H100-96GB', [['1g.12gb', 7], ['1g.24gb', 4], ['2g.24gb', 3], ['3g.48gb', 2], ['4g.48gb', 1], ['7g.96gb', 1]]),
  model('H200', [['1g.18gb', 7], ['1g.18gb+me', 1], ['1g.35gb', 4], ['2g.35gb', 3], ['3g.71gb', 2], ['4g.71gb', 1], ['7g.141gb', 1]]),
  // 1g.18gb count inferred.
  model('GH200-144G', [['1g.18gb', 7], ['1g.36gb', 4], ['2g.36gb', 3], ['3g.72gb', 2], ['4g.72gb', 1], ['7g.144gb', 1]]),
  model('B200', [['1g.23gb', 7], ['1g.23gb+me', 1], ['1g.45gb', 4], ['2g.45gb', 3], ['3g.90gb', 2], ['4g.90gb', 1], ['7g.180gb', 1]]),
  // Counts inferred; mig-parted also lists 1g.47gb ×4 for it without a device filter.
  model('GB200', [['1g.23gb', 7], ['1g.47gb', 4], ['2g.47gb', 3], ['3g.93gb', 2], ['4g.93gb', 1], ['7g.186gb', 1]]),
  model('B300', [['1g.34gb', 7], ['1g.67gb', 4], ['2g.67gb', 3], ['3g.135gb', 2], ['4g.135gb', 1], ['7g.269gb', 1]]),
  model('GB300', [['1g.35gb', 7], ['1g.70gb', 4], ['2g.70gb', 3], ['3g.139gb', 2], ['4g.139gb', 1], ['7g.278gb', 1]]),
  // The +gfx / +me / -me variants of this card are not listed: their resource names are unverified.
  model('RTX PRO 6000', [['1g.24gb', 4], ['2g.48gb', 2], ['4g.96gb', 1]]),
];

export interface ParsedMigProfile {
  slices: number;
  memoryGB: number;
  /** True for the `+me` slice, which holds the GPU's media engines (NVDEC, NVJPG, OFA). */
  media: boolean;
}

/**
 * `1g.10gb` → `{ slices: 1, memoryGB: 10, media: false }`. Accepts NVIDIA's `1g.5gb+me` and the
 * resource-name form `1g.5gb.me`, in any case; anything else (including the CI-sharing form
 * `1c.3g.20gb`, which the device plugin never advertises) is undefined.
 */
export function parseMigProfile(text: string): ParsedMigProfile | undefined {
  const match = /^([1-8])g\.(\d{1,3})gb(?:[+.](me))?$/.exec(text.trim().toLowerCase());
  if (!match) return undefined;
  const memoryGB = Number(match[2]);
  if (memoryGB === 0) return undefined;
  return { slices: Number(match[1]), memoryGB, media: match[3] === 'me' };
}

/** The canonical (NVIDIA) spelling: `1G.5GB.me` → `1g.5gb+me`. */
export function migProfileName(profile: ParsedMigProfile): string {
  return `${profile.slices}g.${profile.memoryGB}gb${profile.media ? '+me' : ''}`;
}

/**
 * The extended resource the device plugin advertises for a profile under the mixed strategy:
 * `1g.10gb` → `nvidia.com/mig-1g.10gb`, `1g.5gb+me` → `nvidia.com/mig-1g.5gb.me` (Kubernetes
 * resource names cannot contain `+`). Throws on something that is not a profile.
 */
export function migResourceName(profile: string): string {
  const parsed = parseMigProfile(profile);
  if (!parsed) throw new Error(`not a MIG profile: ${JSON.stringify(profile)}`);
  return `nvidia.com/mig-${migProfileName(parsed).replace('+', '.')}`;
}

/**
 * The catalogue entry for a `nvidia.com/gpu.product` label value, or undefined for GPUs
 * without MIG (L40, T4, …). GPU feature discovery writes the name `nvidia-smi` shows with
 * spaces as dashes (`NVIDIA-A100-SXM4-80GB`, `NVIDIA-H100-80GB-HBM3`) and appends
 * `-MIG-<profile>` under the single strategy and `-SHARED` when a sharing strategy replicates.
 */
export function gpuModelOf(productLabel: string | undefined): GpuModel | undefined {
  if (!productLabel) return undefined;
  const name = productLabel
    .toUpperCase()
    .replace(/-SHARED$/, '')
    .replace(/-MIG-.*$/, '')
    .replace(/^NVIDIA-/, '');
  const byName = (wanted: string) => GPU_CATALOGUE.find((entry) => entry.model === wanted);
  // Order matters: GH200 before H200, H200 before H20, GB200 before B200.
  if (/^A30($|-)/.test(name)) return byName('A30');
  if (/^A[18]00($|-)/.test(name)) return byName(name.includes('80GB') ? 'A100-80GB' : 'A100-40GB');
  if (/^GH200($|-)/.test(name)) return byName(/144G/.test(name) ? 'GH200-144G' : 'H100-96GB');
  if (/^H200($|-)/.test(name)) return byName('H200');
  if (/^H20($|-)/.test(name)) return byName('H100-96GB');
  if (/^H[18]00($|-)/.test(name)) {
    if (name.includes('NVL') || name.includes('94GB')) return byName('H100-94GB');
    return byName(name.includes('96GB') ? 'H100-96GB' : 'H100-80GB');
  }
  if (/^GB200($|-)/.test(name)) return byName('GB200');
  if (/^B200($|-)/.test(name)) return byName('B200');
  if (/^GB300($|-)/.test(name)) return byName('GB300');
  if (/^B300($|-)/.test(name)) return byName('B300');
  if (/^RTX-PRO-6000(-|$)/.test(name)) return byName('RTX PRO 6000');
  return undefined;
}

/** Whether any GPU in the catalogue has this profile (for a hint when a name looks mistyped). */
export function isKnownMigProfile(profile: string): boolean {
  const parsed = parseMigProfile(profile);
  if (!parsed) return false;
  const name = migProfileName(parsed);
  return GPU_CATALOGUE.some((entry) => entry.profiles.some((spec) => spec.name === name));
}
