/**
 * Holding requests in Envoy while Triton scales up from zero (keda.wakeOnRequest.hold): the
 * route's cluster is the aggregate triton_hold over [triton (the pods), triton_wait (the
 * ClusterIP Service <name>-triton-wait)], refused connections are retried with a back-off whose
 * bound comes from the values, the retry circuit breakers are raised on all three clusters, the
 * body is buffered for the retries, and the wake trigger counts the held attempts (promtool).
 * Off (the default), nothing changes: the golden renders of every other case are byte-identical.
 * No Envoy binary runs here: the config is checked against Envoy's protos and PGV rules.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { HELM_VERSIONS, template, templateOrThrow } from '../helpers/helm.ts';
import { parseManifests } from '../helpers/k8s/manifests.ts';
import { envoyConfigsOf, undefinedClusters } from '../helpers/envoy/rendered.ts';
import { validateEnvoyBootstrap } from '../helpers/envoy/validate-config.ts';
import { promtoolTest, requirePromtool, serviceMonitorTargetLabels, type Series } from '../helpers/promtool.ts';

type Manifest = Record<string, any>;
const hold = suite('KEDA: Envoy holds requests while Triton scales up from zero');

const APIS = ['keda.sh/v1alpha1', 'monitoring.coreos.com/v1'];
const PROMETHEUS = { external: { enabled: true, url: 'http://prometheus.monitoring:9090' } };

function withHold(holdValues: Record<string, unknown> = {}, extra: Record<string, any> = {}): Record<string, any> {
  return {
    prometheus: PROMETHEUS,
    ...extra,
    keda: { enabled: true, minReplicaCount: 0, ...extra.keda, wakeOnRequest: { hold: { enabled: true, ...holdValues } } },
  };
}

async function render(values: Record<string, any>, release = 'supersonic'): Promise<Manifest[]> {
  return parseManifests(await templateOrThrow('helm', { release, namespace: 'cms', values, apiVersions: APIS })) as Manifest[];
}

const envoyConfig = (objects: Manifest[]) => envoyConfigsOf(objects)[0]!;
const cluster = (config: Manifest, name: string) => config.static_resources.clusters.find((c: Manifest) => c.name === name);
const grpcListener = (config: Manifest) => config.static_resources.listeners.find((l: Manifest) => l.name === 'grpc');
const tritonRoute = (config: Manifest) => grpcListener(config).filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0];
const waitService = (objects: Manifest[], release = 'supersonic') => objects.find((o) => o.kind === 'Service' && o.metadata.name === `${release}-triton-wait`);
const wakeQuery = (objects: Manifest[]) => objects.find((o) => o.kind === 'ScaledObject')!.spec.triggers.find((t: Manifest) => t.name === 'requests').metadata.query as string;

hold('off by default: the route goes to triton, with no retries, no aggregate and no -triton-wait Service', async () => {
  const objects = await render({ prometheus: PROMETHEUS, keda: { enabled: true, minReplicaCount: 0 } });
  const config = envoyConfig(objects);
  assert.is(tritonRoute(config).route.cluster, 'triton');
  assert.is(tritonRoute(config).route.retry_policy, undefined);
  assert.is(tritonRoute(config).per_request_buffer_limit_bytes, undefined);
  assert.equal(config.static_resources.clusters.map((c: Manifest) => c.name).filter((n: string) => n.startsWith('triton')), ['triton']);
  assert.is(cluster(config, 'triton').circuit_breakers, undefined);
  assert.is(waitService(objects), undefined);
  assert.not.match(wakeQuery(objects), /triton_wait|triton_hold/);
});

hold('only with scale to zero: with minReplicaCount 1 the key renders nothing', async () => {
  const objects = await render(withHold({}, { keda: { minReplicaCount: 1 } }));
  assert.is(tritonRoute(envoyConfig(objects)).route.cluster, 'triton');
  assert.is(waitService(objects), undefined);
});

for (const binary of HELM_VERSIONS) {
  hold(`${binary}: the aggregate triton_hold over [triton, triton_wait], in that order, valid for Envoy's API`, async () => {
    const objects = parseManifests(await templateOrThrow(binary, { release: 'sonic', namespace: 'cms', values: withHold(), apiVersions: APIS })) as Manifest[];
    const config = envoyConfig(objects);
    assert.equal(await validateEnvoyBootstrap(config), []);
    assert.equal(undefinedClusters(config), [], 'every cluster the route and the aggregate name is defined');
    assert.is(tritonRoute(config).route.cluster, 'triton_hold');
    const aggregate = cluster(config, 'triton_hold');
    assert.is(aggregate.lb_policy, 'CLUSTER_PROVIDED');
    assert.is(aggregate.cluster_type.name, 'envoy.clusters.aggregate');
    assert.is(aggregate.cluster_type.typed_config['@type'], 'type.googleapis.com/envoy.extensions.clusters.aggregate.v3.ClusterConfig');
    assert.equal(aggregate.cluster_type.typed_config.clusters, ['triton', 'triton_wait'], 'the pods first, the ClusterIP only while none is healthy');
    // The pods' cluster keeps its name (dashboards, alerts and the wake query read its stats), its
    // health checks and outlier detection; the fallback has neither.
    const pods = cluster(config, 'triton');
    assert.is(pods.type, 'STRICT_DNS');
    assert.is(pods.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address, 'sonic-triton.cms.svc');
    assert.ok(pods.health_checks.length > 0);
    assert.ok(pods.outlier_detection);
    assert.is(pods.load_assignment.policy.overprovisioning_factor, 10000, 'no spill to the ClusterIP while any pod is healthy');
    const wait = cluster(config, 'triton_wait');
    assert.is(wait.type, 'STRICT_DNS');
    assert.is(wait.health_checks, undefined);
    assert.is(wait.outlier_detection, undefined);
    assert.ok(wait.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'].explicit_http_config.http2_protocol_options, 'gRPC: HTTP/2');
    const address = wait.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
    const service = waitService(objects, 'sonic')!;
    assert.is(address.address, 'sonic-triton-wait.cms.svc');
    assert.is(address.port_value, service.spec.ports[0].port);
    // The Service: a cluster IP (not headless) for the Triton pods' gRPC port.
    assert.is(service.spec.type, 'ClusterIP');
    assert.is(service.spec.clusterIP, undefined);
    const triton = objects.find((o) => o.kind === 'Service' && o.metadata.name === 'sonic-triton')!;
    assert.equal(service.spec.selector, triton.spec.selector);
    const grpc = triton.spec.ports.find((p: Manifest) => p.name === 'grpc');
    assert.equal(service.spec.ports, [{ name: 'grpc', port: grpc.port, targetPort: grpc.targetPort, protocol: 'TCP' }]);
    assert.is(service.metadata.labels['app.kubernetes.io/component'], 'triton-wait', 'not selected as Triton by the monitors');
  });
}

hold('the retry policy and its bound follow the values: defaults 120 s, 5 s, 100 requests, 1 MiB', async () => {
  const config = envoyConfig(await render(withHold()));
  const route = tritonRoute(config);
  // N = floor((120 - 1) / (5 + 1)) = 19 retries: 1 + 19 x 6 = 115 s at most, within 120.
  assert.equal(route.route.retry_policy, {
    retry_on: 'connect-failure', num_retries: 19, retry_back_off: { base_interval: '0.25s', max_interval: '5s' },
  });
  assert.is(route.route.timeout, '0s', 'the route timeout stays envoy.grpc_route_timeout');
  assert.is(route.per_request_buffer_limit_bytes, 1048576);
  assert.is(grpcListener(config).per_connection_buffer_limit_bytes, 1048576);
  for (const name of ['triton_hold', 'triton', 'triton_wait']) {
    assert.equal(cluster(config, name).circuit_breakers, { thresholds: [{ priority: 'DEFAULT', max_retries: 100 }] }, name);
  }
});

hold('the bound, retries, circuit breakers and buffers computed from other values', async () => {
  const config = envoyConfig(await render(withHold({ maxSeconds: 300, retryIntervalSeconds: 2, maxRequests: 500, bufferBytes: 8388608 }, { envoy: { grpc_route_timeout: '300s' } })));
  const route = tritonRoute(config);
  // floor(299 / 3) = 99 retries; 1 + 99 x 3 = 298 s <= 300 s (the route timeout).
  assert.is(route.route.retry_policy.num_retries, 99);
  assert.is(route.route.retry_policy.retry_back_off.max_interval, '2s');
  assert.is(route.route.timeout, '300s');
  assert.is(route.per_request_buffer_limit_bytes, 8388608);
  assert.is(grpcListener(config).per_connection_buffer_limit_bytes, 8388608, 'Envoy buffers the smaller of the two, so the listener must allow it');
  for (const name of ['triton_hold', 'triton', 'triton_wait']) assert.is(cluster(config, name).circuit_breakers.thresholds[0].max_retries, 500, name);
  // A buffer below Envoy's listener default leaves the listener at that default.
  const small = envoyConfig(await render(withHold({ bufferBytes: 65536 })));
  assert.is(tritonRoute(small).per_request_buffer_limit_bytes, 65536);
  assert.is(grpcListener(small).per_connection_buffer_limit_bytes, 1048576);
});

hold('the wake trigger, by promtool: a held request (refused attempts on triton_wait) wakes Triton; other clusters and Envoys are not counted; idle reads 0', async () => {
  requirePromtool();
  const objects = await render(withHold());
  const query = wakeQuery(objects);
  assert.match(query, /envoy_cluster_upstream_cx_connect_fail\{envoy_cluster_name="triton_wait", namespace="cms", pod=~"supersonic-envoy-\[a-z0-9\]\+-\[a-z0-9\]\+"\}\[2m\]/);
  const base = serviceMonitorTargetLabels(objects, 'supersonic-envoy', { hash: '5c8d9f7b1', suffix: 'q1w7z', ip: '10.2.0.1' });
  const counter = (name: string, envoyCluster: string, values: string, labels: Record<string, string> = base): Series => ({
    name: `envoy_cluster_${name}`, labels: { ...labels, envoy_cluster_name: envoyCluster }, values,
  });
  // Every counter Envoy exports for the three clusters (Envoy exports them all from its start, at 0).
  const idle = (except: string[] = []): Series[] => [
    ['upstream_rq_total', 'triton'], ['upstream_cx_none_healthy', 'triton'],
    ['upstream_cx_connect_fail', 'triton_wait'], ['upstream_rq_total', 'triton_wait'], ['upstream_cx_none_healthy', 'triton_hold'],
  ].filter(([name, c]) => !except.includes(`${name}/${c}`)).map(([name, c]) => counter(name!, c!, '0x60'));
  // Steps of 15 s. Triton at zero: from 9 min 30 s one held request's attempts are refused, a few per step.
  const held = [...idle(['upstream_cx_connect_fail/triton_wait']), counter('upstream_cx_connect_fail', 'triton_wait', '0x38 3+3x21'),
    // Not this release's counts: another Envoy cluster, another release's Envoy, another namespace.
    counter('upstream_cx_connect_fail', 'prometheus', '0+100x60'),
    counter('upstream_cx_connect_fail', 'triton_wait', '0+100x60', { ...base, pod: base.pod!.replace('supersonic-envoy-', 'supersonic-envoy-x-envoy-') }),
    counter('upstream_cx_connect_fail', 'triton_wait', '0+100x60', { ...base, namespace: 'atlas' }),
  ];
  let { code, output } = await promtoolTest(held, [
    { expr: query, evalTime: '9m', value: 0 },
    { expr: `(${query}) > bool 0`, evalTime: '10m', value: 1 },
    { expr: `(${query}) <= bool 1`, evalTime: '10m', value: 1 },
  ]);
  assert.is(code, 0, output);
  // A pod is ready in Kubernetes before Envoy's DNS refresh: requests served through the ClusterIP count too.
  ({ code, output } = await promtoolTest([...idle(['upstream_rq_total/triton_wait']), counter('upstream_rq_total', 'triton_wait', '0+2x60')], [{ expr: `(${query}) > bool 0`, value: 1 }]));
  assert.is(code, 0, output);
  // No host at all (the aggregate found none): counted on the route's cluster, triton_hold.
  ({ code, output } = await promtoolTest([...idle(['upstream_cx_none_healthy/triton_hold']), counter('upstream_cx_none_healthy', 'triton_hold', '0+1x60')], [{ expr: `(${query}) > bool 0`, value: 1 }]));
  assert.is(code, 0, output);
  // Idle: 0, so KEDA scales to zero after the cooldown.
  ({ code, output } = await promtoolTest(idle(), [{ expr: query, value: 0 }]));
  assert.is(code, 0, output);
});

const refused = suite('KEDA hold: values that must be refused, naming the keys');
async function expectFailure(values: Record<string, any>, pattern: RegExp) {
  for (const binary of HELM_VERSIONS) {
    const result = await template(binary, { values, apiVersions: APIS });
    assert.is.not(result.code, 0, `${binary} accepted ${JSON.stringify(values)}`);
    assert.match(result.stderr, pattern, `${binary}: ${result.stderr}`);
  }
}
refused('a route timeout shorter than the hold would end it with a 504', () =>
  expectFailure(withHold({}, { envoy: { grpc_route_timeout: '60s' } }), /envoy\.grpc_route_timeout \(60s\) is shorter than the hold of keda\.wakeOnRequest\.hold \(up to 115 s\)/));
refused('a bound that leaves no retry', () =>
  expectFailure(withHold({ maxSeconds: 6, retryIntervalSeconds: 5 }), /keda\.wakeOnRequest\.hold\.maxSeconds \(6\) leaves no retry: it must be at least keda\.wakeOnRequest\.hold\.retryIntervalSeconds \+ 2 \(7\)/));
refused("an Envoy configuration of the user's own", () =>
  expectFailure(withHold({}, { envoy: { external_config: { load_from_configmap: true, configmap_name: 'my-envoy' } } }), /keda\.wakeOnRequest\.hold needs the chart's Envoy configuration/));
refused('more held requests than Envoy allows pending by default', () =>
  expectFailure(withHold({ maxRequests: 5000 }), /maxRequests/));

hold('the no-ready-Triton alert counts the held requests too, which wait on triton_wait instead of triton\'s none_healthy', async () => {
  const alertExpr = async (values: Record<string, any>) => {
    const rule = (await render(values)).find((o) => o.kind === 'PrometheusRule')!;
    return rule.spec.groups.flatMap((g: Manifest) => g.rules).find((r: Manifest) => r.alert === 'SuperSONICNoReadyTriton').expr as string;
  };
  const held = await alertExpr(withHold({}, { prometheus: { ...PROMETHEUS, operator: { enabled: true } } }));
  assert.match(held, 'envoy_cluster_upstream_cx_connect_fail{envoy_cluster_name="triton_wait"');
  const immediate = await alertExpr(withHold({ enabled: false }, { prometheus: { ...PROMETHEUS, operator: { enabled: true } } }));
  assert.not.match(immediate, 'triton_wait');
});

hold.run();
refused.run();
