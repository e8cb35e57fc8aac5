/**
 * What webhook/Dockerfile puts in the image is enough to run the server: every module the
 * server's code imports, starting from webhook/src/server.ts, is a file the image copies or a
 * package the image installs (`npm ci --omit=dev`, so `dependencies` only, never
 * `devDependencies`). A missing one would only show as a crash at start in the cluster.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { builtinModules } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { REPO_ROOT } from '../helpers/helm.ts';

const image = suite('webhook image contents');
const DOCKERFILE = readFileSync(join(REPO_ROOT, 'webhook/Dockerfile'), 'utf8');
const PACKAGE = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8'));

/** The Dockerfile's copies from the repository: where each comes from and lands under /app. */
const copies = [...DOCKERFILE.matchAll(/^COPY (?!--from)(\S+) (\S+)$/gm)].map((match) => {
  const [source, target] = [match[1]!.replace(/\/$/, ''), match[2]!];
  return { source, landsAt: target.endsWith('/') ? `${target}${basename(source)}` : target };
});
const copied = copies.map((copy) => copy.source);

/** Static imports, re-exports and dynamic imports with a literal specifier. */
const SPECIFIER = /(?:^|\s)(?:import|export)\s[^'"]*?from\s+'([^']+)'|import\(\s*'([^']+)'\s*\)|^import\s+'([^']+)'/gm;

function importsOf(file: string): string[] {
  const source = readFileSync(file, 'utf8');
  return [...source.matchAll(SPECIFIER)].map((match) => match[1] ?? match[2] ?? match[3]!);
}

function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/** Every file reachable from the entry point, and every package they import. */
function closure(entry: string): { files: string[]; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const pending = [entry];
  while (pending.length) {
    const file = pending.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    for (const specifier of importsOf(file)) {
      if (specifier.startsWith('.')) pending.push(resolve(dirname(file), specifier));
      else if (!specifier.startsWith('node:') && !builtinModules.includes(specifier)) packages.add(packageName(specifier));
    }
  }
  return { files: [...files].map((file) => relative(REPO_ROOT, file)), packages };
}

image('the Dockerfile copies the server and the schema to the same paths under /app', () => {
  assert.ok(copied.includes('webhook/src'), copied.join(', '));
  assert.ok(copied.includes('chart/supersonic/values.schema.json'), copied.join(', '));
  // Relative imports and the default SCHEMA_FILE only work if the layout is the repository's.
  for (const { source, landsAt } of copies) assert.is(landsAt, `./${source}`, `COPY ${source}`);
});

image('every file the server imports is copied into the image', () => {
  const { files } = closure(join(REPO_ROOT, 'webhook/src/server.ts'));
  assert.ok(files.length > 20, `only ${files.length} files found: the import scan is broken`);
  const missing = files.filter((file) => !existsSync(join(REPO_ROOT, file)) || !copied.some((path) => file === path || file.startsWith(`${path}/`)));
  assert.equal(missing, [], 'imported, but not in the image (or not on disk)');
});

image('every package the server imports is a production dependency', () => {
  const { packages } = closure(join(REPO_ROOT, 'webhook/src/server.ts'));
  assert.ok(packages.has('@kubernetes/client-node') && packages.has('@peculiar/x509'), [...packages].join(', '));
  const notInstalled = [...packages].filter((name) => !(name in (PACKAGE.dependencies ?? {})));
  assert.equal(notInstalled, [], 'imported, but `npm ci --omit=dev` would not install them');
});

image.run();
