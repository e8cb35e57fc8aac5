/**
 * "Did you mean": the nearest known name to a typo, for `supersonic validate`, the webhook's
 * annotation and configuration checks, and the tests' checkers. No imports, so it runs in the
 * browser editor too.
 */

/**
 * The candidate within a small edit distance of `word` (case-insensitive), or undefined. The
 * tolerance grows with the word, so long names such as "imagePullPolcy" still match; a word
 * over 64 characters is not compared (a pod could send megabytes of key).
 */
export function closestName(word: string, candidates: readonly string[]): string | undefined {
  if (word.length > 64) return undefined;
  const tolerance = Math.max(2, Math.floor(word.length / 4));
  const lower = word.toLowerCase();
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(lower, candidate.toLowerCase());
    if (distance <= tolerance && (!best || distance < best.distance)) best = { candidate, distance };
  }
  return best?.candidate;
}

/** Levenshtein distance, one row at a time. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length]!;
}
