/**
 * Debian packages as image content: each pinned .deb is fetched with apt-get (into a cache
 * outside the clone), checked against its sha256, and unpacked with dpkg-deb; no maintainer
 * script runs, so what a script would make (the CA bundle) is made here. Documentation,
 * manuals and translations are left out, except each package's copyright file.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { TarEntry } from './tar.ts';

export interface DebianPackage {
  name: string;
  version: string;
  architecture: string;
  sha256: string;
}

const CACHE = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'supersonic-image-debs');
const LEFT_OUT = /^usr\/share\/(doc\/[^/]+\/(?!copyright$)|man\/|info\/|locale\/|lintian\/|bug\/)|^usr\/sbin\/update-ca-certificates|^etc\/ca-certificates|^usr\/share\/ca-certificates\/(?!mozilla\/)/;

export function debFile(pkg: DebianPackage): string {
  const file = join(CACHE, `${pkg.name}_${pkg.version.replace(/:/g, '%3a')}_${pkg.architecture}.deb`);
  if (!existsSync(file) || sha256(readFileSync(file)) !== pkg.sha256) {
    mkdirSync(CACHE, { recursive: true });
    const dir = mkdtempSync(join(CACHE, '.download-'));
    try {
      execFileSync('apt-get', ['download', '-q', `${pkg.name}=${pkg.version}`], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`apt-get download ${pkg.name}=${pkg.version} failed: ${(err as { stderr?: Buffer }).stderr?.toString().trim()}\nDebian's mirror serves only the newest version of a package: if a security update replaced it, run \`node webhook/image/build-image.ts --refresh\`, review the new versions in webhook/image/inputs.lock.json and commit them`);
    }
    const [downloaded] = readdirSync(dir);
    const got = sha256(readFileSync(join(dir, downloaded!)));
    if (got !== pkg.sha256) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`${pkg.name} ${pkg.version}: sha256 ${got}, the lock says ${pkg.sha256}`);
    }
    renameSync(join(dir, downloaded!), file);
    rmSync(dir, { recursive: true, force: true });
  }
  return file;
}

/** The files of the packages as tar entries, sorted by path, with the CA bundle built from the certificates. */
export function debianEntries(packages: DebianPackage[]): TarEntry[] {
  const root = mkdtempSync(join(tmpdir(), 'supersonic-image-debs-'));
  try {
    for (const pkg of packages) execFileSync('dpkg-deb', ['-x', debFile(pkg), root]);
    const entries = walk(root).filter((entry) => !LEFT_OUT.test(entry.path));
    const certs = entries
      .filter((entry): entry is Extract<TarEntry, { type: 'file' }> => entry.type === 'file' && entry.path.startsWith('usr/share/ca-certificates/mozilla/'))
      .map((entry) => entry.data.toString('utf8'));
    // What update-ca-certificates would write: every certificate, one after another.
    const bundle = Buffer.from(certs.map((pem) => (pem.endsWith('\n') ? pem : `${pem}\n`)).join(''));
    entries.push({ type: 'dir', path: 'etc/ssl', mode: 0o755 }, { type: 'dir', path: 'etc/ssl/certs', mode: 0o755 });
    entries.push({ type: 'file', path: 'etc/ssl/certs/ca-certificates.crt', mode: 0o644, data: bundle });
    return dedupe(entries);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** The newest version of each package that the mirror serves, and its checksum. */
export function refreshed(packages: DebianPackage[]): DebianPackage[] {
  return packages.map((pkg) => {
    const dir = mkdtempSync(join(tmpdir(), 'supersonic-refresh-'));
    try {
      execFileSync('apt-get', ['download', '-q', pkg.name], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
      const [file] = readdirSync(dir);
      const version = execFileSync('dpkg-deb', ['-f', join(dir, file!), 'Version'], { encoding: 'utf8' }).trim();
      return { ...pkg, version, sha256: sha256(readFileSync(join(dir, file!))) };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

function walk(root: string): TarEntry[] {
  const out: TarEntry[] = [];
  const visit = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const full = join(dir, name);
      const path = relative(root, full);
      const stat = lstatSync(full);
      if (stat.isSymbolicLink()) out.push({ type: 'symlink', path, target: readlinkSync(full) });
      else if (stat.isDirectory()) {
        out.push({ type: 'dir', path, mode: stat.mode & 0o7777 });
        visit(full);
      } else if (stat.isFile()) out.push({ type: 'file', path, mode: stat.mode & 0o7777, data: readFileSync(full) });
    }
  };
  visit(root);
  return out;
}

/** One entry per path (the last wins), in path order. */
export function dedupe(entries: TarEntry[]): TarEntry[] {
  const byPath = new Map<string, TarEntry>();
  for (const entry of entries) byPath.set(entry.path.replace(/\/$/, ''), entry);
  return [...byPath.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, entry]) => entry);
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}
