/**
 * Every PrometheusRule the chart renders passes `promtool check rules`: the file parses and
 * every PromQL expression is valid for Prometheus.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { templateOrThrow } from '../helpers/helm.ts';
import { loadGoldenCases } from '../helpers/golden.ts';
import { parseManifests } from '../helpers/k8s/manifests.ts';
import { serviceMonitorTargetLabels } from '../helpers/promtool.ts';

const rules = suite('PrometheusRules, checked by promtool');
const PROMTOOL = '/usr/bin/promtool';

function promtool(file: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(PROMTOOL, ['check', 'rules', file], (err, stdout, stderr) => resolve({ code: err ? 1 : 0, output: stdout + stderr }));
  });
}

rules('every golden case that renders a PrometheusRule passes promtool check rules', async () => {
  assert.ok(existsSync(PROMTOOL), `${PROMTOOL} is missing: run make setup (apt-get install prometheus)`);
  let checked = 0;
  for (const goldenCase of loadGoldenCases()) {
    const rendered = await templateOrThrow('helm', {
      release: goldenCase.release, namespace: goldenCase.namespace, valuesFiles: [goldenCase.valuesFile], apiVersions: goldenCase.apiVersions,
    });
    for (const rule of parseManifests(rendered).filter((o: Record<string, any>) => o.kind === 'PrometheusRule') as Record<string, any>[]) {
      const file = join(mkdtempSync(join(tmpdir(), 'rules-')), 'rules.yaml');
      writeFileSync(file, stringify({ groups: rule.spec.groups }));
      const { code, output } = await promtool(file);
      assert.is(code, 0, `${goldenCase.name}: ${output}`);
      assert.match(output, /SUCCESS/);
      checked++;
    }
  }
  assert.ok(checked > 0, 'no golden case renders a PrometheusRule, so nothing was checked');
});

rules('promtool refuses a broken expression (the check can fail)', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'rules-')), 'rules.yaml');
  writeFileSync(file, stringify({ groups: [{ name: 'x', rules: [{ alert: 'Broken', expr: 'sum(rate(x[5m]) by' }] }] }));
  const { code, output } = await promtool(file);
  assert.is(code, 1);
  assert.match(output, /parse error/);
});

/** `promtool test rules` of `groups` with one alert test; resolves with its exit code and output. */
function promtoolAlertTest(groups: unknown, test: Record<string, unknown>): Promise<{ code: number; output: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'rules-'));
  writeFileSync(join(dir, 'rules.yaml'), stringify({ groups }));
  writeFileSync(join(dir, 'test.yaml'), stringify({ rule_files: ['rules.yaml'], evaluation_interval: '1m', tests: [{ interval: '1m', ...test }] }));
  return new Promise((resolve) => {
    execFile(PROMTOOL, ['test', 'rules', join(dir, 'test.yaml')], (err, stdout, stderr) => resolve({ code: err ? 1 : 0, output: stdout + stderr }));
  });
}

rules('the webhook rule: every alert waits (for:), and the webhook\'s own series are this release\'s only', async () => {
  const objects = parseManifests(await templateOrThrow('helm', {
    release: 'site-a', namespace: 'sn', values: { webhook: { enabled: true } }, apiVersions: ['monitoring.coreos.com/v1'],
  })) as Record<string, any>[];
  const rule = objects.find((o) => o.kind === 'PrometheusRule' && o.metadata.labels['app.kubernetes.io/component'] === 'webhook')!;
  const alerts = rule.spec.groups.flatMap((group: Record<string, any>) => group.rules);
  for (const alert of alerts) assert.ok(alert.for, `${alert.alert} has no for:`);
  for (const alert of alerts.filter((a: Record<string, any>) => /supersonic_webhook_/.test(a.expr))) {
    assert.match(alert.expr, 'namespace="sn", job="site-a-webhook"', `${alert.alert} is not scoped to the release`);
  }
  // The series as this release's ServiceMonitor labels them, and the same from another release.
  const ownPod = serviceMonitorTargetLabels(objects, 'site-a-webhook', { hash: '6f7d8c9b5', suffix: 'x2k4p', ip: '10.1.0.7' });
  const otherRelease = { ...ownPod, namespace: 'other', job: 'site-b-webhook', service: 'site-b-webhook', pod: 'site-b-webhook-6f7d8c9b5-q9w8e' };
  const annotations = (name: string, pod: string) => {
    const found = alerts.find((a: Record<string, any>) => a.alert === name).annotations as Record<string, string>;
    return Object.fromEntries(Object.entries(found).map(([k, v]) => [k, v.replaceAll('{{ $labels.pod }}', pod)]));
  };
  const selector = (name: string, labels: Record<string, string>) => `${name}{${Object.entries(labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}}`;
  const DAY = 86_400;
  const { code, output } = await promtoolAlertTest(rule.spec.groups, {
    input_series: [
      // Stale from minute 10 on; the other release's pod is stale all along.
      { series: selector('supersonic_webhook_node_view_stale', ownPod), values: '0x9 1x50' },
      { series: selector('supersonic_webhook_node_view_stale', otherRelease), values: '1x60' },
      // 10 days left (renewal is due 30 days before; the alert is at half of that); the other release's too.
      { series: selector('supersonic_webhook_certificate_expiry_timestamp_seconds', ownPod), values: `${10 * DAY}x180` },
      { series: selector('supersonic_webhook_certificate_expiry_timestamp_seconds', otherRelease), values: `${10 * DAY}x180` },
    ],
    alert_rule_test: [
      { alertname: 'SuperSONICWebhookNodeViewStale', eval_time: '13m', exp_alerts: [] }, // stale, but not for 5 minutes yet
      {
        alertname: 'SuperSONICWebhookNodeViewStale', eval_time: '16m',
        exp_alerts: [{ exp_labels: { severity: 'warning', namespace: 'sn', pod: ownPod.pod }, exp_annotations: annotations('SuperSONICWebhookNodeViewStale', ownPod.pod!) }],
      },
      { alertname: 'SuperSONICWebhookCertificateExpiring', eval_time: '30m', exp_alerts: [] }, // not for an hour yet
      {
        alertname: 'SuperSONICWebhookCertificateExpiring', eval_time: '90m',
        exp_alerts: [{ exp_labels: { severity: 'warning', namespace: 'sn', pod: ownPod.pod }, exp_annotations: annotations('SuperSONICWebhookCertificateExpiring', ownPod.pod!) }],
      },
    ],
  });
  assert.is(code, 0, output);
  // And a certificate with more than half its renewal window left does not alert.
  const healthy = await promtoolAlertTest(rule.spec.groups, {
    input_series: [{ series: selector('supersonic_webhook_certificate_expiry_timestamp_seconds', ownPod), values: `${16 * DAY}x180` }],
    alert_rule_test: [{ alertname: 'SuperSONICWebhookCertificateExpiring', eval_time: '2h', exp_alerts: [] }],
  });
  assert.is(healthy.code, 0, healthy.output);
});

rules.run();
