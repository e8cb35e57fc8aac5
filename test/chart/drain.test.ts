/**
 * The graceful drain works as rendered: the preStop hook creates /tmp/shutdown and waits
 * drainSeconds, after which the readiness probe fails while Triton itself is still healthy
 * (SuperSONIC 0.3.1's hook ran `sh -c touch` with no file, so nothing happened).
 * The commands run for real, in a private mount and network namespace (root, util-linux
 * `unshare`) so /tmp and port 8000 are the test's own.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, templateOrThrow } from '../helpers/helm.ts';
import { parseManifests } from '../helpers/k8s/manifests.ts';

const drain = suite('Triton graceful drain');

function requireTools() {
  if (process.getuid?.() !== 0) throw new Error('the drain test runs the probes in a private namespace and needs root (CI runs as root)');
  for (const tool of ['/usr/bin/unshare', '/usr/bin/curl']) {
    if (!existsSync(tool)) throw new Error(`${tool} is missing: apt-get install -y util-linux curl`);
  }
}

function inNamespace(args: string[]): Promise<string> {
  const script = 'mount -t tmpfs tmpfs /tmp && ip link set lo up && exec "$@"';
  return new Promise((resolve, reject) => {
    execFile('unshare', ['--mount', '--net', 'sh', '-c', script, 'sh', ...args], { cwd: REPO_ROOT, timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

drain('preStop marks the pod as shutting down, waits drainSeconds, and readiness then fails', async () => {
  requireTools();
  const rendered = parseManifests(await templateOrThrow('helm', { values: { triton: { drainSeconds: 2 } } }));
  const deployment = rendered.find((o: Record<string, any>) => o.kind === 'Deployment' && o.metadata.name === 'supersonic-triton') as Record<string, any>;
  const container = deployment.spec.template.spec.containers[0];
  const commands = { readiness: container.readinessProbe.exec.command, preStop: container.lifecycle.preStop.exec.command };

  // Passed as source text: inside the namespace /tmp is replaced, and the repository may be under it.
  const driver = readFileSync(join(REPO_ROOT, 'test/helpers/drain-driver.mjs'), 'utf8');
  const output = await inNamespace([process.execPath, '--input-type=module', '-e', driver, JSON.stringify(commands)]);
  const result = JSON.parse(output.trim().split('\n').at(-1)!);

  assert.is(result.readyBefore, 0, 'a healthy Triton must be ready before the drain');
  assert.is(result.preStopCode, 0, 'the preStop hook must succeed');
  assert.ok(result.shutdownFile, 'the preStop hook must create /tmp/shutdown');
  assert.ok(result.preStopMs >= 2000, `the preStop hook must wait drainSeconds (2 s), took ${result.preStopMs} ms`);
  assert.is.not(result.readyAfter, 0, 'after the drain the readiness probe must fail, though Triton still answers');
});

drain.run();
