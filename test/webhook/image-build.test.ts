/**
 * The servers' image built without a Docker engine (webhook/image/build-image.ts): reproducible
 * (two builds, one digest), with an SBOM of what is inside, pushed to a real registry, and
 * smoke-tested as a runtime would run it: its layers unpacked into a root filesystem, mounted
 * read-only with a tmpfs /tmp, and its entry point started there as the image config says
 * (user, environment, working directory) in a private mount namespace; the webhook must answer
 * /readyz against the real API server. What this leaves out: a container runtime's cgroups,
 * seccomp profile and network namespace.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { buildImage, readLock } from '../../webhook/image/build-image.ts';
import { pushImage } from '../../webhook/image/registry-push.ts';
import { createCertificateAuthority, createServingCertificate, DAY_MS } from '../../webhook/src/tls/certificates.ts';
import { sharedCluster } from '../helpers/cluster/shared.ts';
import { freePort } from '../helpers/ports.ts';
import { httpsCall } from '../helpers/webhook-process.ts';
import { testConfig } from '../helpers/webhook.ts';

const image = suite('servers image: built without Docker, reproducible, and runnable');
const work = mkdtempSync(join(tmpdir(), 'supersonic-image-test-'));
const first = buildImage(join(work, 'one'));

image.after(() => rmSync(work, { recursive: true, force: true }));

image('two builds from the same inputs give the same digest, layer for layer', () => {
  const second = buildImage(join(work, 'two'));
  assert.is(second.layout.manifest.digest, first.layout.manifest.digest);
  assert.equal([...second.layout.blobs.keys()].sort(), [...first.layout.blobs.keys()].sort());
});

image('the SBOM lists Node, every pinned Debian package and the npm packages the bundle holds, with checksums where pinned', () => {
  const sbom = JSON.parse(first.sbom);
  assert.is(sbom.spdxVersion, 'SPDX-2.3');
  const names = sbom.packages.map((p: { name: string; versionInfo: string }) => `${p.name}@${p.versionInfo}`);
  for (const pkg of readLock().debian.packages) assert.ok(names.includes(`${pkg.name}@${pkg.version}`), `${pkg.name} is not in the SBOM`);
  assert.ok(names.some((n: string) => n.startsWith('node@24.')), 'Node');
  for (const bundled of ['fastify', '@kubernetes/client-node', 'pino', 'prom-client']) assert.ok(names.some((n: string) => n.startsWith(`${bundled}@`)), bundled);
  const debs = sbom.packages.filter((p: { externalRefs: { referenceLocator: string }[] }) => p.externalRefs[0]!.referenceLocator.startsWith('pkg:deb/'));
  assert.ok(debs.every((p: { checksums?: unknown[] }) => p.checksums?.length === 1));
});

image('pushed to a registry, the manifest is served under the tag with the same digest', async () => {
  const dir = join(work, 'registry');
  mkdirSync(dir);
  const port = await freePort();
  writeFileSync(join(dir, 'config.yml'), `version: 0.1\nlog: {level: warn}\nstorage: {filesystem: {rootdirectory: ${dir}/data}}\nhttp: {addr: 127.0.0.1:${port}}\n`);
  const registry = spawn('/usr/bin/docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
  try {
    const deadline = Date.now() + 15_000;
    while ((await fetch(`http://127.0.0.1:${port}/v2/`).then((r) => r.status, () => 0)) !== 200) {
      if (Date.now() > deadline) throw new Error('docker-registry did not start');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const digest = await pushImage(first.layout, { registry: `127.0.0.1:${port}`, repository: 'fastml/supersonic-servers', tag: first.tag, plainHttp: true });
    assert.is(digest, first.layout.manifest.digest);
    const served = await fetch(`http://127.0.0.1:${port}/v2/fastml/supersonic-servers/manifests/${first.tag}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.is(served.status, 200);
    assert.is(served.headers.get('docker-content-digest'), first.layout.manifest.digest);
  } finally {
    registry.kill('SIGTERM');
  }
});

image('unpacked and started as the image config says, read-only, as uid 65532: the webhook answers /readyz', async () => {
  if (process.getuid?.() !== 0) throw new Error('the image smoke test mounts a root filesystem in a private mount namespace and needs root (CI runs as root)');
  const cluster = await sharedCluster();
  const manifest = JSON.parse(first.layout.blobs.get(first.layout.manifest.digest)!.data.toString());
  const config = JSON.parse(first.layout.blobs.get(manifest.config.digest)!.data.toString()).config;
  const rootfs = join(work, 'rootfs');
  mkdirSync(rootfs);
  for (const layer of manifest.layers) execFileSync('tar', ['-xzpf', join(first.layout.dir, 'blobs/sha256', layer.digest.slice(7)), '-C', rootfs, '--numeric-owner']);
  const [uid, gid] = String(config.User).split(':').map(Number);
  assert.is(uid, 65532);

  // What a kubelet would mount: the configuration, the certificate, a kubeconfig (here the test cluster's).
  const authority = await createCertificateAuthority();
  const serving = await createServingCertificate(authority, { dnsNames: ['localhost'], validityMs: DAY_MS });
  const mounted: Record<string, string> = {
    'etc/supersonic/webhook/webhook.yaml': stringify(testConfig().values),
    'etc/supersonic/tls/tls.crt': serving.cert,
    'etc/supersonic/tls/tls.key': serving.key,
    'etc/supersonic/kubeconfig': readFileSync(cluster.kubeconfig, 'utf8'),
  };
  for (const [path, text] of Object.entries(mounted)) {
    mkdirSync(join(rootfs, path, '..'), { recursive: true });
    writeFileSync(join(rootfs, path), text, { mode: 0o600 });
    chownSync(join(rootfs, path), uid!, gid!);
  }
  for (const mountPoint of ['proc', 'dev']) mkdirSync(join(rootfs, mountPoint));

  const port = await freePort();
  const env: Record<string, string> = Object.fromEntries(config.Env.map((line: string) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
  Object.assign(env, {
    KUBECONFIG: '/etc/supersonic/kubeconfig', TLS_SOURCE: 'files', POD_NAME: 'webhook-0', POD_NAMESPACE: 'supersonic-system',
    SERVICE_NAME: 'supersonic-webhook', WEBHOOK_CONFIGURATION_NAME: 'supersonic-webhook', TLS_SECRET_NAME: 'supersonic-webhook-tls',
    HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'info',
  });
  const script = 'mount --bind "$R" "$R" && mount -o remount,bind,ro "$R" && mount -t tmpfs -o mode=1777 tmpfs "$R/tmp" && mount -t proc proc "$R/proc" && mount --rbind /dev "$R/dev" && exec unshare --root="$R" --wd="$WD" --setuid "$U" --setgid "$G" -- "$@"';
  const child = spawn('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', script, 'sh', ...config.Entrypoint, ...config.Cmd], {
    env: { ...env, R: rootfs, WD: config.WorkingDir, U: String(uid), G: String(gid) },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output = (output + chunk).slice(-4000)));
  child.stderr!.on('data', (chunk) => (output = (output + chunk).slice(-4000)));
  const agent = new Agent({ ca: authority.cert });
  try {
    const deadline = Date.now() + 30_000;
    let status = 0;
    while (status !== 200) {
      if (child.exitCode !== null) throw new Error(`the image's entry point exited (${child.exitCode}): ${output}`);
      if (Date.now() > deadline) throw new Error(`no /readyz 200 within 30 s: ${output}`);
      status = (await httpsCall(agent, port, '/readyz').catch(() => ({ status: 0 }))).status;
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    // Every log line is JSON (the image's only output is the server's).
    for (const line of output.trim().split('\n')) assert.not.throws(() => JSON.parse(line), line);
  } finally {
    agent.destroy();
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

image.run();
