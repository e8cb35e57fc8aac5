/**
 * NOTES.txt, as `helm install` prints it: endpoints, the load metric, and deprecation warnings.
 * Helm 4 only: Helm 3.18's `install --dry-run=client` still asks a cluster for its version, and
 * `helm template` never renders NOTES, so there is no offline way to see Helm 3's NOTES.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { dryRunInstall, type HelmBinary } from '../helpers/helm.ts';

const notes = suite('NOTES.txt');

async function notesOf(binary: HelmBinary, release: string, values: Record<string, unknown> = {}): Promise<string> {
  const result = await dryRunInstall(binary, { release, namespace: 'cms', values });
  assert.is(result.code, 0, result.stderr);
  const start = result.stdout.indexOf('NOTES:\n');
  assert.ok(start >= 0, 'no NOTES in the output');
  return result.stdout.slice(start);
}

notes('names the Triton Service of this release and prints ports as integers', async () => {
  const text = await notesOf('helm', 'sonic-server');
  assert.match(text, /Service:\s+sonic-server-triton\.cms\.svc \(headless/);
  assert.match(text, /Ports:\s+http 8000, grpc 8001, metrics 8002\n/);
  assert.not.match(text, /%!|float64|<no value>/);
});

notes('prints the client endpoint with the gRPC port as an integer (0.3.1 printed %!d(float64=8001))', async () => {
  const text = await notesOf('helm', 'supersonic');
  assert.match(text, /In the cluster:\s+supersonic\.cms\.svc:8001\n/);
  assert.match(text, /Envoy metrics:\s+supersonic-envoy-metrics\.cms\.svc:9902\/stats\/prometheus/);
});

notes('prints each Ingress host, the LoadBalancer hint, and warns about a 0.3-style admin port', async () => {
  const text = await notesOf('helm', 'supersonic', {
    envoy: {
      service: { type: 'LoadBalancer', ports: [{ name: 'grpc', port: 8001, targetPort: 8001 }, { name: 'admin', port: 9901, targetPort: 9901 }] },
      ingress: { enabled: true, hostName: 'a.example.org', hosts: ['b.example.org'] },
    },
  });
  assert.match(text, /Through Ingress: a\.example\.org:443\n\s+Through Ingress: b\.example\.org:443\n/);
  assert.match(text, /External address: kubectl get service supersonic --namespace cms/);
  assert.match(text, /WARNING: envoy\.service\.ports lists "admin", which is left out/);
});

notes('without Envoy, says that clients must reach Triton directly', async () => {
  const text = await notesOf('helm', 'supersonic', { envoy: { enabled: false } });
  assert.match(text, /Envoy is disabled/);
  assert.not.match(text, /Client endpoint/);
});

notes('the built-in load metric selects this release, and a threshold of 0 is shown as 0', async () => {
  const text = await notesOf('helm', 'sonic-server', { serverLoadThreshold: 0 });
  assert.match(text, /Server load metric \(threshold 0\):/);
  // By the labels the chart's scrape gives (namespace, pod), not 0.3.1's `release`, which nothing produces.
  assert.match(text, /nv_inference_queue_duration_us\{namespace="cms", pod=~"sonic-server-triton-\[a-z0-9\]\+-\[a-z0-9\]\+"\}/);
  assert.not.match(text, /release=/);
});

notes('a custom load metric is printed as given', async () => {
  const metric = 'sum(rate(nv_inference_queue_duration_us{release="x"}[1m]))';
  const text = await notesOf('helm', 'supersonic', { serverLoadMetric: metric });
  assert.ok(text.includes(`  ${metric}\n`), text);
});

notes('the model repository line says what is mounted where', async () => {
  const text = await notesOf('helm', 'supersonic', { triton: { modelRepository: { enabled: true, mountPath: '/models' } } });
  assert.match(text, /Models:\s+cvmfs-pvc mounted read-only at \/models \(claim supersonic-cvmfs\)/);
});

notes('a deprecated key that is set gets a warning naming it; none otherwise', async () => {
  const warned = await notesOf('helm', 'supersonic', { triton: { name: 'triton-atlas' } });
  assert.match(warned, /WARNING: triton\.name is set\. Deprecated and ignored/);
  const quiet = await notesOf('helm', 'supersonic');
  assert.not.match(quiet, /WARNING/);
});

notes('the load shedder keeps 0.3.1\'s meaning by default (mode signal) and says which mode is active', async () => {
  const prometheus = { external: { enabled: true, url: 'prometheus.example.org' } };
  const byDefault = await notesOf('helm', 'supersonic', { prometheus, envoy: { rate_limiter: { prometheus_based: { enabled: true } } } });
  assert.match(byDefault, /Load shedding:\s+mode signal \(SuperSONIC 0\.3\.1's\): nothing is refused/);
  const shed = await notesOf('helm', 'supersonic', { prometheus, envoy: { rate_limiter: { prometheus_based: { enabled: true, mode: 'shed' } } } });
  assert.match(shed, /Load shedding:\s+mode shed: inference calls are refused while the load is over/);
});

notes('a targetPort below 1024 for a non-root Envoy gets a warning naming the port and the runtimes; none by default or as root', async () => {
  const lowPort = { service: { ports: [{ name: 'grpc', port: 443, targetPort: 443 }] } };
  const warned = await notesOf('helm', 'supersonic', { envoy: lowPort });
  assert.match(warned, 'WARNING: envoy.service.ports "grpc" has targetPort 443, below 1024, and Envoy runs as a non-root user');
  assert.match(warned, 'containerd 1.7 does not by default');
  assert.not.match(await notesOf('helm', 'supersonic'), 'below 1024');
  const asRoot = { ...lowPort, podSecurityContext: { runAsNonRoot: false, runAsUser: 0 } };
  assert.not.match(await notesOf('helm', 'supersonic', { envoy: asRoot }), 'below 1024');
});

notes.run();
