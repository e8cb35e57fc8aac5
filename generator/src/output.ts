import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { listFiles } from './render/templates.ts';

export interface Drift {
  /** Generated content differs from the file on disk. */
  stale: string[];
  /** A generated file that does not exist on disk. */
  missing: string[];
  /** A file in a generated folder that the generator no longer produces. */
  extra: string[];
}

/** Compares generated files with the working tree. */
export function findDrift(repoRoot: string, files: Map<string, string>, ownedDirs: string[]): Drift {
  const drift: Drift = { stale: [], missing: [], extra: [] };
  for (const [path, content] of files) {
    const abs = join(repoRoot, path);
    if (!existsSync(abs)) drift.missing.push(path);
    else if (readFileSync(abs, 'utf8') !== content) drift.stale.push(path);
  }
  drift.extra = ownedFiles(repoRoot, ownedDirs).filter((path) => !files.has(path));
  return drift;
}

/** Writes what changed and removes files the generator no longer produces. */
export function writeFiles(repoRoot: string, files: Map<string, string>, ownedDirs: string[]): Drift {
  const drift = findDrift(repoRoot, files, ownedDirs);
  for (const path of [...drift.stale, ...drift.missing]) {
    const abs = join(repoRoot, path);
    mkdirSync(dirname(abs), { recursive: true });
    writeFileSync(abs, files.get(path)!);
  }
  for (const path of drift.extra) rmSync(join(repoRoot, path));
  return drift;
}

function ownedFiles(repoRoot: string, ownedDirs: string[]): string[] {
  return ownedDirs
    .map((dir) => join(repoRoot, dir))
    .filter((dir) => existsSync(dir))
    .flatMap((dir) => listFiles(dir))
    .map((abs) => relative(repoRoot, abs));
}
