/**
 * Builds each server's image entry point: webhook/dist/server.mjs, dispatcher/dist/server.mjs and
 * metrics-collector/dist/server.mjs, which the image runs, and the chunks each imports, holding
 * its src/server.ts and the parts of its packages (and of the shared core) it uses. One bundle per server, each complete in its
 * folder: a server loads only its own code. Code reached only through import() (certificate
 * generation, for the webhook's self-managed TLS) is in chunks loaded only when that mode is on.
 *
 * Why a bundle rather than the sources and node_modules: `@kubernetes/client-node` exports the
 * generated client for every API group from one index, and Node keeps every module it loads.
 * Bundled, only the classes the server imports (and what they reach) are kept: the process
 * starts with about 35 MB less resident memory (docs/benchmarks.md), and the image needs no
 * node_modules at all. The bundle is not minified, so stack traces keep their names, and each
 * part of it is headed by the path of the file it came from.
 *
 * What a bundle cannot do: load a package's files by path at run time. pino transports (worker
 * threads started from a file) would need that; the server logs to stdout, which needs none.
 *
 *   node webhook/bundle.ts [webhook|dispatcher|metrics-collector outdir]   (Node 24, which runs the TypeScript sources
 *                                                         as they are; no argument: both servers)
 */
import { buildSync, type Metafile } from 'esbuild';
import { rmSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The servers of the image: each one's entry point and the folder its bundle goes to. */
export const SERVERS = {
  webhook: { entry: 'webhook/src/server.ts', dist: 'webhook/dist' },
  dispatcher: { entry: 'dispatcher/src/server.ts', dist: 'dispatcher/dist' },
  'metrics-collector': { entry: 'metrics-collector/src/server.ts', dist: 'metrics-collector/dist' },
} as const;
export type ServerName = keyof typeof SERVERS;

export const DEFAULT_OUTDIR = join(REPO_ROOT, SERVERS.webhook.dist);
/** The file the image runs, relative to the output directory. */
export const ENTRY_FILE = 'server.mjs';
/** The file the image runs for a server, from the repository root, whose layout the image keeps under /app. */
export function imageEntry(server: ServerName): string {
  return `${SERVERS[server].dist}/${ENTRY_FILE}`;
}
/** The webhook's (the chart's webhook Deployment runs it). */
export const IMAGE_ENTRY = imageEntry('webhook');

/** The webhook's bundle (see bundleServer). */
export function bundleWebhook(outdir = DEFAULT_OUTDIR): Metafile {
  return bundleServer('webhook', outdir);
}

/**
 * Builds one server into `outdir`, an absolute path (esbuild would read a relative one from the
 * repository root); its default folder is emptied first, so no chunk of an older build stays.
 */
export function bundleServer(server: ServerName, outdir = join(REPO_ROOT, SERVERS[server].dist)): Metafile {
  if (outdir === join(REPO_ROOT, SERVERS[server].dist)) rmSync(outdir, { recursive: true, force: true });
  const result = buildSync({
    absWorkingDir: REPO_ROOT,
    entryPoints: { server: SERVERS[server].entry },
    outdir,
    bundle: true,
    // Chunks for code reached only through import() (see above).
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node24',
    // .mjs: ES modules whatever package.json says, and the image has none.
    outExtension: { '.js': '.mjs' },
    // Some dependencies are CommonJS and call require() for Node's own modules.
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    // Node warns that its built-in punycode is deprecated; the packages that want it (through
    // node-fetch's URL code) get the npm package of the same name, as they do unbundled.
    // @peculiar/x509 is imported with import(): its CommonJS build, bundled, would offer only a
    // default export there, while Node offers the named ones; its ES module build offers them.
    alias: { 'punycode': 'punycode/', '@peculiar/x509': '@peculiar/x509/build/x509.es.js' },
    legalComments: 'eof',
    metafile: true,
    logLevel: 'warning',
  });
  return result.metafile;
}

/** What a bundle left as imports: Node's own modules, and optional packages that are not installed. */
export function externalImports(metafile: Metafile): string[] {
  const found = new Set<string>();
  for (const output of Object.values(metafile.outputs)) {
    for (const imported of output.imports) if (imported.external) found.add(imported.path);
  }
  return [...found].sort();
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [only, target] = process.argv.slice(2);
  if (only && !(only in SERVERS)) throw new Error(`unknown server ${only}: ${Object.keys(SERVERS).join(' or ')}`);
  for (const server of only ? [only as ServerName] : (Object.keys(SERVERS) as ServerName[])) {
    const outdir = target ? resolve(target) : join(REPO_ROOT, SERVERS[server].dist);
    const metafile = bundleServer(server, outdir);
    const bytes = Object.values(metafile.outputs).reduce((sum, output) => sum + output.bytes, 0);
    console.log(`${server} bundle: ${relative(process.cwd(), join(outdir, ENTRY_FILE))} (${(bytes / 2 ** 20).toFixed(1)} MiB in ${Object.keys(metafile.outputs).length} files)`);
  }
}
