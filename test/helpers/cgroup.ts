/**
 * A new cgroup under the first hierarchy that takes it: cgroup v1 (one root per controller) or
 * v2 (one unified root). `configure` writes the group's limits; a root where the group cannot be
 * made or configured (no such controller, not root) is skipped, and the half-made group removed.
 * Returns the group's folder, or undefined where no root takes it.
 */
import { existsSync, mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';

export interface CgroupRoot<T> {
  root: string;
  configure(dir: string): void;
  /** What the caller keeps of this layout (its file names), handed back with the folder. */
  layout: T;
}

export function makeCgroup<T>(name: string, roots: CgroupRoot<T>[]): { dir: string; layout: T } | undefined {
  for (const candidate of roots) {
    if (!existsSync(join(candidate.root, 'cgroup.procs'))) continue;
    const dir = join(candidate.root, name);
    try {
      mkdirSync(dir);
      candidate.configure(dir);
    } catch {
      try {
        rmdirSync(dir);
      } catch {
        // never made
      }
      continue;
    }
    return { dir, layout: candidate.layout };
  }
  return undefined;
}
