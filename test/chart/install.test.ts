/**
 * The chart, installed for real: every golden case is `helm install`ed with Helm 4 and with
 * Helm 3 into the shared test API server (kube-apiserver v1.36 with the real cert-manager, KEDA,
 * Knative and prometheus-operator CRDs), each into a namespace of its own that enforces the
 * restricted Pod Security Standard (baseline or privileged only for a case's documented
 * exception). The install must succeed without a single warning from the server (an unknown
 * field, which Helm 3 only gets warned about, or a Pod Security violation, which the server
 * only warns about for Deployments), every object of the release must exist afterwards and
 * nothing else of it, and `helm uninstall` must leave nothing behind, namespaced or
 * cluster-scoped, in any type the server serves.
 *
 * Installs run three at a time; each test waits for its own.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Cluster } from '../helpers/cluster/control-plane.ts';
import { sharedCluster } from '../helpers/cluster/shared.ts';
import { apiResources } from '../helpers/api-resources.ts';
import { loadGoldenCases, type GoldenCase } from '../helpers/golden.ts';
import { HELM_VERSIONS, templateOrThrow, type HelmBinary } from '../helpers/helm.ts';
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
  type ReleaseRef,
} from '../helpers/helm-release.ts';
import { parseManifests } from '../helpers/k8s/manifests.ts';
import { mapLimit } from '../helpers/map-limit.ts';

const CONCURRENT_INSTALLS = 3;
/**
 * APIs the chart requires but creates no object of: the dispatcher renders only where the
 * cluster serves Knative Serving, and creates the Knative Services itself, at run time. That Helm
 * saw the API is shown by the golden render (which has the dispatcher) matching the install.
 */
const REQUIRED_ONLY = new Set(['serving.knative.dev/v1']);
const cases = loadGoldenCases();
const installs = suite('chart: every golden case installed into the real API server, and uninstalled');

interface Outcome {
  install?: Error;
  uninstall?: Error;
  /** The kinds of the release's objects. */
  kinds: string[];
  /** The release's objects, as its manifest had them. */
  objects: Record<string, any>[];
  ms: number;
}

let outcomes: Map<string, Promise<Outcome>> | undefined;
let startedAt = 0;

const keyOf = (goldenCase: GoldenCase, binary: HelmBinary) => `${goldenCase.name} ${binary}`;

/** Starts every install at the first test that asks; at most CONCURRENT_INSTALLS at a time. */
function outcomeOf(goldenCase: GoldenCase, binary: HelmBinary): Promise<Outcome> {
  if (!outcomes) {
    startedAt = Date.now();
    const jobs = cases.flatMap((c) => HELM_VERSIONS.map((b) => [c, b] as const));
    const settle = new Map<string, (outcome: Outcome) => void>();
    outcomes = new Map(jobs.map(([c, b]) => [keyOf(c, b), new Promise<Outcome>((resolve) => settle.set(keyOf(c, b), resolve))]));
    void sharedCluster().then(
      (cluster) =>
        mapLimit(jobs, CONCURRENT_INSTALLS, async ([c, b]) => {
          const outcome = await lifecycle(cluster, c, b).catch((err: Error) => ({ install: err, uninstall: err, kinds: [], objects: [], ms: 0 }));
          settle.get(keyOf(c, b))!(outcome);
        }),
      (err: Error) => jobs.forEach(([c, b]) => settle.get(keyOf(c, b))!({ install: err, uninstall: err, kinds: [], objects: [], ms: 0 })),
    );
  }
  return outcomes.get(keyOf(goldenCase, binary))!;
}

/** Install, check, uninstall, check; always removes what is left and the namespace. */
async function lifecycle(cluster: Cluster, goldenCase: GoldenCase, binary: HelmBinary): Promise<Outcome> {
  const started = Date.now();
  const outcome: Outcome = { kinds: [], objects: [], ms: 0 };
  const namespace = await releaseNamespace(cluster, `${binary === 'helm' ? 'h4' : 'h3'}-${goldenCase.name}`, podSecurityLevel(goldenCase));
  const ref: ReleaseRef = { release: goldenCase.release, namespace: namespace.name };
  try {
    try {
      await installAndCheck(cluster, goldenCase, binary, ref, outcome);
    } catch (err) {
      outcome.install = err as Error;
    }
    try {
      if (outcome.install) throw new Error('not tried: the install failed');
      expectClean(`${binary} uninstall`, await uninstall(cluster, binary, ref));
      await expectNothingLeft(cluster, ref, outcome.objects);
    } catch (err) {
      outcome.uninstall = err as Error;
    }
  } finally {
    const failures = await deleteClusterScopedOf(cluster, ref).catch((err: Error) => [err.message]);
    await namespace.remove().catch((err: Error) => failures.push(err.message));
    if (failures.length > 0) outcome.uninstall ??= new Error(`cleaning up: ${failures.join(', ')}`);
  }
  outcome.ms = Date.now() - started;
  return outcome;
}

async function installAndCheck(cluster: Cluster, goldenCase: GoldenCase, binary: HelmBinary, ref: ReleaseRef, outcome: Outcome): Promise<void> {
  expectClean(`${binary} install`, await install(cluster, binary, ref, { valuesFiles: [goldenCase.valuesFile] }));
  const objects = await releaseManifest(cluster, binary, ref);
  if (objects.length === 0) throw new Error('the release has no objects');
  outcome.objects = objects;
  outcome.kinds = [...new Set(objects.map((o) => o.kind as string))].sort();

  const missing = await missingObjects(cluster, objects, ref.namespace);
  if (missing.length > 0) throw new Error(`objects of the release the API server does not hold:\n  ${missing.join('\n  ')}`);
  const expected = await manifestKeys(cluster, objects, ref.namespace);
  assert.equal(await liveReleaseObjects(cluster, ref, objects), expected, 'the objects the API server holds for the release are not those of its manifest');

  if (goldenCase.apiVersions.length > 0) {
    // The golden render assumed these APIs (--api-versions); the real cluster serves them, and
    // Helm found them itself, so the install is that render, CRD-based objects included.
    const served = new Set((await apiResources(cluster)).map((r) => r.groupVersion));
    for (const apiVersion of goldenCase.apiVersions) {
      assert.ok(served.has(apiVersion), `the test cluster does not serve ${apiVersion}`);
      if (REQUIRED_ONLY.has(apiVersion)) continue;
      assert.ok(objects.some((o) => o.apiVersion === apiVersion), `no object of ${apiVersion} was created`);
    }
    const golden = await templateOrThrow(binary, { release: ref.release, namespace: ref.namespace, valuesFiles: [goldenCase.valuesFile], apiVersions: goldenCase.apiVersions });
    // Hooks (the helm test pod) are rendered but not installed: Helm creates them on `helm test`.
    const installed = parseManifests(golden).filter((o: Record<string, any>) => !o.metadata?.annotations?.['helm.sh/hook']);
    assert.equal(await manifestKeys(cluster, installed, ref.namespace), expected, 'the golden render differs from the install');
  }
}

for (const goldenCase of cases) {
  for (const binary of HELM_VERSIONS) {
    installs(`${goldenCase.name}: ${binary} install passes the server's validation, the CRD schemas and ${podSecurityLevel(goldenCase)} Pod Security without a warning; every object of the release exists`, async () => {
      const outcome = await outcomeOf(goldenCase, binary);
      if (outcome.install) throw outcome.install;
      assert.ok(outcome.kinds.includes('Deployment'), `the release has no Deployment: ${outcome.kinds.join(', ')}`);
    });
    installs(`${goldenCase.name}: ${binary} uninstall leaves nothing of the release, in its namespace or cluster-wide`, async () => {
      const outcome = await outcomeOf(goldenCase, binary);
      if (outcome.uninstall) throw outcome.uninstall;
    });
  }
}

installs('the CRD-based objects were installed for real: cert-manager Certificate and Issuer, ServiceMonitor, PrometheusRule', async () => {
  const webhookCase = cases.find((c) => c.name === 'webhook-cert-manager');
  assert.ok(webhookCase, 'the golden case webhook-cert-manager is missing');
  for (const binary of HELM_VERSIONS) {
    const outcome = await outcomeOf(webhookCase, binary);
    if (outcome.install) throw outcome.install;
    for (const kind of ['Certificate', 'Issuer', 'ServiceMonitor', 'PrometheusRule', 'MutatingWebhookConfiguration', 'ClusterRole']) {
      assert.ok(outcome.kinds.includes(kind), `${binary}: no ${kind} in ${outcome.kinds.join(', ')}`);
    }
  }
});

installs('the dispatcher was installed where the cluster serves Knative Serving: its Deployment, Service, ConfigMap, RBAC, PDB and NetworkPolicy', async () => {
  const dispatcherCase = cases.find((c) => c.name === 'dispatcher');
  assert.ok(dispatcherCase, 'the golden case dispatcher is missing');
  for (const binary of HELM_VERSIONS) {
    const outcome = await outcomeOf(dispatcherCase, binary);
    if (outcome.install) throw outcome.install;
    const dispatcher = outcome.objects.filter((o) => o.metadata?.labels?.['app.kubernetes.io/component'] === 'dispatcher').map((o) => o.kind as string).sort();
    assert.equal(dispatcher, ['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'Deployment', 'NetworkPolicy', 'PodDisruptionBudget', 'Role', 'RoleBinding', 'Service', 'ServiceAccount'], `${binary}: the dispatcher's objects`);
  }
});

installs.after(async () => {
  if (!outcomes) return;
  const all = await Promise.all(outcomes.values());
  const slowest = Math.max(...all.map((o) => o.ms));
  console.log(`  ${all.length} install/uninstall cycles, ${CONCURRENT_INSTALLS} at a time: ${((Date.now() - startedAt) / 1000).toFixed(1)} s (slowest ${(slowest / 1000).toFixed(1)} s)`);
});

installs.run();
