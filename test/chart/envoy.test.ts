/**
 * Envoy behaviours asserted one by one: what reaches the container, what is exposed, when pods
 * roll, and which settings are refused with a message naming the keys.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { dryRunInstall, template, templateOrThrow } from '../helpers/helm.ts';
import { parseManifests } from '../helpers/k8s/manifests.ts';
import { envoyConfigsOf, undefinedClusters } from '../helpers/envoy/rendered.ts';
import { validateEnvoyBootstrap } from '../helpers/envoy/validate-config.ts';

type Manifest = Record<string, any>;
const envoy = suite('Envoy rendering');

async function render(values: Record<string, unknown>, release = 'supersonic'): Promise<Manifest[]> {
  return parseManifests(await templateOrThrow('helm', { release, values })) as Manifest[];
}
const byName = (objects: Manifest[], kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name);
const envoyDeployment = (objects: Manifest[]) => byName(objects, 'Deployment', 'supersonic-envoy')!;
const envoyConfig = (objects: Manifest[]) => envoyConfigsOf(objects)[0]!;
const prometheus = { external: { enabled: true, url: 'prometheus.example.org' } };

envoy('the container runs envoy itself with envoy.args (then the drain time, unless they set one), as a non-root user on a read-only root', async () => {
  const args = ['--config-path', '/etc/envoy/envoy.yaml', '--log-level', 'debug', '--concurrency', '4'];
  const container = envoyDeployment(await render({ envoy: { args } })).spec.template.spec.containers[0];
  assert.equal(container.command, ['envoy']);
  assert.equal(container.args, [...args, '--drain-time-s', '30']);
  const own = [...args, '--drain-time-s', '10'];
  assert.equal(envoyDeployment(await render({ envoy: { args: own } })).spec.template.spec.containers[0].args, own);
  assert.is(container.securityContext.readOnlyRootFilesystem, true);
});

envoy('the admin interface listens on localhost only and is on no Service', async () => {
  const objects = await render({ envoy: { service: { ports: [{ name: 'grpc', port: 8001, targetPort: 8001 }, { name: 'admin', port: 9901, targetPort: 9901 }] } } });
  assert.equal(envoyConfig(objects).admin.address.socket_address, { address: '127.0.0.1', port_value: 9901 });
  const services = objects.filter((o) => o.kind === 'Service' && o.metadata.labels['app.kubernetes.io/component'] === 'envoy');
  const exposed = services.flatMap((s) => s.spec.ports.map((p: Manifest) => p.targetPort));
  assert.not.ok(exposed.includes(9901), `admin port exposed: ${JSON.stringify(exposed)}`);
  assert.equal(byName(objects, 'Service', 'supersonic')!.spec.ports.map((p: Manifest) => p.name), ['grpc']);
});

envoy('the metrics listener routes only /ready and /stats/prometheus to the admin interface', async () => {
  const listener = envoyConfig(await render({})).static_resources.listeners.find((l: Manifest) => l.name === 'metrics');
  const routes = listener.filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes;
  assert.equal(routes.map((r: Manifest) => r.match), [{ path: '/ready' }, { path: '/stats/prometheus' }]);
});

envoy('a configuration change rolls the pods; the same values give the same checksum', async () => {
  const checksum = async (values: Record<string, unknown>) =>
    envoyDeployment(await render(values)).spec.template.metadata.annotations['checksum/config'];
  const base = await checksum({});
  assert.match(base, /^[0-9a-f]{64}$/);
  assert.is(await checksum({}), base);
  assert.is.not(await checksum({ envoy: { loadBalancerPolicy: 'ROUND_ROBIN' } }), base);
});

envoy('the Lua volume is mounted exactly when its ConfigMap is rendered', async () => {
  for (const limiter of [false, true]) {
    for (const external of [false, true]) {
      const values = {
        envoy: {
          rate_limiter: { prometheus_based: { enabled: limiter } },
          external_config: { load_from_configmap: external, configmap_name: external ? 'mine' : '' },
        },
        prometheus,
      };
      const objects = await render(values);
      const luaConfigMap = byName(objects, 'ConfigMap', 'supersonic-envoy-lua');
      const volumes = envoyDeployment(objects).spec.template.spec.volumes;
      const luaVolume = volumes.find((v: Manifest) => v.name === 'lua');
      assert.is(!!luaConfigMap, limiter, `limiter=${limiter} external=${external}: ConfigMap`);
      assert.is(!!luaVolume, limiter, `limiter=${limiter} external=${external}: volume`);
      if (luaVolume) assert.is(luaVolume.configMap.name, luaConfigMap!.metadata.name);
      assert.ok(luaConfigMap === undefined || luaConfigMap.data['envoy-load-shedder.lua'].includes('envoy_on_request'));
    }
  }
});

envoy('external_config mounts the named ConfigMap and key directly, and renders no configuration of its own', async () => {
  const objects = await render({ envoy: { external_config: { load_from_configmap: true, configmap_name: 'site-envoy', configmap_key: 'custom.yaml' } } });
  assert.equal(envoyConfigsOf(objects), []);
  const config = envoyDeployment(objects).spec.template.spec.volumes.find((v: Manifest) => v.name === 'config');
  assert.equal(config.configMap, { name: 'site-envoy', items: [{ key: 'custom.yaml', path: 'envoy.yaml' }] });
});

envoy('JWT audiences render as a list, and the provider is named after the instance unless set', async () => {
  const auth = {
    enabled: true, jwt_issuer: 'https://issuer.example.org', jwt_remote_jwks_uri: 'https://issuer.example.org/certs',
    audiences: ['a', 'b'], url: 'issuer.example.org',
  };
  const jwtFilter = (objects: Manifest[]) => envoyConfig(objects).static_resources.listeners[0]
    .filter_chains[0].filters[0].typed_config.http_filters.find((f: Manifest) => f.name === 'envoy.filters.http.jwt_authn').typed_config;
  const named = jwtFilter(await render({ envoy: { auth } }, 'sonic-server'));
  assert.equal(Object.keys(named.providers), ['sonic-server']);
  assert.equal(named.providers['sonic-server'].audiences, ['a', 'b']);
  const custom = jwtFilter(await render({ envoy: { auth: { ...auth, providerName: 'icecube' } } }));
  assert.equal(Object.keys(custom.providers), ['icecube']);
  assert.equal(custom.rules[0].requires, { provider_name: 'icecube' });
});

envoy('TLS to the JWKS host sends SNI and checks the certificate against the system CAs', async () => {
  const auth = { enabled: true, jwt_issuer: 'i', jwt_remote_jwks_uri: 'https://keys.example.org/jwks', audiences: [], url: 'keys.example.org' };
  const jwks = envoyConfig(await render({ envoy: { auth } })).static_resources.clusters.find((c: Manifest) => c.name === 'jwks');
  const tls = jwks.transport_socket.typed_config;
  assert.is(tls.sni, 'keys.example.org');
  assert.is(tls.common_tls_context.validation_context.trusted_ca.filename, '/etc/ssl/certs/ca-certificates.crt');
  assert.equal(tls.common_tls_context.validation_context.match_typed_subject_alt_names, [{ san_type: 'DNS', matcher: { exact: 'keys.example.org' } }]);
});

envoy('a site CA for the JWKS server (ConfigMap) and Prometheus (Secret) is mounted and trusted instead of the system CAs', async () => {
  const auth = { enabled: true, jwt_issuer: 'i', jwt_remote_jwks_uri: 'https://keycloak.example.org/certs', caBundle: { configMap: 'keycloak-ca', key: 'bundle.pem' } };
  const values = {
    envoy: { auth, rate_limiter: { prometheus_based: { enabled: true } } },
    prometheus: { external: { enabled: true, url: 'prom.example.org', caBundle: { secret: 'prom-ca' } } },
  };
  const objects = await render(values);
  const config = envoyConfig(objects);
  assert.equal(await validateEnvoyBootstrap(config), []);
  const trusted = (name: string) => config.static_resources.clusters.find((c: Manifest) => c.name === name).transport_socket.typed_config.common_tls_context.validation_context.trusted_ca.filename;
  assert.is(trusted('jwks'), '/etc/envoy/ca/jwks/ca.crt');
  assert.is(trusted('prometheus'), '/etc/envoy/ca/prometheus/ca.crt');
  const pod = envoyDeployment(objects).spec.template.spec;
  const mounts = pod.containers[0].volumeMounts.filter((m: Manifest) => m.name.startsWith('ca-'));
  assert.equal(mounts, [{ name: 'ca-jwks', mountPath: '/etc/envoy/ca/jwks', readOnly: true }, { name: 'ca-prometheus', mountPath: '/etc/envoy/ca/prometheus', readOnly: true }]);
  assert.equal(pod.volumes.find((v: Manifest) => v.name === 'ca-jwks').configMap, { name: 'keycloak-ca', items: [{ key: 'bundle.pem', path: 'ca.crt' }] });
  assert.equal(pod.volumes.find((v: Manifest) => v.name === 'ca-prometheus').secret, { secretName: 'prom-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }] });

  const plain = envoyDeployment(await render({ envoy: { auth: { ...auth, caBundle: { configMap: '' } } } })).spec.template.spec;
  assert.equal(plain.volumes.filter((v: Manifest) => v.name.startsWith('ca-')), [], 'no bundle, no volume');
});

envoy('the Prometheus address comes from prometheus.external; a scheme, port or path in the url wins', async () => {
  const cases: [Record<string, unknown>, string, number, boolean, string][] = [
    [{ url: 'prom.example.org', port: 443, scheme: 'https' }, 'prom.example.org', 443, true, '/api/v1/query'],
    [{ url: 'https://prom.example.org/', port: 443, scheme: 'http' }, 'prom.example.org', 443, true, '/api/v1/query'],
    [{ url: 'http://prometheus-server.monitoring:9090/prometheus' }, 'prometheus-server.monitoring', 9090, false, '/prometheus/api/v1/query'],
    [{ url: 'prometheus-server.monitoring', port: 9090, scheme: 'http' }, 'prometheus-server.monitoring', 9090, false, '/api/v1/query'],
  ];
  for (const [external, host, port, tls, path] of cases) {
    const objects = await render({ envoy: { rate_limiter: { prometheus_based: { enabled: true } } }, prometheus: { external: { enabled: true, ...external } } });
    const config = envoyConfig(objects);
    const cluster = config.static_resources.clusters.find((c: Manifest) => c.name === 'prometheus');
    const address = cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
    assert.equal(address, { address: host, port_value: port }, JSON.stringify(external));
    assert.is(!!cluster.transport_socket, tls, `${JSON.stringify(external)}: TLS`);
    const route = config.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0];
    const settings = route.metadata.filter_metadata['envoy.filters.http.lua'];
    assert.equal([settings.authority, settings.path], [host, path], JSON.stringify(external));
  }
});

envoy('the JWKS host and port come from the URI; envoy.auth.port applies when it names none', async () => {
  const jwksAddress = async (auth: Record<string, unknown>) => {
    const config = envoyConfig(await render({ envoy: { auth: { enabled: true, jwt_issuer: 'i', ...auth } } }));
    const cluster = config.static_resources.clusters.find((c: Manifest) => c.name === 'jwks');
    return cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
  };
  assert.equal(await jwksAddress({ jwt_remote_jwks_uri: 'https://keys.example.org:8443/jwks' }), { address: 'keys.example.org', port_value: 8443 });
  assert.equal(await jwksAddress({ jwt_remote_jwks_uri: 'https://keys.example.org/jwks', port: 444 }), { address: 'keys.example.org', port_value: 444 });
});

envoy('with an external configuration the probes check the gRPC port and no metrics Service exists', async () => {
  const objects = await render({ envoy: { external_config: { load_from_configmap: true, configmap_name: 'site-envoy' } } });
  const container = envoyDeployment(objects).spec.template.spec.containers[0];
  assert.equal(container.readinessProbe.tcpSocket, { port: 'grpc' });
  assert.equal(container.livenessProbe.tcpSocket, { port: 'grpc' });
  assert.equal(container.ports.map((p: Manifest) => p.name), ['grpc']);
  assert.is(byName(objects, 'Service', 'supersonic-envoy-metrics'), undefined);
});

envoy('outlier detection ejects on gateway errors only, so bad requests cannot eject healthy pods', async () => {
  const triton = envoyConfig(await render({})).static_resources.clusters.find((c: Manifest) => c.name === 'triton');
  assert.is(triton.outlier_detection.enforcing_consecutive_5xx, 0);
  assert.is(triton.outlier_detection.enforcing_consecutive_gateway_failure, 100);
});

envoy('Triton\'s address works on any cluster domain: <name>-triton.<namespace>.svc, fully qualified only with clusterDomain', async () => {
  const address = (config: Manifest) =>
    config.static_resources.clusters.find((c: Manifest) => c.name === 'triton').load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address;
  assert.is(address(envoyConfig(await render({}))), 'supersonic-triton.cms.svc');
  assert.is(address(envoyConfig(await render({ clusterDomain: 'hep.example.org' }))), 'supersonic-triton.cms.svc.hep.example.org');
  const notes = await dryRunInstall('helm', { values: { clusterDomain: 'hep.example.org' } });
  assert.is(notes.code, 0, notes.stderr);
  assert.match(notes.stdout, 'In the cluster:  supersonic.cms.svc.hep.example.org:8001');
  assert.not.match(notes.stdout, 'cluster.local');
});

envoy('no healthy Triton: Envoy\'s immediate 503 / UNAVAILABLE carries Retry-After (KEDA\'s polling interval when it scales Triton)', async () => {
  const retryAfter = (config: Manifest) => {
    const hcm = config.static_resources.listeners.find((l: Manifest) => l.name === 'grpc').filter_chains[0].filters[0].typed_config;
    const [mapper] = hcm.local_reply_config.mappers;
    assert.equal(mapper.filter.response_flag_filter.flags, ['UH', 'UF']);
    return mapper.headers_to_add.find((h: Manifest) => h.header.key === 'retry-after').header.value;
  };
  const plain = envoyConfig(await render({}));
  assert.equal(await validateEnvoyBootstrap(plain), []);
  assert.is(retryAfter(plain), '5');
  const scaled = envoyConfig(await render({ keda: { enabled: true, pollingInterval: 20 }, prometheus }));
  assert.equal(await validateEnvoyBootstrap(scaled), []);
  assert.is(retryAfter(scaled), '20');
});

envoy('the default args bound the worker threads (not one per node core)', async () => {
  const container = envoyDeployment(await render({})).spec.template.spec.containers[0];
  assert.equal(container.args.slice(container.args.indexOf('--concurrency'), container.args.indexOf('--concurrency') + 2), ['--concurrency', '2']);
  assert.not.ok(container.args.includes('--log-path'));
});

envoy('every load-balancer policy renders a valid configuration', async () => {
  for (const policy of ['LEAST_REQUEST', 'ROUND_ROBIN', 'RANDOM', 'RING_HASH', 'MAGLEV']) {
    const config = envoyConfig(await render({ envoy: { loadBalancerPolicy: policy } }));
    assert.equal(await validateEnvoyBootstrap(config), [], policy);
    assert.equal(undefinedClusters(config), [], policy);
    const triton = config.static_resources.clusters.find((c: Manifest) => c.name === 'triton');
    assert.is(triton.lb_policy, policy);
  }
});

envoy('the Ingress takes its backend port from values and merges hostName with hosts', async () => {
  const objects = await render({
    envoy: {
      service: { ports: [{ name: 'grpc', port: 9443, targetPort: 8001 }] },
      ingress: { enabled: true, hostName: 'a.example.org', hosts: ['a.example.org', 'b.example.org'] },
    },
  });
  const ingress = objects.find((o) => o.kind === 'Ingress')!;
  assert.equal(ingress.spec.rules.map((r: Manifest) => r.host), ['a.example.org', 'b.example.org']);
  for (const rule of ingress.spec.rules) assert.equal(rule.http.paths[0].backend.service, { name: 'supersonic', port: { number: 9443 } });
  assert.equal(ingress.spec.tls, [{ hosts: ['a.example.org', 'b.example.org'] }]);
});

envoy('no Ingress and no Envoy objects when Envoy is disabled, even with the Ingress on', async () => {
  const objects = await render({ envoy: { enabled: false, ingress: { enabled: true, hostName: 'a.example.org' } } });
  assert.equal(objects.filter((o) => o.metadata.labels['app.kubernetes.io/component'] === 'envoy'), []);
});

const refused = suite('Envoy settings that must be refused');

async function expectFailure(values: Record<string, unknown>, pattern: RegExp) {
  const result = await template('helm', { values });
  assert.is.not(result.code, 0, `accepted ${JSON.stringify(values)}`);
  assert.match(result.stderr, pattern);
}

refused('the load shedder without a Prometheus says what to set', () =>
  expectFailure({ envoy: { rate_limiter: { prometheus_based: { enabled: true } } } },
    /envoy\.rate_limiter\.prometheus_based\.enabled needs a Prometheus to read the load from: set prometheus\.external\.enabled and prometheus\.external\.url/));

refused('a metrics port that is the admin port or a listener port is refused at render, naming both', async () => {
  await expectFailure({ envoy: { metrics: { port: 9901 } } }, /envoy\.metrics\.port is 9901, the port of Envoy's admin interface/);
  await expectFailure({ envoy: { metrics: { port: 8001 } } }, /envoy\.metrics\.port \(8001\) is also the targetPort of envoy\.service\.ports "grpc"/);
  await expectFailure({ envoy: { service: { ports: [{ name: 'grpc', port: 8001, targetPort: 9901 }] } } }, /envoy\.service\.ports "grpc" has targetPort 9901, the port of Envoy's admin interface/);
});

refused('a CA bundle from both a ConfigMap and a Secret is refused, naming the key', () =>
  expectFailure({ envoy: { auth: { caBundle: { configMap: 'a', secret: 'b' } } } }, /envoy\.auth\.caBundle sets both configMap \(a\) and secret \(b\): set one/));

refused('auth without issuer and JWKS URI says what to set', () =>
  expectFailure({ envoy: { auth: { enabled: true } } }, /envoy\.auth\.enabled needs envoy\.auth\.jwt_issuer and envoy\.auth\.jwt_remote_jwks_uri/));

refused('tracing without a collector says what to set', () =>
  expectFailure({ envoy: { tracing: { enabled: true } } }, /envoy\.tracing\.enabled needs envoy\.tracing\.collectorHost/));

refused('external config without a ConfigMap name says what to set', () =>
  expectFailure({ envoy: { external_config: { load_from_configmap: true } } }, /envoy\.external_config\.configmap_name must name a ConfigMap/));

refused('args without --config-path are refused', () =>
  expectFailure({ envoy: { args: ['--log-level', 'info'] } }, /envoy\.args must include "--config-path"/));

refused('a client Service without a grpc port is refused', () =>
  expectFailure({ envoy: { service: { ports: [{ name: 'web', port: 80, targetPort: 8080 }] } } }, /envoy\.service\.ports needs a port named "grpc"/));

refused('an Ingress without any host is refused', () =>
  expectFailure({ envoy: { ingress: { enabled: true } } }, /envoy\.ingress\.enabled needs envoy\.ingress\.hostName or envoy\.ingress\.hosts/));

refused('a JWKS host that disagrees with the URI is refused', () =>
  expectFailure({ envoy: { auth: { enabled: true, jwt_issuer: 'i', jwt_remote_jwks_uri: 'https://b.example.org/jwk', url: 'c.example.org' } } },
    /envoy\.auth\.url \(c\.example\.org\) is not the host of envoy\.auth\.jwt_remote_jwks_uri \(b\.example\.org\)/));

refused('zero durations Envoy refuses fail naming the key', async () => {
  await expectFailure({ envoy: { upstreamHealth: { healthCheckInterval: '0s' } } }, /healthCheckInterval/);
  await expectFailure({ envoy: { upstreamHealth: { baseEjectionTime: '0s' } } }, /baseEjectionTime/);
  await expectFailure({ envoy: { rate_limiter: { listener_level: { fill_interval: '0s' } } } }, /fill_interval/);
});

refused('a token-bucket interval under 50 ms is refused, as Envoy would', () =>
  expectFailure({ envoy: { rate_limiter: { listener_level: { enabled: true, fill_interval: '0.01s' } } } },
    /envoy\.rate_limiter\.listener_level\.fill_interval \(0\.01s\) must be at least 0\.05s/));

refused('a duration Envoy cannot read (250ms) fails schema validation naming the key', () =>
  expectFailure({ envoy: { grpc_route_timeout: '250ms' } }, /grpc_route_timeout/));

refused('an unknown load-balancer policy fails naming the key', () =>
  expectFailure({ envoy: { loadBalancerPolicy: 'LEAST_CONN' } }, /loadBalancerPolicy/));

envoy.run();
refused.run();
