/**
 * A memory cgroup with a limit, for running a process as Kubernetes would under a container
 * memory limit: Node reads the limit at start and sizes its heap to it, and the kernel charges
 * the process's memory to the group (the figure limits, OOM kills and `kubectl top` use).
 * cgroup v1 (`/sys/fs/cgroup/memory`) or v2 (`/sys/fs/cgroup` with the memory controller);
 * needs root. Returns undefined where neither can be created.
 */
import { readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeCgroup } from './cgroup.ts';

export interface MemoryCgroup {
  /** A command that joins the group, then runs `command` (exec, so the pid stays the same). */
  wrap(command: string[]): string[];
  /** Memory charged to the group now, in bytes. */
  usageBytes(): number;
  /** Removes the group; its processes must have exited. */
  remove(): void;
}

const LAYOUTS = [
  { root: '/sys/fs/cgroup/memory', limit: 'memory.limit_in_bytes', usage: 'memory.usage_in_bytes' },
  { root: '/sys/fs/cgroup', limit: 'memory.max', usage: 'memory.current' },
];

export function createMemoryCgroup(name: string, limitBytes: number): MemoryCgroup | undefined {
  const made = makeCgroup(name, LAYOUTS.map((layout) => ({ root: layout.root, layout, configure: (dir: string) => writeFileSync(join(dir, layout.limit), String(limitBytes)) })));
  if (!made) return undefined;
  const { dir, layout } = made;
  return {
    wrap: (command) => ['sh', '-c', `echo $$ > ${join(dir, 'cgroup.procs')} && exec "$0" "$@"`, ...command],
    usageBytes: () => Number(readFileSync(join(dir, layout.usage), 'utf8')),
    remove: () => rmdirSync(dir),
  };
}
