/**
 * The files a server's code reaches from its entry point, and the packages they import: what
 * its image must hold and install, and where its Kubernetes API calls can be.
 */
import { builtinModules } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { REPO_ROOT } from './helm.ts';

const PACKAGE = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8'));

/** Static imports, re-exports and dynamic imports with a literal specifier. */
const SPECIFIER = /(?:^|\s)(?:import|export)\s[^'"]*?from\s+'([^']+)'|import\(\s*'([^']+)'\s*\)|^import\s+'([^']+)'/gm;

function importsOf(file: string): string[] {
  const source = readFileSync(file, 'utf8');
  return [...source.matchAll(SPECIFIER)].map((match) => match[1] ?? match[2] ?? match[3]!);
}

export function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/** A subpath import (`#core/...`) as package.json's "imports" maps it, or undefined for a package. */
function subpathTarget(specifier: string): string | undefined {
  for (const [pattern, target] of Object.entries<string>(PACKAGE.imports ?? {})) {
    const prefix = pattern.replace(/\*$/, '');
    if (specifier.startsWith(prefix)) return join(REPO_ROOT, target.replace(/\*$/, '') + specifier.slice(prefix.length));
  }
  return undefined;
}

export const isBuiltin = (specifier: string) => specifier.startsWith('node:') || builtinModules.includes(specifier);

/** Every file reachable from the entry point, and every package they import. */
export function importClosure(entry: string): { files: string[]; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const pending = [entry];
  while (pending.length) {
    const file = pending.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    for (const specifier of importsOf(file)) {
      if (specifier.startsWith('.')) pending.push(resolve(dirname(file), specifier));
      else if (specifier.startsWith('#')) {
        const target = subpathTarget(specifier);
        if (!target) throw new Error(`${specifier} (in ${file}) is not in package.json's imports`);
        pending.push(target);
      }
      else if (!isBuiltin(specifier)) packages.add(packageName(specifier));
    }
  }
  return { files: [...files].map((file) => relative(REPO_ROOT, file)), packages };
}
