/** Test helpers for the webhook TLS suites: waiting, a Secret volume look-alike, HTTPS probes. */
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { request, type Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';

export const SERVERNAME = 'webhook.test.svc';

/** Polls `check` until it returns a truthy value; the timeout only bounds a hung test. */
export async function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 15_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * A directory laid out like a kubelet-mounted Secret: `tls.crt -> ..data/tls.crt`,
 * `..data -> ..<version>/`, updated by renaming a new `..data` symlink over the old one.
 */
export async function secretVolume(files: Record<string, string>) {
  const dir = await mkdtemp(join(tmpdir(), 'secret-volume-'));
  let version = 0;
  let current: string | undefined;
  async function update(next: Record<string, string>) {
    const versionDir = `..v${++version}`;
    await mkdir(join(dir, versionDir));
    for (const [name, content] of Object.entries(next)) await writeFile(join(dir, versionDir, name), content);
    await symlink(versionDir, join(dir, '..data_tmp'));
    await rename(join(dir, '..data_tmp'), join(dir, '..data'));
    if (current) await rm(join(dir, current), { recursive: true });
    current = versionDir;
  }
  await update(files);
  for (const name of Object.keys(files)) await symlink(join('..data', name), join(dir, name));
  return { dir, path: (name: string) => join(dir, name), update, remove: () => rm(dir, { recursive: true }) };
}

export interface Probe {
  status: number;
  fingerprint: string;
  reusedSocket: boolean;
}

/** GET / over HTTPS to 127.0.0.1, verifying the server against `ca` and SERVERNAME. */
export function get(port: number, ca: string, agent: Agent | false): Promise<Probe> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', ca, servername: SERVERNAME, agent }, (res) => {
      const socket = res.socket as TLSSocket;
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, fingerprint, reusedSocket: req.reusedSocket }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
