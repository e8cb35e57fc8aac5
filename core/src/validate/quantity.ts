/**
 * Kubernetes quantities (resource.Quantity), as the API server reads `memory: 16Gi`: a signed
 * decimal number, then one case-sensitive suffix: binary `Ki Mi Gi Ti Pi Ei` (powers of 1024),
 * decimal `m` (milli, one thousandth) `k M G T P E` (powers of 1000), or a decimal exponent
 * `e<n>` / `E<n>`; no suffix is the number itself. `10m` is a hundredth of a unit, not ten
 * megabytes, and `1GB`, `1gb` or `1gi` are not quantities at all.
 */

const SUFFIXES: Record<string, number> = {
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
  m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
};

// <signedNumber><suffix>, from the grammar in k8s.io/apimachinery/pkg/api/resource/quantity.go.
const QUANTITY = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/;

export interface Quantity {
  /** The number the quantity stands for (may be fractional, or not finite when out of range). */
  value: number;
  /** The suffix as written: '' for none, `e3` for an exponent. */
  suffix: string;
}

/** The quantity `text` stands for, or undefined when it is not one. */
export function parseQuantity(text: string): Quantity | undefined {
  const match = QUANTITY.exec(text);
  if (!match) return undefined;
  const [, number, suffix = ''] = match;
  // Written back as one JS number literal, so 1e3, 0.1e1 and the like are exact where they can be.
  if (suffix[0] === 'e' || suffix[0] === 'E') return { value: Number(`${number}e${suffix.slice(1)}`), suffix };
  // Milli divides rather than multiplies by 0.001, so 10m is exactly 0.01.
  const value = suffix === 'm' ? Number(number) / 1000 : Number(number) * SUFFIXES[suffix]!;
  return { value, suffix };
}

/**
 * For a text that is not a quantity but looks like a size in another spelling (`10GB`, `10gi`,
 * `10GiB`, `10kb`, `512 Mi`), the Kubernetes spellings meant: "10G or 10Gi", "10Gi"; else
 * undefined. `explain` says which is which: "10G (powers of 1000) or 10Gi (powers of 1024)".
 * The one hint of both the GPU-memory asks and `supersonic validate`.
 */
export function quantitySpelling(text: string, explain = false): string | undefined {
  const match = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*([a-zA-Z]{1,3})$/.exec(text.trim());
  if (!match) return undefined;
  const number = match[1]!.length > 20 ? '10' : match[1]!;
  let unit = match[2]!.toLowerCase();
  if (unit.length > 1 && unit.endsWith('b')) unit = unit.slice(0, -1);
  const prefix = unit[0]!;
  if (!'kmgtpe'.includes(prefix)) return undefined;
  const decimal = prefix === 'k' ? 'k' : prefix.toUpperCase();
  const binary = `${prefix.toUpperCase()}i`;
  if (unit.length === 2 && unit[1] === 'i') return `${number}${binary}`;
  if (unit.length === 1) return explain ? `${number}${decimal} (powers of 1000) or ${number}${binary} (powers of 1024)` : `${number}${decimal} or ${number}${binary}`;
  return undefined;
}
