/**
 * Grafana from the chart's own templates: datasources derived from the release (a site's
 * SuperSONIC 0.3.1 datasources merged over them by name, a url without scheme given one), the
 * administrator's password (a value, an existing Secret, or generated), grafana.ini merged over
 * ours (no anonymous access unless a file asks), dashboardsConfigMaps honoured, the dashboard
 * ConfigMap labelled for a sidecar (also without our Grafana), Grafana's `{{model}}` legends
 * kept, and every 0.3.1 file's grafana section accepted.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { HELM_VERSIONS, dryRunInstall, template, templateOrThrow, type HelmBinary } from '../helpers/helm.ts';
import { parseManifests } from '../helpers/k8s/manifests.ts';
import { loadCompatFiles, ROOT_SCALAR_KEYS } from '../helpers/compat.ts';

type Manifest = Record<string, any>;
const grafana = suite('Grafana (renders)');

const EXTERNAL = { external: { enabled: true, url: 'https://prometheus.example.org' } };

async function render(values: Record<string, any>, options: { release?: string; binary?: HelmBinary; namespace?: string } = {}): Promise<Manifest[]> {
  return parseManifests(await templateOrThrow(options.binary ?? 'helm', {
    release: options.release ?? 'supersonic', namespace: options.namespace ?? 'cms', values: { prometheus: EXTERNAL, ...values },
  })) as Manifest[];
}
const find = (objects: Manifest[], kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name);
const config = (objects: Manifest[], release = 'supersonic') => find(objects, 'ConfigMap', `${release}-grafana`)!.data;
const datasources = (objects: Manifest[], release = 'supersonic') => parse(config(objects, release)['datasources.yaml']).datasources as Manifest[];
const providers = (objects: Manifest[]) => parse(config(objects)['dashboardproviders.yaml']).providers as Manifest[];
const deployment = (objects: Manifest[], release = 'supersonic') => find(objects, 'Deployment', `${release}-grafana`)!;
const env = (objects: Manifest[], name: string) => deployment(objects).spec.template.spec.containers[0].env.find((e: Manifest) => e.name === name);
const secretValue = (secret: Manifest, key: string) => Buffer.from(secret.data[key], 'base64').toString();
/** grafana.ini as {section: {key: value}}. */
function ini(objects: Manifest[], release = 'supersonic'): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = { '': {} };
  let section = '';
  for (const line of config(objects, release)['grafana.ini'].split('\n')) {
    const header = line.match(/^\[(.+)\]$/);
    if (header) { section = header[1]!; out[section] = {}; continue; }
    const kv = line.match(/^([^=]+?) = ?(.*)$/);
    if (kv) out[section]![kv[1]!] = kv[2]!;
  }
  return out;
}

for (const binary of HELM_VERSIONS) {
  grafana(`${binary}: the objects, named after the instance, Service port 80 to 3000, uid 472, no anonymous access`, async () => {
    const objects = await render({ grafana: { enabled: true } }, { release: 'sonic', binary });
    const service = find(objects, 'Service', 'sonic-grafana')!;
    assert.equal(service.spec.ports, [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }]);
    const pod = deployment(objects, 'sonic').spec.template.spec;
    assert.is(pod.securityContext.runAsUser, 472);
    assert.is(pod.containers[0].ports[0].containerPort, 3000);
    assert.is(pod.containers[0].securityContext.readOnlyRootFilesystem, true);
    assert.ok(deployment(objects, 'sonic').spec.template.metadata.annotations['checksum/config']);
    assert.ok(pod.volumes.find((v: Manifest) => v.name === 'data').emptyDir, 'no persistence: an emptyDir');
    assert.ok(find(objects, 'ConfigMap', 'sonic-grafana-default-dashboard'));
    const settings = ini(objects, 'sonic');
    assert.is(settings['auth.anonymous']!.enabled, 'false');
    assert.is(settings.server!.http_port, '3000');
    assert.is(settings.paths!.data, '/var/lib/grafana');
  });
}

grafana('no Grafana objects unless enabled; dashboards.sidecar renders only the labelled dashboard ConfigMap', async () => {
  const off = await render({});
  assert.is(off.filter((o) => o.metadata.labels?.['app.kubernetes.io/component'] === 'grafana').length, 0);
  const sidecar = await render({ grafana: { dashboards: { sidecar: true, annotations: { grafana_folder: 'SuperSONIC' } } } });
  const mine = sidecar.filter((o) => o.metadata.labels?.['app.kubernetes.io/component'] === 'grafana');
  assert.equal(mine.map((o) => `${o.kind}/${o.metadata.name}`), ['ConfigMap/supersonic-grafana-default-dashboard']);
  assert.is(mine[0]!.metadata.labels.grafana_dashboard, '1');
  assert.is(mine[0]!.metadata.annotations.grafana_folder, 'SuperSONIC');
});

grafana('the dashboard keeps Grafana\'s {{model}} legends, and selects the release\'s pods, not a release label', async () => {
  const objects = await render({ grafana: { enabled: true } }, { release: 'sonic-server', namespace: 'hep' });
  const text = find(objects, 'ConfigMap', 'sonic-server-grafana-default-dashboard')!.data['default.json'];
  assert.not.match(text, /__SUPERSONIC_/, 'every placeholder is replaced');
  const dashboard = JSON.parse(text);
  const targets = dashboard.panels.flatMap((p: Manifest) => p.targets ?? []);
  assert.ok(targets.some((t: Manifest) => t.legendFormat === '{{model}}'), 'legend {{model}} reaches Grafana as written');
  for (const target of targets) {
    assert.not.match(target.expr, /release=/, target.expr);
    if (/nv_/.test(target.expr)) assert.match(target.expr, 'namespace="hep", pod=~"sonic-server-triton-[a-z0-9]+-[a-z0-9]+"');
    if (/envoy_/.test(target.expr)) assert.match(target.expr, 'namespace="hep", pod=~"sonic-server-envoy-[a-z0-9]+-[a-z0-9]+"');
  }
  assert.is(dashboard.title, 'SuperSONIC: sonic-server (hep)');
  const other = JSON.parse(find(await render({ grafana: { enabled: true } }, { release: 'sonic-server', namespace: 'cms' }), 'ConfigMap', 'sonic-server-grafana-default-dashboard')!.data['default.json']);
  assert.is.not(other.uid, dashboard.uid, 'two releases\' dashboards do not collide in one Grafana');
  assert.ok(dashboard.uid.length <= 40, 'Grafana accepts uids of up to 40 characters');
});

grafana('the server-load panel shows exactly the expression KEDA and the shedder read, with the threshold', async () => {
  const metric = 'sum(rate(nv_inference_queue_duration_us{release=~"sonic-server"}[30s]))';
  const objects = await render({ grafana: { enabled: true }, serverLoadMetric: metric, serverLoadThreshold: 20 });
  const dashboard = JSON.parse(find(objects, 'ConfigMap', 'supersonic-grafana-default-dashboard')!.data['default.json']);
  const panel = dashboard.panels.find((p: Manifest) => p.title === 'Server load');
  assert.equal(panel.targets.map((t: Manifest) => t.expr), [metric, 'vector(20)']);
});

grafana('datasources derived from the release: the external Prometheus (with its CA), Tempo when enabled, fixed uids', async () => {
  const objects = await render({
    grafana: { enabled: true }, tempo: { enabled: true },
    prometheus: { external: { enabled: true, url: 'prometheus.example.org', caBundle: { configMap: 'site-ca', key: 'ca.crt' } } },
  }, { release: 'sonic' });
  const [prometheus, tempo] = datasources(objects, 'sonic');
  assert.equal({ name: prometheus!.name, uid: prometheus!.uid, url: prometheus!.url, isDefault: prometheus!.isDefault },
    { name: 'prometheus', uid: 'prometheus', url: 'https://prometheus.example.org:443', isDefault: true });
  assert.is(prometheus!.jsonData.tlsAuthWithCACert, true);
  assert.is(prometheus!.secureJsonData.tlsCACert, '$__file{/etc/grafana/prometheus-ca/ca.crt}');
  const pod = deployment(objects, 'sonic').spec.template.spec;
  assert.is(pod.volumes.find((v: Manifest) => v.name === 'prometheus-ca').configMap.name, 'site-ca');
  assert.equal({ uid: tempo!.uid, url: tempo!.url }, { uid: 'tempo', url: 'http://sonic-tempo.cms.svc:3100' });
});

grafana('a site\'s datasources merge by name over the derived ones (its url and jsonData win, the uid stays); a url without scheme gets one', async () => {
  const objects = await render({
    grafana: {
      enabled: true,
      datasources: { 'datasources.yaml': { datasources: [
        { name: 'prometheus', type: 'prometheus', access: 'proxy', isDefault: true, url: 'prometheus.nrp-nautilus.io', jsonData: { timeInterval: '5s', tlsSkipVerify: true } },
        { name: 'loki', type: 'loki', url: 'loki.monitoring:3100' },
      ] } },
    },
    prometheus: { external: { enabled: true, url: 'prometheus.nrp-nautilus.io', scheme: 'https' } },
  });
  const list = datasources(objects);
  assert.equal(list.map((d) => d.name), ['prometheus', 'loki']);
  assert.is(list[0]!.uid, 'prometheus');
  assert.is(list[0]!.url, 'https://prometheus.nrp-nautilus.io', 'the external scheme for a prometheus datasource');
  assert.equal(list[0]!.jsonData, { httpMethod: 'POST', timeInterval: '5s', tlsSkipVerify: true });
  assert.is(list[1]!.url, 'http://loki.monitoring:3100', 'http for others');
  assert.is(list.filter((d) => d.isDefault).length, 1, 'Grafana refuses two defaults');
});

grafana('the admin password: from adminPassword, from an existing Secret, or generated (32 characters, new wherever lookup cannot run)', async () => {
  const given = await render({ grafana: { enabled: true, adminUser: 'root', adminPassword: 's3cret' } });
  const secret = find(given, 'Secret', 'supersonic-grafana')!;
  assert.is(secretValue(secret, 'admin-password'), 's3cret');
  assert.is(secretValue(secret, 'admin-user'), 'root');
  assert.equal(env(given, 'GF_SECURITY_ADMIN_PASSWORD').valueFrom.secretKeyRef, { name: 'supersonic-grafana', key: 'admin-password' });

  const existing = await render({ grafana: { enabled: true, admin: { existingSecret: 'grafana-admin', userKey: 'user', passwordKey: 'pass' } } });
  assert.not.ok(find(existing, 'Secret', 'supersonic-grafana'), 'no Secret of our own');
  assert.equal(env(existing, 'GF_SECURITY_ADMIN_USER').valueFrom.secretKeyRef, { name: 'grafana-admin', key: 'user' });
  assert.equal(env(existing, 'GF_SECURITY_ADMIN_PASSWORD').valueFrom.secretKeyRef, { name: 'grafana-admin', key: 'pass' });

  const first = secretValue(find(await render({ grafana: { enabled: true } }), 'Secret', 'supersonic-grafana')!, 'admin-password');
  const second = secretValue(find(await render({ grafana: { enabled: true } }), 'Secret', 'supersonic-grafana')!, 'admin-password');
  assert.match(first, /^[A-Za-z0-9]{32}$/);
  assert.is.not(first, second, 'helm template cannot look the Secret up: a new password each time (documented)');
});

grafana('grafana.ini of 0.3.1\'s defaults file (anonymous Admin) is honoured, and NOTES warns', async () => {
  const values = {
    grafana: {
      enabled: true, adminPassword: 'admin',
      'grafana.ini': { auth: { disable_login_form: true }, 'auth.anonymous': { enabled: true, org_role: 'Admin' }, server: { root_url: 'https://grafana.example.org' } },
    },
  };
  const settings = ini(await render(values));
  assert.equal(settings['auth.anonymous'], { enabled: 'true', org_role: 'Admin' });
  assert.is(settings.auth!.disable_login_form, 'true');
  assert.is(settings.server!.root_url, 'https://grafana.example.org');
  assert.is(settings.server!.http_port, '3000', 'the chart\'s port stays');
  const notes = await dryRunInstall('helm', { values: { prometheus: EXTERNAL, ...values } });
  assert.is(notes.code, 0, notes.stderr);
  assert.match(notes.stdout, 'org_role Admin');
  assert.match(notes.stdout, 'grafana.adminPassword is "admin"');
});

grafana('ingress: 0.3.1\'s hosts/tls and hostName forms; an empty server.root_url becomes the host', async () => {
  const objects = await render({ grafana: { enabled: true, ingress: { enabled: true, hosts: ['grafana-cms.example.org'], tls: [{ hosts: ['grafana-cms.example.org'] }], ingressClassName: 'haproxy' } } });
  const ingress = find(objects, 'Ingress', 'supersonic-grafana')!;
  assert.is(ingress.spec.rules[0].host, 'grafana-cms.example.org');
  assert.is(ingress.spec.rules[0].http.paths[0].backend.service.name, 'supersonic-grafana');
  assert.equal(ingress.spec.tls, [{ hosts: ['grafana-cms.example.org'] }]);
  assert.is(ini(objects).server!.root_url, 'https://grafana-cms.example.org');
  const defaultTls = await render({ grafana: { enabled: true, ingress: { enabled: true, hostName: 'g.example.org', tls: [{ hosts: [] }] } } });
  assert.equal(find(defaultTls, 'Ingress', 'supersonic-grafana')!.spec.tls, [{ hosts: ['g.example.org'] }]);
  const missing = await template('helm', { values: { grafana: { enabled: true, ingress: { enabled: true } } } });
  assert.is.not(missing.code, 0);
  assert.match(missing.stderr, 'grafana.ingress.hostName');
});

grafana('dashboardsConfigMaps: the chart\'s own name changes nothing; another ConfigMap is mounted (optional) with its provider', async () => {
  const same = await render({ grafana: { enabled: true, dashboardsConfigMaps: { default: 'supersonic-grafana-default-dashboard' } } });
  const sameVolumes = deployment(same).spec.template.spec.volumes.filter((v: Manifest) => v.configMap && v.name.startsWith('dashboards-'));
  assert.equal(sameVolumes, [{ name: 'dashboards-default', configMap: { name: 'supersonic-grafana-default-dashboard' } }]);
  const other = await render({
    grafana: {
      enabled: true, dashboardsConfigMaps: { site: 'site-dashboards' },
      dashboardProviders: { 'dashboardproviders.yaml': { providers: [{ name: 'site', folder: 'Site' }] } },
    },
  });
  const volumes = deployment(other).spec.template.spec.volumes.filter((v: Manifest) => v.name.startsWith('dashboards-'));
  assert.equal(volumes.map((v: Manifest) => [v.configMap.name, v.configMap.optional ?? false]), [['supersonic-grafana-default-dashboard', false], ['site-dashboards', true]]);
  const site = providers(other).find((p) => p.name === 'site')!;
  assert.equal({ folder: site.folder, path: site.options.path }, { folder: 'Site', path: '/var/lib/grafana/dashboards/site' });
});

grafana('persistence: a claim, Recreate; rbac.create and serviceAccount.create of 0.3.1 files', async () => {
  const objects = await render({ grafana: { enabled: true, persistence: { enabled: true, size: '5Gi' }, rbac: { create: false }, serviceAccount: { create: false } } });
  assert.is(find(objects, 'PersistentVolumeClaim', 'supersonic-grafana')!.spec.resources.requests.storage, '5Gi');
  assert.is(deployment(objects).spec.strategy.type, 'Recreate');
  assert.is(deployment(objects).spec.template.spec.serviceAccountName, 'default');
  assert.not.ok(find(objects, 'ServiceAccount', 'supersonic-grafana'));
  assert.not.ok(objects.some((o) => /Role/.test(o.kind) && o.metadata.name.includes('grafana')));
});

/** A 0.3.1 file's grafana section with the root keys and what the datasources derive from. */
function grafanaPart(values: Record<string, any>): Record<string, any> {
  const part: Record<string, any> = Object.fromEntries(Object.entries(values).filter(([k]) => ROOT_SCALAR_KEYS.includes(k) || k === 'grafana'));
  if (values.prometheus?.external) part.prometheus = { external: values.prometheus.external };
  if (values.tempo?.enabled !== undefined) part.tempo = { enabled: values.tempo.enabled };
  return part;
}

for (const file of loadCompatFiles()) {
  grafana(`0.3.1 file ${file.name}: its grafana section renders, on Helm 4 and Helm 3`, async () => {
    for (const binary of HELM_VERSIONS) {
      for (const release of ['supersonic', 'other']) {
        const result = await template(binary, { release, values: grafanaPart(file.values) });
        assert.is(result.code, 0, `${binary} ${release}: ${result.stderr}`);
        const objects = parseManifests(result.stdout) as Manifest[];
        if ((file.values as any).grafana?.enabled) {
          assert.ok(find(objects, 'Deployment', `${release}-grafana`), `${binary} ${release}: Grafana runs`);
          for (const ds of datasources(objects, release)) assert.match(ds.url, /^https?:\/\//, `${ds.name}: ${ds.url}`);
        }
      }
    }
  });
}

grafana.run();
