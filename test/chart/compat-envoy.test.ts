/**
 * Compatibility with SuperSONIC 0.3.1, Envoy parts: the root, `triton`, `envoy` and
 * `prometheus.external` parts of every real values file render with any release name, and the
 * Envoy objects do what the file asked for (where 0.3.1 silently ignored hosts/tls, args, or a
 * second audience).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { HELM_VERSIONS, template } from '../helpers/helm.ts';
import { coveredPart, loadCompatFiles, mergeValues, ROOT_SCALAR_KEYS } from '../helpers/compat.ts';
import { parseManifests, validateManifests } from '../helpers/k8s/manifests.ts';
import { envoyConfigsOf, undefinedClusters } from '../helpers/envoy/rendered.ts';
import { validateEnvoyBootstrap } from '../helpers/envoy/validate-config.ts';

type Manifest = Record<string, any>;
const compat = suite('SuperSONIC 0.3.1 values files (Envoy parts)');

/** The parts this test covers; of `prometheus`, only `external` (the rate limiter reads it). */
function envoyParts(values: Record<string, any>): Record<string, unknown> {
  const parts = coveredPart(values, [...ROOT_SCALAR_KEYS, 'triton', 'envoy']);
  const external = values.prometheus?.external;
  return external ? { ...parts, prometheus: { external } } : parts;
}

const ENVOY_DEFAULTS = {
  enabled: true, grpc_route_timeout: '0s', loadBalancerPolicy: 'LEAST_REQUEST',
  ingress: { enabled: false, hostName: '', hosts: [] },
  auth: { enabled: false, audiences: [] },
  external_config: { load_from_configmap: false, configmap_key: '' },
  rate_limiter: { listener_level: { enabled: false }, prometheus_based: { enabled: false } },
};

for (const file of loadCompatFiles()) {
  const values = envoyParts(file.values);
  const envoy = mergeValues(ENVOY_DEFAULTS, values.envoy);
  for (const binary of HELM_VERSIONS) {
    for (const release of ['supersonic', 'traccc-sonic']) {
      compat(`${binary}: ${file.name} as release ${release}`, async () => {
        const result = await template(binary, { release, values });
        assert.is(result.code, 0, `${file.name}: ${result.stderr}`);
        const objects = parseManifests(result.stdout) as Manifest[];
        assert.equal(await validateManifests(objects), []);
        if (!envoy.enabled) return;

        const service = objects.find((o) => o.kind === 'Service' && o.metadata.name === release)!;
        assert.ok(service, 'the client Service is named after the release');
        assert.ok(service.spec.ports.some((p: Manifest) => p.name === 'grpc'));
        assert.not.ok(service.spec.ports.some((p: Manifest) => p.name === 'admin'), 'admin port exposed');

        const deployment = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === `${release}-envoy`)!;
        const container = deployment.spec.template.spec.containers[0];
        assert.equal(container.command, ['envoy']);
        // The file's args as given, then the drain time the preStop hook relies on (envoy.drainSeconds).
        if (envoy.args) assert.equal(container.args, [...envoy.args, '--drain-time-s', '30']);

        const ingress = objects.find((o) => o.kind === 'Ingress');
        if (envoy.ingress.enabled) {
          const wanted = [...new Set([envoy.ingress.hostName, ...envoy.ingress.hosts].filter(Boolean))];
          assert.equal(ingress?.spec.rules.map((r: Manifest) => r.host), wanted);
        } else {
          assert.is(ingress, undefined);
        }

        if (envoy.external_config.load_from_configmap) {
          const volume = deployment.spec.template.spec.volumes.find((v: Manifest) => v.name === 'config');
          assert.is(volume.configMap.name, envoy.external_config.configmap_name);
          assert.equal(envoyConfigsOf(objects), []);
          return;
        }
        const config = envoyConfigsOf(objects)[0]!;
        assert.equal(await validateEnvoyBootstrap(config), []);
        assert.equal(undefinedClusters(config), []);
        const triton = config.static_resources.clusters.find((c: Manifest) => c.name === 'triton');
        assert.is(triton.lb_policy, envoy.loadBalancerPolicy);
        const hcm = config.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
        const route = hcm.route_config.virtual_hosts[0].routes[0];
        assert.is(route.route.timeout, envoy.grpc_route_timeout);
        const filters = hcm.http_filters.map((f: Manifest) => f.name);
        assert.is(filters.includes('envoy.filters.http.jwt_authn'), envoy.auth.enabled);
        if (envoy.auth.enabled) {
          const jwt = hcm.http_filters.find((f: Manifest) => f.name === 'envoy.filters.http.jwt_authn').typed_config;
          const provider = Object.values(jwt.providers)[0] as Manifest;
          assert.equal(provider.audiences, envoy.auth.audiences);
          assert.is(provider.issuer, envoy.auth.jwt_issuer);
        }
        assert.is(filters.includes('envoy.filters.http.lua'), envoy.rate_limiter.prometheus_based.enabled);
        if (envoy.rate_limiter.prometheus_based.enabled) {
          const settings = route.metadata.filter_metadata['envoy.filters.http.lua'];
          assert.is(settings.threshold, values.serverLoadThreshold ?? 100);
          if (values.serverLoadMetric) assert.is(settings.query, values.serverLoadMetric);
        }
        assert.is(!!config.static_resources.listeners[0].listener_filters, envoy.rate_limiter.listener_level.enabled);
      });
    }
  }
}

compat.run();
