/**
 * The cluster's prometheus-operator (prometheus.operator): ServiceMonitors for Triton and Envoy
 * and a PrometheusRule with the release's alerts, only where the cluster serves
 * monitoring.coreos.com/v1; the rule passes promtool, holds the same groups as the bundled
 * Prometheus's rule file, and its series are labelled alike in both ways.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { dryRunInstall, templateOrThrow } from '../helpers/helm.ts';
import { parseManifests } from '../helpers/k8s/manifests.ts';
import { podTargets, promtools, runPromtool, scrapeJobLabels, serviceMonitorTargetLabels } from '../helpers/promtool.ts';

type Manifest = Record<string, any>;
const operator = suite('prometheus-operator mode (prometheus.operator)');
const MONITORING = 'monitoring.coreos.com/v1';

async function render(values: Record<string, unknown>, apiVersions = [MONITORING]): Promise<Manifest[]> {
  return parseManifests(await templateOrThrow('helm', { release: 'supersonic', namespace: 'cms', values, apiVersions })) as Manifest[];
}
const kinds = (objects: Manifest[]) => objects.filter((o) => ['ServiceMonitor', 'PodMonitor', 'PrometheusRule'].includes(o.kind)).map((o) => `${o.kind}/${o.metadata.name}`);

operator('prometheus.operator.enabled: ServiceMonitors for Triton and Envoy and the alerts, with the monitors\' labels', async () => {
  const objects = await render({ prometheus: { operator: { enabled: true } }, serverLoad: { serviceMonitors: { labels: { release: 'kube-prometheus-stack' } } } });
  assert.equal(kinds(objects).sort(), ['PrometheusRule/supersonic-alerts', 'ServiceMonitor/supersonic-envoy', 'ServiceMonitor/supersonic-triton']);
  for (const o of objects.filter((x) => ['ServiceMonitor', 'PrometheusRule'].includes(x.kind))) assert.is(o.metadata.labels.release, 'kube-prometheus-stack', o.metadata.name);
  assert.equal(kinds(await render({ prometheus: { operator: { enabled: true, alerts: false } } })), ['ServiceMonitor/supersonic-triton', 'ServiceMonitor/supersonic-envoy']);
});

operator('no CRD, no monitors and no rule, and NOTES says which feature needs it', async () => {
  assert.equal(kinds(await render({ prometheus: { operator: { enabled: true } } }, [])), []);
  const result = await dryRunInstall('helm', { values: { prometheus: { operator: { enabled: true } } } });
  assert.is(result.code, 0, result.stderr);
  assert.match(result.stdout, /prometheus\.operator\.enabled is set, but the cluster does not serve monitoring\.coreos\.com\/v1/);
});

operator('off by default; KEDA on the bundled Prometheus needs no monitors; KEDA on an external one keeps them', async () => {
  assert.equal(kinds(await render({})), []);
  assert.equal(kinds(await render({ prometheus: { enabled: true }, keda: { enabled: true } }, [MONITORING, 'keda.sh/v1alpha1'])), []);
  assert.equal(kinds(await render({ prometheus: { external: { enabled: true, url: 'http://prom:9090' } }, keda: { enabled: true } }, [MONITORING, 'keda.sh/v1alpha1'])),
    ['ServiceMonitor/supersonic-triton', 'ServiceMonitor/supersonic-envoy']);
});

operator('the PrometheusRule passes promtool check rules (both promtools) and holds the bundled rule file\'s groups', async () => {
  const values = { prometheus: { enabled: true, operator: { enabled: true } }, keda: { enabled: true, minReplicaCount: 0 }, envoy: { rate_limiter: { prometheus_based: { enabled: true, mode: 'shed', failOpen: true } } } };
  const objects = await render(values, [MONITORING, 'keda.sh/v1alpha1']);
  const rule = objects.find((o) => o.kind === 'PrometheusRule')!;
  const bundledRules = parse(objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'supersonic-prometheus-server')!.data['supersonic-rules.yml']);
  assert.equal(rule.spec.groups, bundledRules.groups);
  const file = join(mkdtempSync(join(tmpdir(), 'rules-')), 'rules.yaml');
  writeFileSync(file, stringify({ groups: rule.spec.groups }));
  for (const binary of promtools()) {
    const { code, output } = await runPromtool(binary, ['check', 'rules', file]);
    assert.is(code, 0, `${binary}: ${output}`);
    assert.match(output, /SUCCESS: 4 rules found/);
  }
  for (const alert of rule.spec.groups.flatMap((g: Manifest) => g.rules)) assert.ok(alert.for, `${alert.alert} has no for:`);
});

operator('a Triton pod\'s series carry the same namespace, pod, job, service, container and endpoint either way', async () => {
  const objects = await render({ prometheus: { enabled: true, operator: { enabled: true } } });
  const deployment = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'supersonic-triton')!;
  const hash = '5f6d7c8b9';
  const viaOperator = serviceMonitorTargetLabels(objects, 'supersonic-triton', { hash, suffix: 'k1x2p', ip: '10.1.0.1' });
  const job = parse(objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'supersonic-prometheus-server')!.data['prometheus.yml'])
    .scrape_configs.find((j: Manifest) => j.job_name === 'supersonic-triton');
  const [viaBundled] = scrapeJobLabels(job, podTargets({
    namespace: 'cms', name: viaOperator.pod!, ip: '10.1.0.1', labels: deployment.spec.template.metadata.labels,
    containers: deployment.spec.template.spec.containers.map((c: Manifest) => ({ name: c.name, ports: c.ports ?? [] })),
  }));
  assert.equal(viaBundled, viaOperator);
});

operator.run();
