/**
 * `helm upgrade` between the configurations users really switch between (golden cases, so a
 * reviewer knows each side from its render): install the first, upgrade to the second, upgrade
 * back, uninstall, with Helm 4 (server-side apply) and Helm 3 (three-way merge), and once from a
 * Helm 3 release to Helm 4. Every step must succeed without a warning, which proves that no
 * step changes an immutable field (a Deployment's selector, a PersistentVolumeClaim's spec); after
 * each, the API server holds exactly the objects of the release's manifest, so what a step drops
 * is gone, and the uninstall leaves nothing.
 *
 * Pairs run three at a time; each test waits for its own.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Cluster } from '../helpers/cluster/control-plane.ts';
import { sharedCluster } from '../helpers/cluster/shared.ts';
import { loadGoldenCases, type GoldenCase } from '../helpers/golden.ts';
import type { HelmBinary } from '../helpers/helm.ts';
import {
  deleteClusterScopedOf,
  expectClean,
  expectNothingLeft,
  install,
  liveReleaseObjects,
  manifestKeys,
  missingObjects,
  podSecurityLevel,
  releaseManifest,
  releaseNamespace,
  uninstall,
  upgrade,
  type ChartValues,
  type PodSecurityLevel,
  type ReleaseRef,
} from '../helpers/helm-release.ts';
import { mapLimit } from '../helpers/map-limit.ts';

const CONCURRENT_PAIRS = 3;
const upgrades = suite('chart: helm upgrade between the configurations users switch between, both ways');

interface Side {
  case: string;
  /** Values on top of the case's, where the real cluster would otherwise decide differently. */
  set?: string[];
}

interface Pair {
  from: Side;
  to: Side;
  why: string;
  /** Who installs, upgrades and uninstalls: one Helm, or Helm 3 installing and Helm 4 taking over. */
  helm: { install: HelmBinary; upgrade: HelmBinary };
}

// webhook-self-managed renders without cert-manager; the test cluster serves cert-manager.io/v1,
// so mode auto would pick cert-manager there. selfManaged is what auto means without it.
const SELF_MANAGED: Side = { case: 'webhook-self-managed', set: ['webhook.tls.mode=selfManaged'] };

const SWITCHES: { from: Side; to: Side; why: string }[] = [
  { from: { case: 'defaults' }, to: { case: 'envoy-disabled' }, why: 'Envoy switched off and on' },
  { from: { case: 'defaults' }, to: { case: 'envoy-auth' }, why: 'JWT auth switched on and off' },
  { from: { case: 'defaults' }, to: { case: 'envoy-listener-ratelimit' }, why: 'the listener rate limit switched on and off' },
  { from: { case: 'defaults' }, to: { case: 'envoy-shed' }, why: 'the Prometheus-based load shedder switched on and off' },
  { from: { case: 'defaults' }, to: { case: 'webhook-cert-manager' }, why: 'the webhook switched on (cert-manager) and off' },
  { from: SELF_MANAGED, to: { case: 'webhook-cert-manager' }, why: "the webhook's certificate from its own CA, then from cert-manager, and back" },
  { from: { case: 'defaults' }, to: { case: 'keda-scale-to-zero' }, why: 'KEDA autoscaling (to zero) switched on and off' },
  { from: { case: 'defaults' }, to: { case: 'storage-cvmfs-pvc' }, why: 'a model repository added and removed' },
  { from: { case: 'storage-cvmfs' }, to: { case: 'storage-cvmfs-pvc' }, why: "storage from the nodes' CVMFS to the release's CVMFS claim" },
  { from: { case: 'storage-cvmfs-pvc' }, to: { case: 'storage-cvmfs-pvc-existing' }, why: "the release's own CVMFS claim, then an existing one" },
  { from: { case: 'storage-cvmfs-pvc' }, to: { case: 'storage-nfs' }, why: 'storage from the CVMFS claim to NFS' },
  { from: { case: 'storage-nfs' }, to: { case: 'storage-pvc' }, why: 'storage from NFS to an existing claim' },
  { from: { case: 'storage-pvc' }, to: { case: 'storage-cvmfs' }, why: "storage from an existing claim to the nodes' CVMFS" },
];

const PAIRS: Pair[] = [
  ...SWITCHES.flatMap((s) => (['helm', 'helm3'] as const).map((binary) => ({ ...s, helm: { install: binary, upgrade: binary } }))),
  { from: { case: 'defaults' }, to: { case: 'envoy-disabled' }, why: 'a Helm 3 release taken over by Helm 4', helm: { install: 'helm3', upgrade: 'helm' } },
];

const cases = new Map(loadGoldenCases().map((c) => [c.name, c]));
function goldenCase(name: string): GoldenCase {
  const found = cases.get(name);
  if (!found) throw new Error(`no golden case ${name}`);
  return found;
}
const valuesOf = (side: Side): ChartValues => ({ valuesFiles: [goldenCase(side.case).valuesFile], set: side.set });
const sideName = (side: Side) => `${side.case}${side.set ? ` (${side.set.join(', ')})` : ''}`;
const helmName = (pair: Pair) => (pair.helm.install === pair.helm.upgrade ? pair.helm.install : `${pair.helm.install} then ${pair.helm.upgrade}`);

const LEVELS: PodSecurityLevel[] = ['restricted', 'baseline', 'privileged'];
/** The namespace must admit both sides: the more permissive of their levels. */
function levelOf(pair: Pair): PodSecurityLevel {
  const [a, b] = [pair.from, pair.to].map((side) => LEVELS.indexOf(podSecurityLevel(goldenCase(side.case))));
  return LEVELS[Math.max(a!, b!)]!;
}

let outcomes: Promise<(Error | undefined)[]> | undefined;
let startedAt = 0;

function outcomeOf(index: number): Promise<Error | undefined> {
  outcomes ??= (async () => {
    startedAt = Date.now();
    const cluster = await sharedCluster();
    return mapLimit(PAIRS, CONCURRENT_PAIRS, (pair) => switchBothWays(cluster, pair).then(() => undefined, (err: Error) => err));
  })();
  return outcomes.then((all) => all[index], (err: Error) => err);
}

async function switchBothWays(cluster: Cluster, pair: Pair): Promise<void> {
  const from = goldenCase(pair.from.case);
  const to = goldenCase(pair.to.case);
  assert.is(to.release, from.release, `${pair.from.case} and ${pair.to.case} render different releases`);
  const namespace = await releaseNamespace(cluster, `up-${pair.from.case}-${pair.to.case}`, levelOf(pair));
  const ref: ReleaseRef = { release: from.release, namespace: namespace.name };
  const { install: first, upgrade: then } = pair.helm;
  try {
    expectClean(`${first} install of ${sideName(pair.from)}`, await install(cluster, first, ref, valuesOf(pair.from)));
    const before = await releaseManifest(cluster, first, ref);
    await expectExactly(cluster, ref, before, before, `after installing ${sideName(pair.from)}`);

    expectClean(`${then} upgrade to ${sideName(pair.to)}`, await upgrade(cluster, then, ref, valuesOf(pair.to)));
    const after = await releaseManifest(cluster, then, ref);
    assert.not.equal(canonical(after), canonical(before), `the upgrade to ${sideName(pair.to)} changed nothing: the pair tests no switch`);
    await expectExactly(cluster, ref, after, [...before, ...after], `after upgrading to ${sideName(pair.to)}`);

    expectClean(`${then} upgrade back to ${sideName(pair.from)}`, await upgrade(cluster, then, ref, valuesOf(pair.from)));
    const back = await releaseManifest(cluster, then, ref);
    assert.equal(canonical(back), canonical(before), `upgrading back to ${sideName(pair.from)} renders other objects than installing it`);
    await expectExactly(cluster, ref, back, [...before, ...after], `after upgrading back to ${sideName(pair.from)}`);

    expectClean(`${then} uninstall`, await uninstall(cluster, then, ref));
    await expectNothingLeft(cluster, ref, [...before, ...after]);
  } finally {
    const failures = await deleteClusterScopedOf(cluster, ref).catch((err: Error) => [err.message]);
    await namespace.remove().catch((err: Error) => failures.push(err.message));
    if (failures.length > 0) throw new Error(`cleaning up: ${failures.join(', ')}`);
  }
}

/** The objects, order aside (Helm 3 and Helm 4 sort kinds they do not know differently). */
function canonical(objects: Record<string, any>[]): string[] {
  return objects.map((o) => JSON.stringify(o)).sort();
}

/** The API server holds every object of `objects`, and no other object Helm made for the release in the types of `ever`. */
async function expectExactly(cluster: Cluster, ref: ReleaseRef, objects: Record<string, any>[], ever: Record<string, any>[], when: string): Promise<void> {
  const missing = await missingObjects(cluster, objects, ref.namespace);
  assert.equal(missing, [], `${when}, objects of the release the API server does not hold`);
  assert.equal(await liveReleaseObjects(cluster, ref, ever), await manifestKeys(cluster, objects, ref.namespace), `${when}, the API server holds other objects of the release than its manifest`);
}

PAIRS.forEach((pair, index) => {
  upgrades(`${sideName(pair.from)} ⇄ ${sideName(pair.to)}, ${pair.why}: ${helmName(pair)} installs, upgrades, upgrades back and uninstalls`, async () => {
    const err = await outcomeOf(index);
    if (err) throw err;
  });
});

upgrades('the pairs cover Envoy, auth, rate limiting, the webhook and every storage type', () => {
  const covered = new Set(PAIRS.flatMap((p) => [p.from.case, p.to.case]));
  for (const name of ['envoy-disabled', 'envoy-auth', 'envoy-listener-ratelimit', 'envoy-shed', 'webhook-cert-manager', 'webhook-self-managed', 'storage-cvmfs', 'storage-cvmfs-pvc', 'storage-nfs', 'storage-pvc']) {
    assert.ok(covered.has(name), `no pair switches to or from ${name}`);
  }
  assert.ok(PAIRS.some((p) => p.helm.install === 'helm3' && p.helm.upgrade === 'helm'), 'no Helm 3 release is upgraded by Helm 4');
});

upgrades.after(async () => {
  if (!outcomes) return;
  await outcomes;
  console.log(`  ${PAIRS.length} install, upgrade, upgrade back, uninstall cycles, ${CONCURRENT_PAIRS} at a time: ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
});

upgrades.run();
