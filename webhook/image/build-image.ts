/**
 * Builds the servers' image without a Docker engine, as ko, Jib and distroless do: assembled
 * directly as an OCI image layout from pinned inputs, reproducibly (same inputs, same digest).
 *
 *   node webhook/image/build-image.ts [outdir]            dist/image by default
 *     --push <registry>/<repository>[:tag] [--plain-http] push it too (tag: the chart version)
 *     --refresh                                           rewrite inputs.lock.json with what Debian serves now
 *
 * Layers: the Debian runtime libraries Node needs (libc6, libstdc++6, libgcc-s1) and the CA
 * certificates (webhook/image/inputs.lock.json pins them); /etc/passwd and /etc/group with the
 * non-root user 65532, a writable /tmp; Node's runtime (the binary test/tools/install-tools.sh
 * pins); and our bundles with the chart's schema and the SBOM. The runtime settings (user,
 * environment, working directory, entry point) are the final stage of webhook/Dockerfile's, so
 * the two ways to build agree. Timestamps are the last commit's (SOURCE_DATE_EPOCH if set).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSchema } from '../../generator/src/schema/load.ts';
import { bundleServer, SERVERS, type ServerName } from '../bundle.ts';
import { dedupe, debianEntries, refreshed, sha256, type DebianPackage } from './debian.ts';
import { writeImageLayout, type ImageLayout, type ImageRuntime } from './oci-layout.ts';
import { pushImage } from './registry-push.ts';
import { spdxDocument, type SbomPackage } from './sbom.ts';
import { tarArchive, type TarEntry } from './tar.ts';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const LOCK_FILE = join(REPO_ROOT, 'webhook/image/inputs.lock.json');
const NONROOT = 65532;

export interface BuiltImage {
  layout: ImageLayout;
  runtime: ImageRuntime;
  tag: string;
  sbom: string;
}

export function readLock(): { debian: { suite: string; packages: DebianPackage[] } } {
  return JSON.parse(readFileSync(LOCK_FILE, 'utf8'));
}

/** Node's runtime as install-tools.sh pins it: the npm package and the binary's sha256. */
export function pinnedNode(): { pkg: string; version: string; sha256: string; binary: string } {
  const script = readFileSync(join(REPO_ROOT, 'test/tools/install-tools.sh'), 'utf8');
  const pkg = script.match(/^NODE24_PACKAGE=(\S+)$/m)?.[1];
  const sum = script.match(/^NODE24_SHA256=(\S+)$/m)?.[1];
  if (!pkg || !sum) throw new Error('test/tools/install-tools.sh pins no NODE24_PACKAGE and NODE24_SHA256');
  const binary = join(REPO_ROOT, '.tools/node24/bin/node');
  const got = sha256(readFileSync(binary));
  if (got !== sum) throw new Error(`${binary} has sha256 ${got}, install-tools.sh pins ${sum}: run make tools`);
  return { pkg, version: pkg.slice(pkg.lastIndexOf('@') + 1), sha256: sum, binary };
}

function dockerfileImageStage(): string {
  const dockerfile = readFileSync(join(REPO_ROOT, 'webhook/Dockerfile'), 'utf8');
  return dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
}

/** The ENV lines of webhook/Dockerfile's final stage, which the image and the tests' processes run with. */
export function dockerfileEnv(): Record<string, string> {
  return Object.fromEntries([...dockerfileImageStage().matchAll(/^ENV (\w+)=(\S+)$/gm)].map((match) => [match[1]!, match[2]!]));
}

/** The final stage of webhook/Dockerfile: what the image runs, as whom, where, with what environment. */
export function dockerfileRuntime(): ImageRuntime {
  const stage = dockerfileImageStage();
  const one = (instruction: string) => stage.match(new RegExp(`^${instruction} (.+)$`, 'm'))?.[1];
  const env = Object.entries(dockerfileEnv()).map(([name, value]) => `${name}=${value}`);
  return {
    user: one('USER') ?? `${NONROOT}:${NONROOT}`,
    env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/nodejs/bin', 'SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt', ...env],
    entrypoint: JSON.parse(one('ENTRYPOINT') ?? '[]'),
    cmd: JSON.parse(one('CMD') ?? '[]'),
    workingDir: one('WORKDIR') ?? '/',
    exposedPorts: (one('EXPOSE') ?? '').split(/\s+/).filter(Boolean).map((port) => (port.includes('/') ? port : `${port}/tcp`)),
  };
}

function sourceDateEpoch(): number {
  if (process.env.SOURCE_DATE_EPOCH) return Number(process.env.SOURCE_DATE_EPOCH);
  try {
    return Number(execFileSync('git', ['log', '-1', '--format=%ct'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim()) || 0;
  } catch {
    return 0;
  }
}

/** The chart's version (x-chart, its one place), which the image is tagged with. */
function chartVersion(): string {
  return String(loadSchema(join(REPO_ROOT, 'schema/root.yaml')).chart.version);
}

const dir = (path: string, mode = 0o755, owner = 0): TarEntry => ({ type: 'dir', path, mode, uid: owner, gid: owner });
const file = (path: string, data: Buffer | string, mode = 0o644): TarEntry => ({ type: 'file', path, mode, data: Buffer.from(data) });

export function buildImage(outDir: string, options: { tag?: string } = {}): BuiltImage {
  const mtime = sourceDateEpoch();
  const created = new Date(mtime * 1000).toISOString();
  const tag = options.tag ?? chartVersion();
  const lock = readLock();
  const node = pinnedNode();
  const runtime = dockerfileRuntime();
  const app = runtime.workingDir.replace(/^\//, '');

  const bundleDir = mkdtempSync(join(tmpdir(), 'supersonic-image-bundle-'));
  try {
    const serverNames = Object.keys(SERVERS) as ServerName[];
    const inputs = new Set<string>();
    for (const server of serverNames) for (const input of Object.keys(bundleServer(server, join(bundleDir, server)).inputs)) inputs.add(input);
    const bundled = bundledPackages([...inputs].sort());
    const sbomPackages: SbomPackage[] = [
      { name: 'supersonic-servers', version: tag, purl: `pkg:oci/supersonic-servers@${tag}`, license: 'MIT', supplier: 'SuperSONIC developers' },
      { name: 'node', version: node.version, purl: `pkg:npm/${node.pkg.replace(/@[^@]*$/, '')}@${node.version}`, license: 'MIT', checksum: node.sha256 },
      ...lock.debian.packages.map((pkg) => ({
        name: pkg.name,
        version: pkg.version,
        purl: `pkg:deb/debian/${pkg.name}@${encodeURIComponent(pkg.version)}?arch=${pkg.architecture}&distro=debian-12`,
        checksum: pkg.sha256,
      })),
      ...bundled,
    ];
    const sbom = JSON.stringify(spdxDocument(`supersonic-servers-${tag}`, created, sbomPackages), null, 2) + '\n';

    const users = [
      dir('etc'),
      file('etc/passwd', `root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:${NONROOT}:${NONROOT}:nonroot:/home/nonroot:/sbin/nologin\n`),
      file('etc/group', `root:x:0:\nnonroot:x:${NONROOT}:\n`),
      file('etc/nsswitch.conf', 'passwd: files\ngroup: files\nhosts: files dns\n'),
      dir('home'),
      dir('home/nonroot', 0o700, NONROOT),
      dir('tmp', 0o1777),
    ];
    const runtimeLayer = [dir('nodejs'), dir('nodejs/bin'), file('nodejs/bin/node', readFileSync(node.binary), 0o755)];
    const servers: TarEntry[] = [dir(app)];
    for (const server of serverNames) {
      for (const name of readdirSync(join(bundleDir, server)).sort()) servers.push(file(`${app}/${SERVERS[server].dist}/${name}`, readFileSync(join(bundleDir, server, name))));
    }
    servers.push(file(`${app}/chart/supersonic/values.schema.json`, readFileSync(join(REPO_ROOT, 'chart/supersonic/values.schema.json'))));
    servers.push(file(`${app}/sbom.spdx.json`, sbom));
    const layers = [
      { name: 'Debian runtime libraries and CA certificates', tar: tarArchive(debianEntries(lock.debian.packages), mtime) },
      { name: 'users and /tmp', tar: tarArchive(dedupe(users), mtime) },
      { name: `Node ${node.version}`, tar: tarArchive(runtimeLayer, mtime) },
      { name: 'the servers', tar: tarArchive(withParents(servers), mtime) },
    ];
    rmSync(outDir, { recursive: true, force: true });
    const layout = writeImageLayout(outDir, layers, runtime, created, tag);
    writeFileSync(join(outDir, 'sbom.spdx.json'), sbom);
    return { layout, runtime, tag, sbom };
  } finally {
    rmSync(bundleDir, { recursive: true, force: true });
  }
}

/** Every directory above the files, once, in path order. */
function withParents(entries: TarEntry[]): TarEntry[] {
  const all = [...entries];
  for (const entry of entries) {
    const parts = entry.path.split('/');
    for (let i = 1; i < parts.length; i++) all.unshift(dir(parts.slice(0, i).join('/')));
  }
  return dedupe(all);
}

/** The npm packages esbuild took code from, with their versions and licences. */
function bundledPackages(inputs: string[]): SbomPackage[] {
  const roots = new Set<string>();
  for (const input of inputs) {
    const match = input.match(/^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//);
    if (match) roots.add(match[1]!);
  }
  return [...roots].sort().map((root) => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, root, 'package.json'), 'utf8'));
    return { name: pkg.name, version: pkg.version, purl: `pkg:npm/${pkg.name}@${pkg.version}`, license: typeof pkg.license === 'string' ? pkg.license : 'NOASSERTION' };
  });
}

async function main(args: string[]): Promise<void> {
  if (args.includes('--refresh')) {
    const lock = readLock();
    lock.debian.packages = refreshed(lock.debian.packages);
    writeFileSync(LOCK_FILE, JSON.stringify(lock, null, 2) + '\n');
    console.log(`refreshed ${LOCK_FILE}:\n${lock.debian.packages.map((pkg) => `  ${pkg.name} ${pkg.version}`).join('\n')}`);
    return;
  }
  const pushAt = args.indexOf('--push');
  const positional = args.filter((arg, i) => !arg.startsWith('--') && (pushAt < 0 || i !== pushAt + 1));
  const outDir = resolve(positional[0] ?? join(REPO_ROOT, 'dist/image'));
  const built = buildImage(outDir);
  console.log(`image: ${outDir} (OCI layout), ${built.layout.manifest.digest}, tag ${built.tag}; SBOM ${join(outDir, 'sbom.spdx.json')}`);
  if (pushAt >= 0) {
    const target = args[pushAt + 1] ?? '';
    const match = target.match(/^([^/]+)\/(.+?)(?::([\w.-]+))?$/);
    if (!match) throw new Error(`--push takes <registry>/<repository>[:tag], got "${target}"`);
    const digest = await pushImage(built.layout, { registry: match[1]!, repository: match[2]!, tag: match[3] ?? built.tag, plainHttp: args.includes('--plain-http') });
    console.log(`pushed ${match[1]}/${match[2]}:${match[3] ?? built.tag}@${digest}`);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(`build-image: ${(err as Error).message}`);
    process.exit(1);
  });
}
