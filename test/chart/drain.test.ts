/**
 * The graceful drains work as rendered. Triton: the preStop hook creates /tmp/shutdown and waits
 * drainSeconds, after which the readiness probe fails while Triton itself is still healthy
 * (SuperSONIC 0.3.1's hook ran `sh -c touch` with no file, so nothing happened). Envoy: the
 * preStop hook POSTs a graceful drain to the admin interface (a stand-in here) and waits.
 * The commands run for real, in a private mount and network namespace (root, util-linux
 * `unshare`) so /tmp and port 8000 are the test's own.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, template, templateOrThrow } from '../helpers/helm.ts';
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

const envoyDrain = suite('Envoy graceful drain');

envoyDrain('preStop POSTs a graceful drain to the admin interface, then waits drainSeconds; Envoy is told the same drain time', async () => {
  requireTools();
  const rendered = parseManifests(await templateOrThrow('helm', { values: { envoy: { drainSeconds: 2 } } }));
  const deployment = rendered.find((o: Record<string, any>) => o.kind === 'Deployment' && o.metadata.name === 'supersonic-envoy') as Record<string, any>;
  const container = deployment.spec.template.spec.containers[0];
  assert.equal(container.args.slice(container.args.indexOf('--drain-time-s'), container.args.indexOf('--drain-time-s') + 2), ['--drain-time-s', '2']);
  assert.ok(deployment.spec.template.spec.terminationGracePeriodSeconds > 2, 'the grace period outlasts the drain');

  const driver = readFileSync(join(REPO_ROOT, 'test/helpers/envoy-drain-driver.mjs'), 'utf8');
  const output = await inNamespace([process.execPath, '--input-type=module', '-e', driver, JSON.stringify({ preStop: container.lifecycle.preStop.exec.command })]);
  const result = JSON.parse(output.trim().split('\n').at(-1)!);
  assert.is(result.code, 0, 'the preStop hook must succeed');
  assert.is(result.requests.length, 1, JSON.stringify(result.requests));
  assert.match(result.requests[0], /^POST \/drain_listeners\?graceful HTTP\/1\.1\r\nHost: localhost\r\n/);
  assert.ok(result.ms >= 2000, `the hook must wait drainSeconds (2 s) so SIGTERM comes after the drain; took ${result.ms} ms`);
  assert.ok(result.ms < 8000, `the hook must not hang on the admin connection; took ${result.ms} ms`);
});

envoyDrain('drainSeconds 0 renders no hook and no drain time; a grace period not above drainSeconds is refused', async () => {
  const rendered = parseManifests(await templateOrThrow('helm', { values: { envoy: { drainSeconds: 0 } } }));
  const container = (rendered.find((o: Record<string, any>) => o.kind === 'Deployment' && o.metadata.name === 'supersonic-envoy') as Record<string, any>).spec.template.spec.containers[0];
  assert.is(container.lifecycle, undefined);
  assert.not.ok(container.args.includes('--drain-time-s'));
  const refused = await template('helm', { values: { envoy: { drainSeconds: 30, terminationGracePeriodSeconds: 30 } } });
  assert.is.not(refused.code, 0);
  assert.match(refused.stderr, 'envoy.terminationGracePeriodSeconds (30) must be greater than envoy.drainSeconds (30)');
});

envoyDrain.run();

const budgets = suite('PodDisruptionBudgets and spreading');

budgets('Envoy and Triton get PodDisruptionBudgets with maxUnavailable (never minAvailable), selecting only their own pods', async () => {
  const rendered = parseManifests(await templateOrThrow('helm', {}));
  for (const component of ['envoy', 'triton']) {
    const pdb = rendered.find((o: Record<string, any>) => o.kind === 'PodDisruptionBudget' && o.metadata.name === `supersonic-${component}`) as Record<string, any>;
    assert.ok(pdb, `no PodDisruptionBudget for ${component}`);
    assert.equal(pdb.spec, { maxUnavailable: 1, selector: { matchLabels: { 'app.kubernetes.io/component': component, 'app.kubernetes.io/instance': 'supersonic', 'app.kubernetes.io/name': 'supersonic' } } });
  }
  const off = parseManifests(await templateOrThrow('helm', { values: { envoy: { podDisruptionBudget: { enabled: false, maxUnavailable: 1 } }, triton: { podDisruptionBudget: { enabled: false, maxUnavailable: 1 } } } }));
  assert.equal(off.filter((o: Record<string, any>) => o.kind === 'PodDisruptionBudget'), []);
});

budgets('Envoy pods spread softly over nodes by default, with their own selector filled in', async () => {
  const rendered = parseManifests(await templateOrThrow('helm', { release: 'sonic' }));
  const deployment = rendered.find((o: Record<string, any>) => o.kind === 'Deployment' && o.metadata.name === 'sonic-envoy') as Record<string, any>;
  assert.equal(deployment.spec.template.spec.topologySpreadConstraints, [{
    labelSelector: { matchLabels: { 'app.kubernetes.io/component': 'envoy', 'app.kubernetes.io/instance': 'sonic', 'app.kubernetes.io/name': 'supersonic' } },
    maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway',
  }]);
});

budgets.run();
