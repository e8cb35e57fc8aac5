/**
 * The metrics collector's objects: a Deployment of the servers image in its collector mode
 * (restricted Pod Security, resources from values, probes on /readyz), reading the release's
 * Prometheus (the CA bundle mounted for an external https one) with the same Triton selector as
 * the server-load metric; the Service `<instance>-metrics-collector` honouring service.port and
 * service.type (SuperSONIC 0.3.1 hard-coded 8003/ClusterIP); an Ingress from hostName or
 * hosts/tls; and a clear failure when the release has no Prometheus. Every 0.3.1 file's
 * metricsCollector section renders, on Helm 4 and Helm 3.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { HELM_VERSIONS, template, templateOrThrow, type HelmBinary } from '../helpers/helm.ts';
import { parseManifests } from '../helpers/k8s/manifests.ts';
import { loadCompatFiles } from '../helpers/compat.ts';
import { imageEntry } from '../../webhook/bundle.ts';

type Manifest = Record<string, any>;
const chart = suite('metrics collector (renders)');

const EXTERNAL = { external: { enabled: true, url: 'http://prometheus.monitoring:9090' } };

async function render(values: Record<string, any>, options: { release?: string; namespace?: string; binary?: HelmBinary } = {}): Promise<Manifest[]> {
  return parseManifests(await templateOrThrow(options.binary ?? 'helm', {
    release: options.release ?? 'sonic', namespace: options.namespace ?? 'cms', values: { prometheus: EXTERNAL, ...values },
  })) as Manifest[];
}
const find = (objects: Manifest[], kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name);
const collectorOf = (objects: Manifest[], name = 'sonic-metrics-collector') => {
  const deployment = find(objects, 'Deployment', name);
  assert.ok(deployment, `no Deployment ${name}`);
  const container = deployment.spec.template.spec.containers[0];
  const env = Object.fromEntries(container.env.map((e: Manifest) => [e.name, e.value]));
  return { deployment, container, env };
};

chart('off by default: no collector object', async () => {
  const objects = await render({});
  assert.equal(objects.filter((o) => o.metadata?.labels?.['app.kubernetes.io/component'] === 'metrics-collector'), []);
});

for (const binary of HELM_VERSIONS) {
  chart(`${binary}: the servers image in collector mode, restricted, resources from values, probes on /readyz`, async () => {
    const objects = await render({ metricsCollector: { enabled: true, resources: { requests: { cpu: '500m', memory: '512Mi' }, limits: { cpu: 1, memory: '1Gi' } } } }, { binary });
    const { deployment, container, env } = collectorOf(objects);
    assert.is(deployment.metadata.labels['app.kubernetes.io/component'], 'metrics-collector');
    assert.match(container.image, /^ghcr\.io\/fastmachinelearning\/supersonic-servers:/);
    assert.equal(container.args, [imageEntry('metrics-collector')]);
    assert.is(container.readinessProbe.httpGet.path, '/readyz');
    assert.is(container.livenessProbe.httpGet.path, '/healthz');
    assert.equal(container.resources, { requests: { cpu: '500m', memory: '512Mi' }, limits: { cpu: 1, memory: '1Gi' } });
    const pod = deployment.spec.template.spec;
    assert.is(pod.securityContext.runAsNonRoot, true);
    assert.is(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
    assert.is(container.securityContext.allowPrivilegeEscalation, false);
    assert.equal(container.securityContext.capabilities.drop, ['ALL']);
    assert.is(container.securityContext.readOnlyRootFilesystem, true);
    assert.is(pod.automountServiceAccountToken, false, 'it never calls the Kubernetes API');
    assert.is(env.PROMETHEUS_URL, 'http://prometheus.monitoring:9090');
    assert.is(env.PORT, '8003');
    assert.is(env.QUERY_TIMEOUT_MS, '5000');
    assert.is(env.MAX_RESPONSE_BYTES, '4194304');
    assert.is(env.MAX_CONCURRENT_REQUESTS, '32');
    assert.is(env.HOST, undefined, 'no host set: dual stack, as the other servers');
    assert.is(env.PROMETHEUS_CA_FILE, undefined);
  });
}

chart('the Triton selector is the server-load metric\'s (one definition): the release\'s namespace and Triton pods, for any name', async () => {
  const cases: [Record<string, any>, string, string, string][] = [
    [{}, 'sonic', 'cms', 'sonic'],
    [{ fullnameOverride: 'atlas-sonic' }, 'r', 'atlas', 'atlas-sonic'],
  ];
  for (const [values, release, namespace, instance] of cases) {
    const objects = parseManifests(await templateOrThrow('helm', {
      release, namespace, apiVersions: ['keda.sh/v1alpha1'],
      values: { ...values, prometheus: EXTERNAL, keda: { enabled: true }, metricsCollector: { enabled: true } },
    })) as Manifest[];
    const { env } = collectorOf(objects, `${instance}-metrics-collector`);
    assert.is(env.SERIES_SELECTOR, `namespace="${namespace}", pod=~"${instance}-triton-[a-z0-9]+-[a-z0-9]+"`);
    assert.ok(find(objects, 'Deployment', `${instance}-triton`), 'the Triton Deployment whose pods the selector names');
    const keda = objects.find((o) => o.kind === 'ScaledObject')!;
    const load = keda.spec.triggers.find((t: Manifest) => t.name === 'server-load');
    assert.ok(load.metadata.query.includes(`{${env.SERIES_SELECTOR}}`), 'KEDA\'s load query selects the same series');
  }
});

chart('host, port, limits and log level from values; host 0.0.0.0 (0.3.1\'s default) is passed as it is', async () => {
  const objects = await render({ metricsCollector: { enabled: true, host: '0.0.0.0', port: 9003, queryTimeoutSeconds: 1.5, maxResponseBytes: 1048576, maxConcurrentRequests: 4, logLevel: 'debug' } });
  const { container, env } = collectorOf(objects);
  assert.is(env.HOST, '0.0.0.0');
  assert.is(env.PORT, '9003');
  assert.is(container.ports[0].containerPort, 9003);
  assert.is(env.QUERY_TIMEOUT_MS, '1500');
  assert.is(env.MAX_RESPONSE_BYTES, '1048576');
  assert.is(env.MAX_CONCURRENT_REQUESTS, '4');
  assert.is(env.LOG_LEVEL, 'debug');
});

chart('the Service <instance>-metrics-collector honours service.port and service.type', async () => {
  const defaults = find(await render({ metricsCollector: { enabled: true } }), 'Service', 'sonic-metrics-collector')!;
  assert.is(defaults.spec.type, 'ClusterIP');
  assert.equal(defaults.spec.ports, [{ name: 'http', port: 8003, targetPort: 'http', protocol: 'TCP' }]);
  const objects = await render({ metricsCollector: { enabled: true, port: 9003, service: { port: 80, type: 'NodePort' } } });
  const service = find(objects, 'Service', 'sonic-metrics-collector')!;
  assert.is(service.spec.type, 'NodePort');
  assert.equal(service.spec.ports, [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }]);
  assert.equal(service.spec.selector, collectorOf(objects).deployment.spec.selector.matchLabels);
});

chart('an external https Prometheus with a site CA: the bundle is mounted and named to the server; the bundled one needs none', async () => {
  const objects = await render({
    prometheus: { external: { enabled: true, url: 'prometheus.nrp-nautilus.io', caBundle: { configMap: 'site-ca', key: 'bundle.pem' } } },
    metricsCollector: { enabled: true },
  });
  const { deployment, container, env } = collectorOf(objects);
  assert.is(env.PROMETHEUS_URL, 'https://prometheus.nrp-nautilus.io:443');
  assert.is(env.PROMETHEUS_CA_FILE, '/etc/supersonic/prometheus-ca/ca.crt');
  assert.equal(container.volumeMounts, [{ name: 'prometheus-ca', mountPath: '/etc/supersonic/prometheus-ca', readOnly: true }]);
  assert.equal(deployment.spec.template.spec.volumes, [{ name: 'prometheus-ca', configMap: { name: 'site-ca', items: [{ key: 'bundle.pem', path: 'ca.crt' }] } }]);
});

chart('the bundled Prometheus (prometheus.enabled) is read through its Service', async () => {
  const result = await template('helm', { release: 'sonic', namespace: 'cms', values: { prometheus: { enabled: true }, metricsCollector: { enabled: true } } });
  assert.is(result.code, 0, result.stderr);
  const { env, container } = collectorOf(parseManifests(result.stdout) as Manifest[]);
  assert.is(env.PROMETHEUS_URL, 'http://sonic-prometheus-server.cms.svc:9090');
  assert.is(env.PROMETHEUS_CA_FILE, undefined);
  assert.is(container.volumeMounts, undefined);
});

for (const binary of HELM_VERSIONS) {
  chart(`${binary}: no Prometheus: the render fails naming the keys to set`, async () => {
    const result = await template(binary, { release: 'sonic', values: { metricsCollector: { enabled: true } } });
    assert.is.not(result.code, 0);
    assert.match(result.stderr, /metricsCollector\.enabled is true, but this release has no Prometheus.*prometheus\.external\.enabled with prometheus\.external\.url.*prometheus\.enabled/);
  });
}

chart('Ingress from hosts and tls lists, as values-nautilus-atlas.yaml writes them (0.3.1 ignored both)', async () => {
  const objects = await render({
    metricsCollector: {
      enabled: true, service: { port: 80 },
      ingress: {
        enabled: true, hosts: ['metrics-collector-atlas.nrp-nautilus.io'], tls: [{ hosts: ['metrics-collector-atlas.nrp-nautilus.io'], secretName: 'mc-tls' }],
        ingressClassName: 'haproxy', annotations: { 'haproxy-ingress.github.io/backend-protocol': 'http' },
      },
    },
  });
  const ingress = find(objects, 'Ingress', 'sonic-metrics-collector-ingress')!;
  assert.ok(ingress, '0.3.1\'s Ingress name');
  assert.is(ingress.metadata.labels['app.kubernetes.io/component'], 'metrics-collector');
  assert.is(ingress.spec.ingressClassName, 'haproxy');
  assert.equal(ingress.metadata.annotations, { 'haproxy-ingress.github.io/backend-protocol': 'http' });
  assert.equal(ingress.spec.tls, [{ hosts: ['metrics-collector-atlas.nrp-nautilus.io'], secretName: 'mc-tls' }]);
  assert.equal(ingress.spec.rules, [{
    host: 'metrics-collector-atlas.nrp-nautilus.io',
    http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'sonic-metrics-collector', port: { number: 80 } } } }] },
  }]);
});

chart('Ingress from hostName alone: TLS declared for it with the controller\'s certificate; hostName and hosts merged once', async () => {
  const one = find(await render({ metricsCollector: { enabled: true, ingress: { enabled: true, hostName: 'mc.example.org' } } }), 'Ingress', 'sonic-metrics-collector-ingress')!;
  assert.equal(one.spec.tls, [{ hosts: ['mc.example.org'] }]);
  assert.is(one.spec.ingressClassName, undefined);
  const both = find(await render({ metricsCollector: { enabled: true, ingress: { enabled: true, hostName: 'a.example.org', hosts: ['a.example.org', 'b.example.org'] } } }), 'Ingress', 'sonic-metrics-collector-ingress')!;
  assert.equal(both.spec.rules.map((r: Manifest) => r.host), ['a.example.org', 'b.example.org']);
});

chart('Ingress without a host name fails, naming the keys; no Ingress while the collector is off', async () => {
  const result = await template('helm', { release: 'sonic', values: { prometheus: EXTERNAL, metricsCollector: { enabled: true, ingress: { enabled: true } } } });
  assert.is.not(result.code, 0);
  assert.match(result.stderr, /metricsCollector\.ingress\.enabled is true, but no host name is set: set metricsCollector\.ingress\.hostName or metricsCollector\.ingress\.hosts/);
  const off = await render({ metricsCollector: { enabled: false, ingress: { enabled: true, hostName: 'x.example.org' } } });
  assert.is(off.find((o) => o.kind === 'Ingress' && o.metadata.name === 'sonic-metrics-collector-ingress'), undefined, '0.3.1 rendered it anyway');
});

chart('unknown keys under metricsCollector are refused with the key named', async () => {
  const result = await template('helm', { release: 'sonic', values: { prometheus: EXTERNAL, metricsCollector: { enabled: true, servce: { port: 1 } } } });
  assert.is.not(result.code, 0);
  assert.match(result.stderr, /servce/);
});

for (const binary of HELM_VERSIONS) {
  chart(`${binary}: every 0.3.1 file's metricsCollector section (with its prometheus.external) renders, with the objects it asks for`, async () => {
    let checked = 0;
    for (const file of loadCompatFiles()) {
      const values = file.values as Record<string, any>;
      if (!values.metricsCollector) continue;
      // The file's own Prometheus choice: its prometheus.external, or the chart's own (prometheus.enabled).
      const prometheus = values.prometheus?.external?.enabled ? { external: values.prometheus.external } : { enabled: values.prometheus?.enabled ?? false };
      const section = { metricsCollector: values.metricsCollector, prometheus };
      const result = await template(binary, { release: 'supersonic', namespace: 'cms', values: section });
      assert.is(result.code, 0, `${file.name}: ${result.stderr}`);
      const objects = parseManifests(result.stdout) as Manifest[];
      const deployment = find(objects, 'Deployment', 'supersonic-metrics-collector');
      assert.is(Boolean(deployment), Boolean(values.metricsCollector.enabled), `${file.name}: the collector Deployment`);
      assert.is(Boolean(find(objects, 'Service', 'supersonic-metrics-collector')), Boolean(values.metricsCollector.enabled), `${file.name}: the collector Service`);
      const ingress = find(objects, 'Ingress', 'supersonic-metrics-collector-ingress');
      assert.is(Boolean(ingress), Boolean(values.metricsCollector.enabled && values.metricsCollector.ingress?.enabled), `${file.name}: the collector Ingress`);
      if (ingress) for (const rule of ingress.spec.rules) assert.ok(rule.host, `${file.name}: an Ingress rule with an empty host (0.3.1's bug)`);
      checked += 1;
    }
    assert.ok(checked >= 4, `only ${checked} files have a metricsCollector section`);
  });
}

chart.run();
