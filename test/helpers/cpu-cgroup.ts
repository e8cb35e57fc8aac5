/**
 * A CPU cgroup with a quota, for running a process as Kubernetes runs a container with a CPU
 * limit (CFS quota per period): `make bench` finds the rate one replica holds within one CPU.
 * cgroup v1 (`/sys/fs/cgroup/cpu`) or v2 (`/sys/fs/cgroup` with the cpu controller); needs root.
 * Returns undefined where neither can be created.
 */
import { rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeCgroup } from './cgroup.ts';

export interface CpuCgroup {
  /** Moves a running process (all its threads) into the group. */
  join(pid: number): void;
  /** Removes the group; its processes must have exited. */
  remove(): void;
}

const PERIOD_US = 100_000;

export function createCpuCgroup(name: string, cpus: number): CpuCgroup | undefined {
  const quota = Math.round(cpus * PERIOD_US);
  const layouts = [
    { root: '/sys/fs/cgroup/cpu', write: (dir: string) => (writeFileSync(join(dir, 'cpu.cfs_period_us'), String(PERIOD_US)), writeFileSync(join(dir, 'cpu.cfs_quota_us'), String(quota))) },
    { root: '/sys/fs/cgroup', write: (dir: string) => writeFileSync(join(dir, 'cpu.max'), `${quota} ${PERIOD_US}`) },
  ];
  const made = makeCgroup(name, layouts.map((layout) => ({ root: layout.root, configure: layout.write, layout: undefined })));
  if (!made) return undefined;
  const { dir } = made;
  return {
    join: (pid) => writeFileSync(join(dir, 'cgroup.procs'), String(pid)),
    remove: () => rmdirSync(dir),
  };
}
