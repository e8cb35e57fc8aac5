/**
 * Triton behaviours that SuperSONIC 0.3.1 got wrong, asserted one by one (the golden renders
 * show them too, but only as part of a diff).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHART_DIR, templateOrThrow } from '../helpers/helm.ts';
import { parseManifests } from '../helpers/k8s/manifests.ts';

const triton = suite('Triton rendering');
type Manifest = Record<string, any>;

async function render(values: Record<string, unknown>): Promise<Manifest[]> {
  return parseManifests(await templateOrThrow('helm', { values })) as Manifest[];
}
const isTriton = (o: Manifest) => o.metadata?.labels?.['app.kubernetes.io/component'] === 'triton';
const tritonOf = (objects: Manifest[], kind: string) => objects.find((o) => o.kind === kind && isTriton(o))!;
const podOf = (objects: Manifest[]) => tritonOf(objects, 'Deployment').spec.template.spec;

triton('the container listens on targetPort, and the Service maps port to it', async () => {
  const ports = [
    { name: 'http', port: 8000, targetPort: 9000 },
    { name: 'grpc', port: 8001, targetPort: 9001 },
  ];
  const objects = await render({ triton: { service: { ports } } });
  assert.equal(podOf(objects).containers[0].ports.map((p: any) => p.containerPort), [9000, 9001]);
  const service = tritonOf(objects, 'Service');
  assert.equal(service.spec.ports.map((p: any) => [p.port, p.targetPort]), [[8000, 9000], [8001, 9001]]);
});

triton('the Service is headless, so Envoy sees every ready pod', async () => {
  const service = tritonOf(await render({}), 'Service');
  assert.is(service.spec.clusterIP, 'None');
});

triton('storageType cvmfs mounts the host /cvmfs (not an emptyDir), with HostToContainer propagation', async () => {
  for (const storageType of ['cvmfs', 'cvmfs-hostPath']) {
    const pod = podOf(await render({ triton: { modelRepository: { enabled: true, storageType } } }));
    const volume = pod.volumes.find((v: any) => v.name === 'model-repository');
    assert.equal(volume, { name: 'model-repository', hostPath: { path: '/cvmfs', type: 'Directory' } }, storageType);
    const mount = pod.containers[0].volumeMounts.find((m: any) => m.name === 'model-repository');
    assert.equal(mount, { name: 'model-repository', mountPath: '/cvmfs', readOnly: true, mountPropagation: 'HostToContainer' });
  }
});

triton('non-CVMFS repositories are mounted read-only without mount propagation', async () => {
  const pod = podOf(await render({ triton: { modelRepository: { enabled: true, storageType: 'pvc', mountPath: '/models', pvc: { claimName: 'm' } } } }));
  const mount = pod.containers[0].volumeMounts.find((m: any) => m.name === 'model-repository');
  assert.equal(mount, { name: 'model-repository', mountPath: '/models', readOnly: true });
});

triton('the CVMFS claim is rendered exactly when this release uses and creates it', async () => {
  const claims = async (modelRepository: Record<string, unknown>) =>
    (await render({ triton: { modelRepository } })).filter((o) => o.kind === 'PersistentVolumeClaim').map((o) => o.metadata.name);
  assert.equal(await claims({ enabled: true }), ['supersonic-cvmfs']);
  assert.equal(await claims({ enabled: true, cvmfsPvc: { claimName: 'shared-cvmfs' } }), ['shared-cvmfs']);
  assert.equal(await claims({ enabled: false }), []);
  assert.equal(await claims({ enabled: true, cvmfsPvc: { create: false, claimName: 'cvmfs' } }), []);
  assert.equal(await claims({ enabled: true, storageType: 'cvmfs' }), []);
});

triton('lookup only guards upgrades and keeps what an install made: the selector guard writes nothing, the replica guard only the replica count under KEDA, Grafana\'s only its own generated password', () => {
  const dir = join(CHART_DIR, 'templates');
  const guard = /\{\{- define "supersonic\.validateSelector" -\}\}([\s\S]*?)\n\{\{- end \}\}/;
  // Two releases' webhooks must not select the same namespaces: a guard that can only fail.
  const labelGuard = /\{\{- define "supersonic\.webhook\.validateNamespaceLabel" -\}\}([\s\S]*?)\n\{\{- end \}\}/;
  // Under KEDA, the Triton Deployment writes back the count the autoscaler set (an omitted
  // replicas field would be reset to 1 by Helm 3's merge and Helm 4's apply).
  const replicaGuard = /\{\{- define "supersonic\.triton\.currentReplicas" -\}\}([\s\S]*?)\n\{\{- end \}\}/;
  // Grafana's generated admin password, read back from the Secret the release made, so upgrades keep it.
  const grafanaAdmin = /\{\{- define "supersonic\.grafana\.admin" -\}\}([\s\S]*?)\n\{\{- end \}\}/;
  for (const file of readdirSync(dir)) {
    // Inside a template action ({{ ... lookup ... }}), not in comments that explain its absence;
    // the allowed places are the two guards.
    const text = readFileSync(join(dir, file), 'utf8').replace(/\{\{-? ?\/\*[\s\S]*?\*\/ ?-?\}\}/g, '').replace(guard, '').replace(labelGuard, '').replace(replicaGuard, '').replace(grafanaAdmin, '');
    assert.not.match(text, /\{\{[^}]*\blookup\b/, `${file} calls lookup outside supersonic.validateSelector and supersonic.triton.currentReplicas`);
  }
  const helpers = readFileSync(join(dir, '_helpers.tpl'), 'utf8');
  const body = helpers.match(guard)?.[1];
  assert.ok(body?.includes('lookup'), 'the selector guard uses lookup');
  // Every line of the guards is a trimmed action: they write nothing into any object.
  const labelBody = readFileSync(join(dir, '_webhook-helpers.tpl'), 'utf8').match(labelGuard)?.[1];
  assert.ok(labelBody?.includes('lookup'), 'the namespace-label guard uses lookup');
  for (const line of [...body!.split('\n'), ...labelBody!.split('\n')].filter((l) => l.trim())) assert.match(line.trim(), /^\{\{-.*-\}\}$/, `the guard writes output: ${line}`);
  // The replica guard looks up only the Triton Deployment, and only one template line uses it: replicas.
  const replicaBody = helpers.match(replicaGuard)?.[1] ?? '';
  assert.match(replicaBody, /lookup "apps\/v1" "Deployment" \.Release\.Namespace \(include "supersonic\.triton\.fullname" \.\)/);
  const users = readdirSync(dir).flatMap((file) =>
    readFileSync(join(dir, file), 'utf8').split('\n').map((line, i) => ({ file, i, line })).filter(({ line }) => line.includes('include "supersonic.triton.currentReplicas"')),
  );
  assert.equal(users.map((u) => u.file), ['triton-deployment.yaml']);
  const adminBody = readFileSync(join(dir, '_grafana-helpers.tpl'), 'utf8').match(grafanaAdmin)?.[1] ?? '';
  assert.equal(adminBody.match(/lookup [^\n]*/g), ['lookup "v1" "Secret" .Release.Namespace $name -}}'], 'Grafana looks up only its own Secret');
  assert.match(adminBody, /\$name := include "supersonic\.grafana\.fullname" \./);
  const deployment = readFileSync(join(dir, 'triton-deployment.yaml'), 'utf8').split('\n');
  const use = users[0]!;
  assert.match(use.line.trim(), /^\{\{- with include "supersonic\.triton\.currentReplicas" \. \}\}$/);
  assert.is(deployment[use.i + 1]!.trim(), 'replicas: {{ . }}');
  assert.is(deployment[use.i + 2]!.trim(), '{{- end }}');
});

triton('the pod template carries no chart version, so a chart upgrade alone does not restart GPU pods', async () => {
  const deployment = tritonOf(await render({}), 'Deployment');
  assert.match(deployment.metadata.labels['helm.sh/chart'], /^supersonic-\d+\.\d+\.\d+/);
  assert.not.ok('helm.sh/chart' in deployment.spec.template.metadata.labels);
  assert.not.ok('app.kubernetes.io/version' in deployment.spec.template.metadata.labels);
});

triton.run();
