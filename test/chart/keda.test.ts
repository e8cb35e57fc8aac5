/**
 * KEDA autoscaling: the ScaledObject takes SuperSONIC 0.3.1's keys without its bugs
 * (minReplicaCount 0 stays 0, the HPA behaviour comes from values, the Triton Deployment does
 * not fight the autoscaler), adds polling, cooldown, fallback, activation and Prometheus
 * credentials, and wakes Triton from zero on a metric Envoy reports while no Triton pod exists.
 * Renders are checked offline; the upgrade that switches a release to KEDA runs against the real
 * API server with Helm 4 (server-side apply) and Helm 3 (three-way merge).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { sharedCluster } from '../helpers/cluster/shared.ts';
import { dryRunInstall, HELM_VERSIONS, helmIn, CHART_DIR, template, templateOrThrow, type HelmBinary } from '../helpers/helm.ts';
import { expectClean, install, releaseNamespace, uninstall, upgrade } from '../helpers/helm-release.ts';
import { parseManifests } from '../helpers/k8s/manifests.ts';
import { envoyConfigsOf } from '../helpers/envoy/rendered.ts';
import { promtoolTest, requirePromtool, serviceMonitorTargetLabels, type Series } from '../helpers/promtool.ts';

type Manifest = Record<string, any>;
const keda = suite('KEDA autoscaling (renders)');

const APIS = ['keda.sh/v1alpha1', 'monitoring.coreos.com/v1'];
const PROMETHEUS = { external: { enabled: true, url: 'http://prometheus.monitoring:9090' } };

async function render(values: Record<string, any>, options: { release?: string; apiVersions?: string[]; binary?: HelmBinary } = {}): Promise<Manifest[]> {
  const withPrometheus = { prometheus: PROMETHEUS, ...values };
  return parseManifests(await templateOrThrow(options.binary ?? 'helm', {
    release: options.release ?? 'supersonic', values: withPrometheus, apiVersions: options.apiVersions ?? APIS,
  })) as Manifest[];
}
const find = (objects: Manifest[], kind: string, name?: string) => objects.find((o) => o.kind === kind && (!name || o.metadata.name === name));
const scaledObject = (objects: Manifest[]) => find(objects, 'ScaledObject')!;
const tritonDeployment = (objects: Manifest[], release = 'supersonic') => find(objects, 'Deployment', `${release}-triton`)!;
const triggerNamed = (objects: Manifest[], name: string) => scaledObject(objects).spec.triggers.find((t: Manifest) => t.name === name);

for (const binary of HELM_VERSIONS) {
  keda(`${binary}: 0.3.1's keys (values-geddes-cms.yaml's), with the HPA behaviour from values and the Deployment's replicas left to KEDA`, async () => {
    const objects = await render({
      triton: { replicas: 4 },
      keda: {
        enabled: true, minReplicaCount: 1, maxReplicaCount: 11,
        scaleUp: { stabilizationWindowSeconds: 30, periodSeconds: 15, stepsize: 1 },
        scaleDown: { stabilizationWindowSeconds: 45, periodSeconds: 45, stepsize: 2 },
      },
      serverLoadThreshold: 20,
    }, { binary, release: 'sonic-server' });
    const so = scaledObject(objects);
    assert.is(so.metadata.name, 'sonic-server-keda-so', "0.3.1's name, so an upgrade from 0.3.1 keeps KEDA's HPA");
    assert.equal(so.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'sonic-server-triton' });
    assert.is(so.spec.minReplicaCount, 1);
    assert.is(so.spec.maxReplicaCount, 11);
    assert.equal(so.spec.advanced.horizontalPodAutoscalerConfig.behavior, {
      scaleUp: { stabilizationWindowSeconds: 30, policies: [{ type: 'Pods', value: 1, periodSeconds: 15 }] },
      scaleDown: { stabilizationWindowSeconds: 45, policies: [{ type: 'Pods', value: 2, periodSeconds: 45 }] },
    });
    assert.is(so.spec.pollingInterval, 30);
    assert.is(so.spec.cooldownPeriod, 120);
    assert.is(so.spec.idleReplicaCount, undefined);
    assert.is(so.spec.fallback, undefined);
    assert.equal(so.spec.triggers.map((t: Manifest) => [t.type, t.name, t.metricType]), [['prometheus', 'server-load', 'AverageValue']]);
    const trigger = so.spec.triggers[0];
    assert.is(trigger.metadata.serverAddress, 'http://prometheus.monitoring:9090');
    assert.is(trigger.metadata.threshold, '20');
    assert.is(trigger.metadata.metricName, undefined, "KEDA ignores metricName; 0.3.1's is left out");
    assert.is(trigger.authenticationRef, undefined);
    // helm template cannot see the cluster: no replicas, so nothing resets what KEDA set.
    assert.not.ok('replicas' in tritonDeployment(objects, 'sonic-server').spec);
  });

  keda(`${binary}: minReplicaCount 0 stays 0 (0.3.1 made it 1), and a second trigger wakes Triton`, async () => {
    const objects = await render({ keda: { enabled: true, minReplicaCount: 0, maxReplicaCount: 3 } }, { binary });
    const so = scaledObject(objects);
    assert.is(so.spec.minReplicaCount, 0);
    assert.is(so.spec.idleReplicaCount, undefined, 'idleReplicaCount must be below minReplicaCount: none with 0');
    assert.equal(so.spec.triggers.map((t: Manifest) => [t.name, t.metricType]), [['server-load', 'AverageValue'], ['requests', 'AverageValue']]);
    const wake = triggerNamed(objects, 'requests');
    assert.match(wake.metadata.query, /envoy_cluster_upstream_cx_none_healthy\{envoy_cluster_name="triton", namespace="cms", pod=~"supersonic-envoy-\[a-z0-9\]\+-\[a-z0-9\]\+"\}\[2m\]/);
    assert.match(wake.metadata.query, /envoy_cluster_upstream_rq_total\{envoy_cluster_name="triton"/);
    assert.is(wake.metadata.threshold, '1');
    assert.is(wake.metadata.activationThreshold, '0');
  });
}

keda('zeroIdleReplicas: idleReplicaCount 0 above a minimum of 1, with the wake trigger; neither without it', async () => {
  const idle = scaledObject(await render({ keda: { enabled: true, minReplicaCount: 2, maxReplicaCount: 4, zeroIdleReplicas: true } }));
  assert.is(idle.spec.idleReplicaCount, 0);
  assert.is(idle.spec.minReplicaCount, 2);
  assert.ok(idle.spec.triggers.some((t: Manifest) => t.name === 'requests'));
  const plain = scaledObject(await render({ keda: { enabled: true, minReplicaCount: 2, maxReplicaCount: 4 } }));
  assert.is(plain.spec.idleReplicaCount, undefined);
  assert.not.ok(plain.spec.triggers.some((t: Manifest) => t.name === 'requests'));
});

keda('polling, cooldown, activation threshold and fallback come from values', async () => {
  const so = scaledObject(await render({
    serverLoadThreshold: 25,
    keda: {
      enabled: true, minReplicaCount: 0, maxReplicaCount: 8, pollingInterval: 10, cooldownPeriod: 600, activationThreshold: 0.05,
      wakeOnRequest: { window: '5m' },
      fallback: { enabled: true, failureThreshold: 5, replicas: 4, behavior: 'currentReplicasIfHigher' },
    },
  }));
  assert.is(so.spec.pollingInterval, 10);
  assert.is(so.spec.cooldownPeriod, 600);
  assert.equal(so.spec.fallback, { failureThreshold: 5, replicas: 4, behavior: 'currentReplicasIfHigher' });
  const [load, wake] = so.spec.triggers;
  // The load alone keeps Triton up only while overloaded; requests above the activation threshold do otherwise.
  assert.is(load.metadata.activationThreshold, '25');
  assert.is(wake.metadata.activationThreshold, '0.05');
  assert.is(wake.metadata.threshold, '1.05', 'capped above the activation threshold, so it can activate and asks for one pod at most');
  assert.match(wake.metadata.query, /\[5m\]\)\), 1\.05\)$/);
});

keda('Prometheus credentials: a TriggerAuthentication from your Secret, bearer or basic, used by both triggers', async () => {
  const bearer = await render({ keda: { enabled: true, minReplicaCount: 0, prometheusAuth: { mode: 'bearer', secretName: 'prometheus-reader' } } });
  const auth = find(bearer, 'TriggerAuthentication')!;
  assert.is(auth.metadata.name, 'supersonic-keda-prometheus');
  assert.equal(auth.spec.secretTargetRef, [{ parameter: 'bearerToken', name: 'prometheus-reader', key: 'token' }]);
  for (const trigger of scaledObject(bearer).spec.triggers) {
    assert.is(trigger.metadata.authModes, 'bearer');
    assert.equal(trigger.authenticationRef, { name: 'supersonic-keda-prometheus' });
  }
  const basic = await render({ keda: { enabled: true, prometheusAuth: { mode: 'basic', secretName: 'prom', usernameKey: 'user', passwordKey: 'pass' } } });
  assert.equal(find(basic, 'TriggerAuthentication')!.spec.secretTargetRef, [
    { parameter: 'username', name: 'prom', key: 'user' },
    { parameter: 'password', name: 'prom', key: 'pass' },
  ]);
  assert.is(scaledObject(basic).spec.triggers[0].metadata.authModes, 'basic');
  assert.is(find(await render({ keda: { enabled: true } }), 'TriggerAuthentication'), undefined);
});

keda('without KEDA the Deployment has triton.replicas (0 honoured); enabled on a cluster without KEDA: nothing scales, NOTES says so', async () => {
  assert.is(tritonDeployment(await render({ triton: { replicas: 3 } })).spec.replicas, 3);
  assert.is(tritonDeployment(await render({ triton: { replicas: 0 } })).spec.replicas, 0);
  const noCrd = await render({ triton: { replicas: 3 }, keda: { enabled: true } }, { apiVersions: [] });
  assert.is(find(noCrd, 'ScaledObject'), undefined);
  assert.is(tritonDeployment(noCrd).spec.replicas, 3);
  const result = await dryRunInstall('helm', { values: { prometheus: PROMETHEUS, triton: { replicas: 3 }, keda: { enabled: true } } });
  assert.is(result.code, 0, result.stderr);
  assert.match(result.stdout, /WARNING: keda\.enabled is set, but this cluster serves no KEDA ScaledObject API \(keda\.sh\/v1alpha1\): nothing scales Triton, which runs triton\.replicas \(3\) pods/);
});

keda('ServiceMonitors for Triton and Envoy when the CRD exists and something reads the load; none otherwise', async () => {
  const objects = await render({ keda: { enabled: true, minReplicaCount: 0 }, serverLoad: { serviceMonitors: { labels: { release: 'kube-prometheus-stack' }, interval: '10s' } } });
  const monitors = objects.filter((o) => o.kind === 'ServiceMonitor');
  assert.equal(monitors.map((m) => [m.metadata.name, m.spec.endpoints[0].port, m.spec.endpoints[0].path, m.spec.endpoints[0].interval]), [
    ['supersonic-triton', 'metrics', '/metrics', '10s'],
    ['supersonic-envoy', 'metrics', '/stats/prometheus', '10s'],
  ]);
  for (const monitor of monitors) assert.is(monitor.metadata.labels.release, 'kube-prometheus-stack');
  const none = (values: Record<string, any>, apiVersions = APIS) => render(values, { apiVersions }).then((o) => o.filter((x) => x.kind === 'ServiceMonitor'));
  assert.equal(await none({ keda: { enabled: true } }, ['keda.sh/v1alpha1']), []);
  assert.equal(await none({ keda: { enabled: true }, serverLoad: { serviceMonitors: { enabled: false } } }), []);
  assert.equal(await none({}), []);
  // The load shedder alone reads the load too.
  assert.equal((await none({ envoy: { rate_limiter: { prometheus_based: { enabled: true } } } })).map((m) => m.metadata.name), ['supersonic-triton', 'supersonic-envoy']);
});

keda("the chart's Envoy configuration produces the wake trigger's series: a cluster named triton, its stats with default tags, on the scraped port", async () => {
  const objects = await render({ keda: { enabled: true, minReplicaCount: 0 } });
  const config = envoyConfigsOf(objects)[0]!;
  assert.ok(config.static_resources.clusters.some((c: Manifest) => c.name === 'triton'), 'the Envoy cluster the query names');
  assert.is(config.stats_config, undefined, 'no stats_config: Envoy tags cluster stats with envoy_cluster_name');
  const metrics = config.static_resources.listeners.find((l: Manifest) => l.name === 'metrics');
  const routes = metrics.filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes;
  assert.ok(routes.some((r: Manifest) => r.match.path === '/stats/prometheus'));
  assert.is(metrics.address.socket_address.port_value, find(objects, 'Service', 'supersonic-envoy-metrics')!.spec.ports[0].port);
});

keda('the wake trigger, evaluated by promtool on the series the Envoy ServiceMonitor yields: 0 while idle, active on one refused request, never above one pod', async () => {
  requirePromtool();
  const objects = await render({ keda: { enabled: true, minReplicaCount: 0 } });
  const query = triggerNamed(objects, 'requests').metadata.query;
  const pod = (n: number): Record<string, string> => ({ ...serviceMonitorTargetLabels(objects, 'supersonic-envoy', { hash: `5c8d9f7b${n}`, suffix: `q${n}w7z`, ip: `10.2.0.${n}` }), envoy_cluster_name: 'triton' });
  const counter = (name: string, labels: Record<string, string>, values: string): Series => ({ name: `envoy_cluster_${name}`, labels, values });
  const [a, b] = [pod(1), pod(2)];
  // Steps of 15 s, 60 of them. Triton at zero: one request at 9 min 45 s finds no healthy host.
  const oneRefused = [
    counter('upstream_rq_total', a, '0x60'), counter('upstream_cx_none_healthy', a, '0x38 1x21'),
    counter('upstream_rq_total', b, '0x60'), counter('upstream_cx_none_healthy', b, '0x60'),
    // Other Envoy clusters, another release's Envoy pods and another namespace: busy, and not counted.
    counter('upstream_rq_total', { ...a, envoy_cluster_name: 'prometheus' }, '0+100x60'),
    counter('upstream_rq_total', { ...a, pod: a.pod!.replace('supersonic-envoy-', 'supersonic-envoy-x-envoy-') }, '0+100x60'),
    counter('upstream_rq_total', { ...a, namespace: 'atlas' }, '0+100x60'),
  ];
  const checks = [
    // Before the request: idle, so not active (KEDA: value > activationThreshold 0).
    { expr: query, evalTime: '9m', value: 0 },
    // Right after it was scraped: active, and below the cap of one pod.
    { expr: `(${query}) > bool 0`, evalTime: '10m', value: 1 },
    { expr: `(${query}) <= bool 1`, evalTime: '10m', value: 1 },
  ];
  let { code, output } = await promtoolTest(oneRefused, checks);
  assert.is(code, 0, output);
  // Heavy traffic through both Envoy pods: still one pod at most (the load trigger does the scaling).
  ({ code, output } = await promtoolTest([counter('upstream_rq_total', a, '0+900x60'), counter('upstream_cx_none_healthy', a, '0x60'),
    counter('upstream_rq_total', b, '0+900x60'), counter('upstream_cx_none_healthy', b, '0x60')], [{ expr: query, value: 1 }]));
  assert.is(code, 0, output);
  // The window after the last request has passed: idle again.
  ({ code, output } = await promtoolTest([counter('upstream_rq_total', a, '0+10x20 200x40'), counter('upstream_cx_none_healthy', a, '0x60')], [{ expr: query, value: 0 }]));
  assert.is(code, 0, output);
});

const refused = suite('KEDA: values that must be refused, naming the keys');
async function expectFailure(values: Record<string, any>, pattern: RegExp) {
  for (const binary of HELM_VERSIONS) {
    const result = await template(binary, { values, apiVersions: APIS });
    assert.is.not(result.code, 0, `${binary} accepted ${JSON.stringify(values)}`);
    assert.match(result.stderr, pattern, `${binary}: ${result.stderr}`);
  }
}
refused('minReplicaCount above maxReplicaCount', () =>
  expectFailure({ prometheus: PROMETHEUS, keda: { enabled: true, minReplicaCount: 3, maxReplicaCount: 2 } }, /keda\.minReplicaCount \(3\) is above keda\.maxReplicaCount \(2\)/));
refused('no Prometheus to read the load from (0.3.1 rendered serverAddress https://:9090)', () =>
  expectFailure({ keda: { enabled: true } }, /keda\.enabled needs a Prometheus.*prometheus\.external\.url/));
refused('a threshold of 0', () => expectFailure({ prometheus: PROMETHEUS, serverLoadThreshold: 0, keda: { enabled: true } }, /serverLoadThreshold above 0/));
refused('a fallback with a fractional threshold (KEDA uses its integer part)', () =>
  expectFailure({ prometheus: PROMETHEUS, serverLoadThreshold: 2.5, keda: { enabled: true, fallback: { enabled: true } } }, /keda\.fallback needs a whole serverLoadThreshold/));
refused('credentials without a Secret', () =>
  expectFailure({ prometheus: PROMETHEUS, keda: { enabled: true, prometheusAuth: { mode: 'bearer' } } }, /keda\.prometheusAuth\.secretName/));
refused('scale to zero without Envoy, which alone can count the requests that find no Triton', () =>
  expectFailure({ prometheus: PROMETHEUS, envoy: { enabled: false }, keda: { enabled: true, minReplicaCount: 0 } }, /needs Envoy \(envoy\.enabled\)/));
refused('scale to zero behind a shedder that refuses when the load is unknown', () =>
  expectFailure({
    prometheus: PROMETHEUS, keda: { enabled: true, zeroIdleReplicas: true },
    envoy: { rate_limiter: { prometheus_based: { enabled: true, mode: 'shed', failOpen: false } } },
  }, /failOpen false would never wake Triton/));
refused('a misspelt keda key', () => expectFailure({ prometheus: PROMETHEUS, keda: { enabled: true, minReplicas: 1 } }, /minReplicas/));

/**
 * The switch to KEDA, for real: a release running 3 Triton pods is upgraded to keda.enabled
 * with minReplicaCount 1, and must still have 3 right after; a count the autoscaler set (here
 * with kubectl scale, as the HPA does through the scale subresource; no KEDA operator runs) must
 * survive later upgrades; switching back applies triton.replicas again.
 */
const live = suite('KEDA: switching a release to KEDA keeps its pods (real API server)');

const KEDA_ON = ['keda.enabled=true', 'keda.minReplicaCount=1', 'keda.maxReplicaCount=6', 'prometheus.external.enabled=true', 'prometheus.external.url=http://prometheus.monitoring:9090', 'triton.replicas=3'];

for (const binary of HELM_VERSIONS) {
  live(`${binary}: 3 pods without KEDA, upgraded to KEDA (min 1): still 3; the autoscaler's 5, and 0, survive upgrades; back without KEDA: triton.replicas`, async () => {
    const cluster = await sharedCluster();
    const namespace = await releaseNamespace(cluster, `keda-switch-${binary}`, 'restricted');
    const ref = { release: 'sonic', namespace: namespace.name };
    const replicas = async () => {
      const res = await cluster.request('GET', `/apis/apps/v1/namespaces/${namespace.name}/deployments/sonic-triton`);
      assert.is(res.status, 200);
      return res.body.spec.replicas as number;
    };
    const scale = async (n: number) => {
      const result = await cluster.kubectl(['-n', namespace.name, 'scale', 'deployment/sonic-triton', `--replicas=${n}`]);
      assert.is(result.code, 0, result.stderr);
    };
    try {
      expectClean('install', await install(cluster, binary, ref, { set: ['triton.replicas=3'] }));
      assert.is(await replicas(), 3);

      expectClean('upgrade to KEDA', await upgrade(cluster, binary, ref, { set: KEDA_ON }));
      assert.is(await replicas(), 3, 'the switch to KEDA must not scale Triton down to 1');
      const so = await cluster.request('GET', `/apis/keda.sh/v1alpha1/namespaces/${namespace.name}/scaledobjects/sonic-keda-so`);
      assert.is(so.status, 200, 'the ScaledObject exists');

      await scale(5);
      expectClean('upgrade under KEDA', await upgrade(cluster, binary, ref, { set: [...KEDA_ON, 'keda.maxReplicaCount=8'] }));
      assert.is(await replicas(), 5, 'an upgrade must not reset the count the autoscaler set');

      await scale(0);
      expectClean('upgrade at zero', await upgrade(cluster, binary, ref, { set: [...KEDA_ON, 'keda.minReplicaCount=0'] }));
      assert.is(await replicas(), 0, 'an upgrade must not wake a Triton scaled to zero');

      expectClean('upgrade back', await upgrade(cluster, binary, ref, { set: ['triton.replicas=2'] }));
      assert.is(await replicas(), 2);
      const gone = await cluster.request('GET', `/apis/keda.sh/v1alpha1/namespaces/${namespace.name}/scaledobjects/sonic-keda-so`);
      assert.is(gone.status, 404);
      expectClean('uninstall', await uninstall(cluster, binary, ref));
    } finally {
      await namespace.remove();
    }
  });
}

live('helm 4: NOTES of an install into a cluster with KEDA say how Triton scales and what clients see at zero', async () => {
  const cluster = await sharedCluster();
  const namespace = await releaseNamespace(cluster, 'keda-notes', 'restricted');
  try {
    const values = ['keda.enabled=true', 'keda.minReplicaCount=0', 'keda.maxReplicaCount=4', 'prometheus.external.enabled=true', 'prometheus.external.url=http://prometheus.monitoring:9090', 'serverLoadThreshold=20'];
    const result = await helmIn(cluster, 'helm', ['install', 'sonic', CHART_DIR, '--namespace', namespace.name, '--dry-run=server', ...values.flatMap((v) => ['--set', v])]);
    assert.is(result.code, 0, result.stderr);
    const notes = result.stdout.slice(result.stdout.indexOf('NOTES:'));
    assert.match(notes, /Pods:\s+0 to 4 \(KEDA\)/);
    assert.match(notes, /Autoscaling \(KEDA ScaledObject sonic-keda-so\)/);
    assert.match(notes, /ceil\(load x pods \/ 20\)/);
    assert.match(notes, /gRPC UNAVAILABLE \("no healthy upstream"\)/);
    assert.match(notes, /NOTE for SuperSONIC 0\.3\.1 values files/);
    assert.match(notes, /nv_inference_exec_count\{namespace="[^"]+", pod=~"sonic-triton-/);
    assert.not.match(notes, /WARNING: keda/);
  } finally {
    await namespace.remove();
  }
});

keda.run();
refused.run();
live.run();
