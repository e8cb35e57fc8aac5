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

rules.run();
