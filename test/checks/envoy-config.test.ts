/**
 * Proves that test/helpers/envoy/validate-config.ts accepts a realistic
 * bootstrap and catches each class of problem it claims to catch, at the
 * right path, with a message that says what is wrong. Each failure test
 * starts from the valid bootstrap and breaks one thing.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { loadEnvoyProtos, validateEnvoyBootstrap, type EnvoyProblem } from '../helpers/envoy/validate-config.ts';

// Shaped like the envoy.yaml a chart renders into a ConfigMap.
const VALID_BOOTSTRAP_YAML = `
admin:
  address:
    socket_address: { address: 127.0.0.1, port_value: 9901 }
static_resources:
  listeners:
    - name: grpc
      address:
        socket_address: { address: 0.0.0.0, port_value: 8001 }
      listener_filters:
        - name: envoy.filters.listener.local_ratelimit
          typed_config:
            "@type": type.googleapis.com/envoy.extensions.filters.listener.local_ratelimit.v3.LocalRateLimit
            stat_prefix: listener_ratelimit
            token_bucket:
              max_tokens: 100
              tokens_per_fill: 10
              fill_interval: 1s
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: ingress_grpc
                codec_type: AUTO
                stream_idle_timeout: 0s
                route_config:
                  name: local_route
                  virtual_hosts:
                    - name: backend
                      domains: ["*"]
                      routes:
                        - match: { prefix: "/" }
                          route:
                            cluster: triton
                            timeout: 0s
                http_filters:
                  - name: envoy.filters.http.lua
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua
                      inline_code: |
                        function envoy_on_request(request_handle)
                          request_handle:headers():add("x-served-by", "envoy")
                        end
                  - name: envoy.filters.http.jwt_authn
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication
                      providers:
                        keycloak:
                          issuer: https://auth.example.org/realms/science
                          audiences: [supersonic, triton]
                          forward: true
                          remote_jwks:
                            http_uri:
                              uri: https://auth.example.org/realms/science/protocol/openid-connect/certs
                              cluster: jwks
                              timeout: 5s
                            cache_duration: 300s
                      rules:
                        - match: { prefix: "/" }
                          requires: { provider_name: keycloak }
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
                tracing:
                  random_sampling: { value: 10.5 }
                  provider:
                    name: envoy.tracers.opentelemetry
                    typed_config:
                      "@type": type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig
                      service_name: supersonic-envoy
                      grpc_service:
                        envoy_grpc: { cluster_name: otel-collector }
                        timeout: 0.250s
  clusters:
    - name: triton
      type: STRICT_DNS
      connect_timeout: 0.250s
      lb_policy: LEAST_REQUEST
      load_assignment:
        cluster_name: triton
        endpoints:
          - lb_endpoints:
              - endpoint:
                  address:
                    socket_address: { address: demo-triton.default.svc.cluster.local, port_value: 8001 }
      typed_extension_protocol_options:
        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
          "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
          explicit_http_config:
            http2_protocol_options:
              max_concurrent_streams: 1000
      health_checks:
        - timeout: 1s
          interval: 5s
          unhealthy_threshold: 3
          healthy_threshold: 1
          grpc_health_check: {}
      outlier_detection:
        consecutive_5xx: 5
        interval: 10s
        base_ejection_time: 30s
        max_ejection_percent: 50
    - name: jwks
      type: LOGICAL_DNS
      connect_timeout: 5s
      load_assignment:
        cluster_name: jwks
        endpoints:
          - lb_endpoints:
              - endpoint:
                  address:
                    socket_address: { address: auth.example.org, port_value: 443 }
      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
          sni: auth.example.org
          common_tls_context:
            validation_context:
              trusted_ca: { filename: /etc/ssl/certs/ca-certificates.crt }
    - name: otel-collector
      type: STRICT_DNS
      connect_timeout: 1s
      load_assignment:
        cluster_name: otel-collector
        endpoints:
          - lb_endpoints:
              - endpoint:
                  address:
                    socket_address: { address: otel-collector.monitoring.svc, port_value: 4317 }
`;

type Json = Record<string, any>;

/** A fresh copy of the valid bootstrap, to break one thing in. */
function validBootstrap(): Json {
  return parse(VALID_BOOTSTRAP_YAML) as Json;
}

const HCM_PATH = '$.static_resources.listeners[0].filter_chains[0].filters[0].typed_config';
const ROUTE_PATH = `${HCM_PATH}.route_config.virtual_hosts[0].routes[0]`;

function hcm(config: Json): Json {
  return config.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
}

function firstRoute(config: Json): Json {
  return hcm(config).route_config.virtual_hosts[0].routes[0];
}

function tritonCluster(config: Json): Json {
  return config.static_resources.clusters[0];
}

/** Asserts exactly one problem, at `path`, whose message contains every fragment. */
function assertOneProblem(problems: EnvoyProblem[], path: string, ...fragments: string[]): void {
  assert.equal(problems.length, 1, `expected one problem, got ${JSON.stringify(problems, null, 2)}`);
  const [problem] = problems as [EnvoyProblem];
  assert.is(problem.path, path);
  for (const fragment of fragments) {
    assert.ok(problem.message.includes(fragment), `message ${JSON.stringify(problem.message)} lacks ${JSON.stringify(fragment)}`);
  }
}

// No timing assertion here (the project keeps speed checks out of unit tests); loading takes
// about 0.6-1.2 s on a 2-CPU machine, and is done once.
test('loads the Envoy protos once and caches them', async () => {
  const first = loadEnvoyProtos();
  assert.is(loadEnvoyProtos(), first, 'the loaded protos are cached');
});

test('accepts a realistic bootstrap', async () => {
  assert.equal(await validateEnvoyBootstrap(validBootstrap()), []);
});

test('accepts lowerCamelCase JSON field names, as Envoy does', async () => {
  const config = validBootstrap();
  const cluster = tritonCluster(config);
  cluster.connectTimeout = cluster.connect_timeout;
  cluster.lbPolicy = cluster.lb_policy;
  delete cluster.connect_timeout;
  delete cluster.lb_policy;
  config.staticResources = config.static_resources;
  delete config.static_resources;
  assert.equal(await validateEnvoyBootstrap(config), []);
});

test('rejects the same field spelled both ways', async () => {
  const config = validBootstrap();
  tritonCluster(config).connectTimeout = '1s';
  assertOneProblem(
    await validateEnvoyBootstrap(config),
    '$.static_resources.clusters[0].connectTimeout',
    'connect_timeout is set twice',
  );
});

test('rejects an enum value that is not a name of the enum', async () => {
  const config = validBootstrap();
  hcm(config).codec_type = 'AUTOMATIC';
  assertOneProblem(
    await validateEnvoyBootstrap(config),
    `${HCM_PATH}.codec_type`,
    'unknown value "AUTOMATIC"',
    'HttpConnectionManager.CodecType',
    'AUTO, HTTP1, HTTP2',
  );
});

test('rejects an Any whose @type names no loaded message', async () => {
  const config = validBootstrap();
  hcm(config).http_filters[2].typed_config['@type'] = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Routr';
  assertOneProblem(
    await validateEnvoyBootstrap(config),
    `${HCM_PATH}.http_filters[2].typed_config["@type"]`,
    'unknown type "envoy.extensions.filters.http.router.v3.Routr"',
    'did you mean "envoy.extensions.filters.http.router.v3.Router"',
  );
});

test('validates the payload of an Any against its @type', async () => {
  const config = validBootstrap();
  hcm(config).http_filters[1].typed_config.providers.keycloak.remote_jwks.cache_duration = 300;
  assertOneProblem(
    await validateEnvoyBootstrap(config),
    `${HCM_PATH}.http_filters[1].typed_config.providers.keycloak.remote_jwks.cache_duration`,
    'expected a duration string',
    'got number 300',
  );
});

test('rejects a Duration written as "250ms"', async () => {
  const config = validBootstrap();
  tritonCluster(config).connect_timeout = '250ms';
  assertOneProblem(
    await validateEnvoyBootstrap(config),
    '$.static_resources.clusters[0].connect_timeout',
    'expected a duration string in seconds like "5s", "1.5s" or "0.250s", got "250ms"',
  );
});

test('rejects an unknown field and suggests the right one', async () => {
  const config = validBootstrap();
  const cluster = tritonCluster(config);
  cluster.lb_polcy = cluster.lb_policy;
  delete cluster.lb_policy;
  assertOneProblem(
    await validateEnvoyBootstrap(config),
    '$.static_resources.clusters[0].lb_polcy',
    'unknown field "lb_polcy" in envoy.config.cluster.v3.Cluster',
    'did you mean "lb_policy"',
  );
});

test('rejects a string where an integer belongs', async () => {
  const config = validBootstrap();
  config.admin.address.socket_address.port_value = 'eight';
  assertOneProblem(
    await validateEnvoyBootstrap(config),
    '$.admin.address.socket_address.port_value',
    'expected an integer (uint32), got string "eight"',
  );
});

test('applies PGV numeric ranges: a port above 65535', async () => {
  const config = validBootstrap();
  config.admin.address.socket_address.port_value = 70000;
  assertOneProblem(
    await validateEnvoyBootstrap(config),
    '$.admin.address.socket_address.port_value',
    'must be at most 65535, is 70000',
  );
});

test('requires one member of a required oneof: a route match with no path specifier', async () => {
  const config = validBootstrap();
  firstRoute(config).match = {};
  assertOneProblem(
    await validateEnvoyBootstrap(config),
    `${ROUTE_PATH}.match`,
    'one of [prefix, path, safe_regex, connect_matcher, path_separated_prefix, path_match_policy] is required',
  );
});

test('rejects two members of a oneof: prefix and path together', async () => {
  const config = validBootstrap();
  firstRoute(config).match = { prefix: '/', path: '/inference' };
  assertOneProblem(
    await validateEnvoyBootstrap(config),
    `${ROUTE_PATH}.match`,
    'only one of [prefix, path',
    'but prefix and path are set',
  );
});

test('rejects a missing required message field', async () => {
  const config = validBootstrap();
  delete tritonCluster(config).health_checks[0].unhealthy_threshold;
  assertOneProblem(
    await validateEnvoyBootstrap(config),
    '$.static_resources.clusters[0].health_checks[0].unhealthy_threshold',
    'missing required field unhealthy_threshold (envoy.config.core.v3.HealthCheck)',
  );
});

test('rejects a missing string with min_len and an empty list with min_items', async () => {
  const config = validBootstrap();
  delete tritonCluster(config).name;
  hcm(config).route_config.virtual_hosts[0].domains = [];
  const problems = await validateEnvoyBootstrap(config);
  assert.equal(
    problems.map((problem) => problem.path),
    [`${HCM_PATH}.route_config.virtual_hosts[0].domains`, '$.static_resources.clusters[0].name'],
  );
  assert.match(problems[0]?.message ?? '', 'needs at least 1 item, has 0');
  assert.match(problems[1]?.message ?? '', 'missing required field name (envoy.config.cluster.v3.Cluster): must not be empty');
});

test('checks wrapper, bool, map and list shapes', async () => {
  const config = validBootstrap();
  hcm(config).http_filters[1].typed_config.providers.keycloak.forward = 'yes';
  tritonCluster(config).typed_extension_protocol_options = [];
  tritonCluster(config).health_checks[0].unhealthy_threshold = { value: 3 };
  config.static_resources.clusters[1].load_assignment.endpoints = { lb_endpoints: [] };
  assert.equal(await validateEnvoyBootstrap(config), [
    {
      path: `${HCM_PATH}.http_filters[1].typed_config.providers.keycloak.forward`,
      message: 'expected true or false (bool), got string "yes"',
    },
    {
      path: '$.static_resources.clusters[0].typed_extension_protocol_options',
      message: 'expected an object (map<string, google.protobuf.Any>), got a list',
    },
    {
      path: '$.static_resources.clusters[0].health_checks[0].unhealthy_threshold',
      message: 'expected an integer (uint32), got an object (google.protobuf.UInt32Value is written as the bare value)',
    },
    {
      path: '$.static_resources.clusters[1].load_assignment.endpoints',
      message: 'expected a list (repeated envoy.config.endpoint.v3.LocalityLbEndpoints), got an object',
    },
  ]);
});

test('accepts any JSON in a Struct and validates a TypedStruct value against its type_url', async () => {
  const config = validBootstrap();
  config.node = { id: 'envoy-0', cluster: 'supersonic', metadata: { anything: [1, 'two', { three: null }] } };
  hcm(config).http_filters[2].typed_config = {
    '@type': 'type.googleapis.com/xds.type.v3.TypedStruct',
    type_url: 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
    value: { dynamic_stats: true, suppress_envoy_headerz: true },
  };
  assertOneProblem(
    await validateEnvoyBootstrap(config),
    `${HCM_PATH}.http_filters[2].typed_config.value.suppress_envoy_headerz`,
    'unknown field "suppress_envoy_headerz"',
    'did you mean "suppress_envoy_headers"',
  );
});

test('reports fields whose types come from protos that are not vendored as not checkable', async () => {
  const config = validBootstrap();
  hcm(config).tracing.provider = {
    name: 'envoy.tracers.opencensus',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.config.trace.v3.OpenCensusConfig',
      trace_config: { constant_sampler: { decision: 'ALWAYS_ON' } },
    },
  };
  assertOneProblem(
    await validateEnvoyBootstrap(config),
    `${HCM_PATH}.tracing.provider.typed_config.trace_config`,
    'not checkable: opencensus.proto.trace.v1.TraceConfig',
  );
});

test.run();
