/**
 * Upgrading a SuperSONIC 0.3.1 release in the real API server. 0.3.1's Deployments select their
 * pods by `app.kubernetes.io/instance: <nameOverride or release>`; this chart's by the release
 * name. Without nameOverride they agree and the upgrade just works; with it, Kubernetes would
 * refuse the selector change half-way through, so the render fails first, saying why and what to
 * run, and those commands do make the upgrade work.
 * The 0.3.1 release is a chart named supersonic at version 0.3.1 holding 0.3.1's Triton and Envoy
 * Deployments with exactly its labels (../shared/reference/supersonic-0.3.1.md, section 1.5),
 * installed by Helm, so the upgrade finds a real release history.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHART_DIR, helmIn, HELM_VERSIONS } from '../helpers/helm.ts';
import { createNamespace, sharedCluster } from '../helpers/cluster/shared.ts';

/** A stand-in for the 0.3.1 chart: only its two Deployments, labelled as 0.3.1 labelled them. */
function chart031(): string {
  const dir = mkdtempSync(join(tmpdir(), 'supersonic-0.3.1-'));
  mkdirSync(join(dir, 'templates'));
  writeFileSync(join(dir, 'Chart.yaml'), 'apiVersion: v2\nname: supersonic\nversion: 0.3.1\nappVersion: "24.11"\n');
  const deployment = (component: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Values.nameOverride | default .Release.Name }}-${component}
  labels: { app.kubernetes.io/name: supersonic, app.kubernetes.io/instance: {{ .Values.nameOverride | default .Release.Name }}, app.kubernetes.io/component: ${component} }
spec:
  replicas: 1
  selector:
    matchLabels: { app.kubernetes.io/name: supersonic, app.kubernetes.io/instance: {{ .Values.nameOverride | default .Release.Name }}, app.kubernetes.io/component: ${component} }
  template:
    metadata:
      labels: { app.kubernetes.io/name: supersonic, app.kubernetes.io/instance: {{ .Values.nameOverride | default .Release.Name }}, app.kubernetes.io/component: ${component} }
    spec:
      containers: [{ name: ${component}, image: busybox }]
`;
  writeFileSync(join(dir, 'templates/triton.yaml'), deployment('triton'));
  writeFileSync(join(dir, 'templates/envoy.yaml'), deployment('envoy'));
  writeFileSync(join(dir, 'values.yaml'), 'nameOverride: ""\n');
  return dir;
}

const upgrade = suite('chart: upgrading a SuperSONIC 0.3.1 release');

upgrade('without nameOverride the selectors agree and helm upgrade succeeds (Helm 4 and Helm 3)', async () => {
  const cluster = await sharedCluster();
  const old = chart031();
  try {
    for (const binary of HELM_VERSIONS) {
      const namespace = await createNamespace(cluster, `from031-${binary}`);
      try {
        const installed = await helmIn(cluster, binary, ['install', 'supersonic', old, '-n', namespace.name]);
        assert.is(installed.code, 0, installed.stderr);
        const upgraded = await helmIn(cluster, binary, ['upgrade', 'supersonic', CHART_DIR, '-n', namespace.name]);
        assert.is(upgraded.code, 0, `${binary}: ${upgraded.stderr}`);
      } finally {
        await namespace.remove();
      }
    }
  } finally {
    rmSync(old, { recursive: true, force: true });
  }
});

upgrade('with nameOverride the render fails naming the Deployment, both selectors and the commands; running them makes the upgrade work', async () => {
  const cluster = await sharedCluster();
  const old = chart031();
  const namespace = await createNamespace(cluster, 'from031-override');
  const ns = namespace.name;
  try {
    const installed = await helmIn(cluster, 'helm', ['install', 'supersonic', old, '-n', ns, '--set', 'nameOverride=sonic-cms']);
    assert.is(installed.code, 0, installed.stderr);

    for (const binary of HELM_VERSIONS) {
      const refused = await helmIn(cluster, binary, ['upgrade', 'supersonic', CHART_DIR, '-n', ns, '--set', 'nameOverride=sonic-cms']);
      assert.is.not(refused.code, 0, `${binary} upgraded anyway`);
      assert.match(refused.stderr, /Deployment sonic-cms-(triton|envoy) in namespace from031-override-\w+ selects its pods by \{"app.kubernetes.io\/component":"(triton|envoy)","app.kubernetes.io\/instance":"sonic-cms"/);
      assert.match(refused.stderr, '"app.kubernetes.io/instance":"supersonic"');
      assert.match(refused.stderr, `kubectl -n ${ns} delete deployment -l app.kubernetes.io/instance=sonic-cms --cascade=orphan`);
      assert.not.match(refused.stderr, 'field is immutable', `${binary}: the render must fail before Kubernetes refuses`);
    }

    // The commands the message gives, then the upgrade.
    const orphaned = await cluster.kubectl(['-n', ns, 'delete', 'deployment', '-l', 'app.kubernetes.io/instance=sonic-cms', '--cascade=orphan']);
    assert.is(orphaned.code, 0, orphaned.stderr);
    const upgraded = await helmIn(cluster, 'helm', ['upgrade', 'supersonic', CHART_DIR, '-n', ns, '--set', 'nameOverride=sonic-cms']);
    assert.is(upgraded.code, 0, upgraded.stderr);
    const triton = await cluster.request('GET', `/apis/apps/v1/namespaces/${ns}/deployments/sonic-cms-triton`);
    assert.is(triton.body.spec.selector.matchLabels['app.kubernetes.io/instance'], 'supersonic');
    const cleaned = await cluster.kubectl(['-n', ns, 'delete', 'replicaset', '-l', 'app.kubernetes.io/instance=sonic-cms']);
    assert.is(cleaned.code, 0, cleaned.stderr);
  } finally {
    await namespace.remove();
    rmSync(old, { recursive: true, force: true });
  }
});

upgrade.run();
