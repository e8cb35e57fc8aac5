/** What the benchmarks report: one row per figure, some with a target, and the table they print. */
import { cpus } from 'node:os';

export interface Check {
  figure: string;
  value: string;
  /** Figures without a target are shown for context only. */
  target?: string;
  pass?: boolean;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

export function megabytes(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1);
}

export function log(message: string): void {
  console.log(`bench: ${message}`);
}

export function printReport(checks: Check[]): void {
  const cpu = cpus();
  console.log(`\nNode ${process.version}, ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${cpu.length} cores, ${new Date().toISOString()}`);
  const rows = [['figure', 'value', 'target', 'result'], ...checks.map((c) => [c.figure, c.value, c.target ?? '', c.pass === undefined ? '' : c.pass ? 'PASS' : 'FAIL'])];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  for (const [index, row] of rows.entries()) {
    console.log(row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd());
    if (index === 0) console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  }
  const failed = checks.filter((check) => check.pass === false).map((check) => check.figure);
  console.log(failed.length ? `\nFAIL: ${failed.join('; ')}` : '\nPASS: every target met');
}
