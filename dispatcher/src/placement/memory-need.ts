/**
 * How much GPU memory a model needs, in bytes, so that the share chosen for it fits: the
 * request's own `gpu_memory`, else the site's configuration (dispatcher.models.<id>.gpuMemory),
 * else an estimate of weights × overhead from the parameter count. SSIS never asks (reference
 * dispatcher.md §1.4): every model got the first slice in its list, whatever its size. When no
 * need can be known, the answer says what to set rather than guessing: a guess too small is an
 * out-of-memory crash loop, one too large a refusal.
 */
import { quote } from '#core/text/quote.ts';
import { parseQuantity, quantitySpelling } from '#core/validate/quantity.ts';

export type Dtype = 'float32' | 'float16' | 'bfloat16' | 'int8' | 'int4';

/** Bytes per weight. */
export const BYTES_PER_PARAMETER: Readonly<Record<Dtype, number>> = { float32: 4, float16: 2, bfloat16: 2, int8: 1, int4: 0.5 };

/** The schema's defaults (schema/dispatcher.yaml), for a configuration not merged with them. */
const DEFAULT_DTYPE: Dtype = 'bfloat16';
const DEFAULT_OVERHEAD = 1.2;

const MiB = 2 ** 20;
const GiB = 2 ** 30;

export interface ModelMemoryConfig {
  /** A Kubernetes quantity: 20Gi. */
  gpuMemory?: string;
  parametersBillions?: number;
  dtype?: Dtype;
}

/** The keys of the `dispatcher` values this reads (structurally a part of Values['dispatcher']). */
export interface MemoryNeedConfig {
  models?: Readonly<Record<string, ModelMemoryConfig | undefined>>;
  dtype?: Dtype;
  memoryOverhead?: number;
}

export type MemoryNeed =
  /** detail: how the figure was reached, for logs and messages ("8B parameters × 2 bytes (bfloat16) × 1.2 = 19.2 GB"). */
  | { ok: true; bytes: number; source: 'request' | 'configuration' | 'estimate'; detail: string }
  | { ok: false; message: string };

/**
 * `requested` is the request's `gpu_memory` (a quantity such as `20Gi`), when it sent one; a bad
 * one is refused, not passed over, since the caller meant it.
 */
export function memoryNeed(modelId: string, config: MemoryNeedConfig, requested?: string): MemoryNeed {
  if (requested !== undefined) {
    const bytes = parseBytes(requested);
    if ('problem' in bytes) return { ok: false, message: `gpu_memory ${bytes.problem}` };
    return { ok: true, bytes: bytes.bytes, source: 'request', detail: `gpu_memory ${requested} of the request` };
  }

  const { key, model } = modelConfig(modelId, config.models);
  const where = `dispatcher.models.${quote(key)}`;
  if (model?.gpuMemory !== undefined) {
    const bytes = parseBytes(model.gpuMemory);
    if ('problem' in bytes) return { ok: false, message: `${where}.gpuMemory ${bytes.problem}` };
    return { ok: true, bytes: bytes.bytes, source: 'configuration', detail: `${where}.gpuMemory ${model.gpuMemory}` };
  }

  const configured = model?.parametersBillions;
  const billions = configured !== undefined && configured > 0 ? configured : parametersFromModelId(modelId);
  if (billions === undefined) {
    return {
      ok: false,
      message:
        `no GPU memory need is known for model ${quote(modelId)}: its name gives no parameter count (like 8B or 8x7B); ` +
        `set ${where}.gpuMemory (e.g. 20Gi) or ${where}.parametersBillions, or send gpu_memory with the request`,
    };
  }
  const dtype = model?.dtype ?? config.dtype ?? DEFAULT_DTYPE;
  const overhead = config.memoryOverhead ?? DEFAULT_OVERHEAD;
  const bytes = Math.round(billions * 1e9 * BYTES_PER_PARAMETER[dtype] * overhead);
  const from = configured !== undefined && configured > 0 ? `${where}.parametersBillions` : 'the model id';
  return {
    ok: true,
    bytes,
    source: 'estimate',
    detail: `${billions}B parameters (${from}) × ${BYTES_PER_PARAMETER[dtype]} bytes (${dtype}) × ${overhead} = ${Number((bytes / 1e9).toFixed(2))} GB`,
  };
}

/**
 * The parameter count in billions a Hugging Face style model id states: `Llama-3.1-8B` → 8,
 * `Qwen2.5-0.5B-Instruct` → 0.5, `Mixtral-8x7B` → 56 (experts × size: every expert is loaded,
 * which overstates the shared layers; safer than under), `bloom-560m` → 0.56. Undefined when the
 * name states none (`gpt2`, `phi-3-mini-4k`) or only an active count: `Llama-4-Scout-17B-16E` is
 * 17B active of 16 experts, ~109B in all, and an estimate from 17 would crash. A name with two
 * counts takes the larger, for the same reason.
 */
export function parametersFromModelId(modelId: string): number | undefined {
  const name = modelId.slice(modelId.lastIndexOf('/') + 1);
  // A count stands alone between separators: not `A3B` (Qwen3-30B-A3B's active count), not the `5` of `Qwen2.5`.
  const alone = (body: string) => new RegExp(`(?<![A-Za-z0-9.])${body}(?![A-Za-z0-9])`, 'gi');
  if (alone('\\d+e').test(name)) return undefined;
  let largest: number | undefined;
  for (const match of name.matchAll(alone('(?:(\\d{1,3})x)?(\\d{1,4}(?:\\.\\d{1,3})?)([bm])'))) {
    const experts = match[1] ? Number(match[1]) : 1;
    const unit = match[3]!.toLowerCase() === 'b' ? 1 : 1e-3;
    const billions = experts * Number(match[2]) * unit;
    if (billions > 0 && (largest === undefined || billions > largest)) largest = Number(billions.toPrecision(12));
  }
  return largest;
}

/** The model's entry: by its exact id, else one that differs only in case (the Hub treats ids so). */
function modelConfig(modelId: string, models: MemoryNeedConfig['models']): { key: string; model?: ModelMemoryConfig } {
  if (!models) return { key: modelId };
  const exact = models[modelId];
  if (exact) return { key: modelId, model: exact };
  const lower = modelId.toLowerCase();
  const matches = Object.keys(models).filter((key) => key.toLowerCase() === lower && models[key]);
  return matches.length === 1 ? { key: matches[0]!, model: models[matches[0]!]! } : { key: modelId };
}

/**
 * A quantity of bytes, read as the API server reads `memory: 20Gi` (`20GB` is not one, and is
 * answered with the spelling meant). Less than 1 MiB is taken as a mistake: a bare `20` is twenty
 * bytes, more likely meant as GB.
 */
function parseBytes(text: string): { bytes: number } | { problem: string } {
  const quantity = typeof text === 'string' ? parseQuantity(text.trim()) : undefined;
  if (!quantity) {
    const spelling = typeof text === 'string' ? quantitySpelling(text) : undefined;
    return { problem: `${quote(text)} is not a Kubernetes quantity; write ${spelling ?? 'e.g. 20Gi, 20G or 20480Mi'}` };
  }
  if (!Number.isFinite(quantity.value) || quantity.value < MiB) {
    return { problem: `${quote(text)} is ${Number.isFinite(quantity.value) ? `${quantity.value} bytes` : 'out of range'}, not an amount of GPU memory; write e.g. 20Gi` };
  }
  if (quantity.value > 1024 * GiB) return { problem: `${quote(text)} is more than 1 TiB, more than any GPU has; write e.g. 20Gi` };
  return { bytes: Math.ceil(quantity.value) };
}
