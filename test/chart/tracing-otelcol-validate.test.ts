/**
 * The collector's own check of the configuration the chart renders: `otelcol validate` of a
 * collector built from the Go module proxy with exactly the components that configuration uses
 * (test/tools/build-otelcol.sh, at the release of the chart's default image tag). It parses every
 * component's settings and compiles the transform processor's OTTL statements, which a structural
 * test cannot. Without the binary (not built on this machine) the test says so and checks nothing;
 * in CI it must be there.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { REPO_ROOT, templateOrThrow } from '../helpers/helm.ts';
import { parseManifests } from '../helpers/k8s/manifests.ts';
import { runCommand } from '../helpers/run-command.ts';
import { coveredPart, loadCompatFiles, ROOT_SCALAR_KEYS } from '../helpers/compat.ts';
import { parse } from 'yaml';

const OTELCOL = join(REPO_ROOT, '.tools/otelcol/otelcol');
const validate = suite('tracing: otelcol validate of the rendered collector config');

async function renderedConfig(values: Record<string, unknown>, release = 'supersonic'): Promise<Record<string, any>> {
  const objects = parseManifests(await templateOrThrow('helm', { release, values })) as Record<string, any>[];
  const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === `${release}-opentelemetry-collector`);
  assert.ok(cm, 'the collector ConfigMap is rendered');
  return parse(cm!.data['config.yaml']);
}

async function otelcolValidate(config: Record<string, unknown>): Promise<{ code: number; output: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'supersonic-otelcol-'));
  try {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, stringify(config));
    const result = await runCommand(OTELCOL, ['validate', `--config=${file}`]);
    return { code: result.code ?? 1, output: `${result.stdout}${result.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const ON = { 'opentelemetry-collector': { enabled: true }, tempo: { enabled: true }, prometheus: { enabled: true } };
const CASES: [string, Record<string, unknown>, string?][] = [
  ['collector, Tempo and the bundled Prometheus', ON],
  ['Tempo only', { 'opentelemetry-collector': { enabled: true }, tempo: { enabled: true } }],
  ['an external Prometheus with a CA bundle, no own metrics', {
    'opentelemetry-collector': { enabled: true, ports: { metrics: { enabled: false } } },
    prometheus: { external: { enabled: true, url: 'https://prometheus.example.org', caBundle: { configMap: 'site-ca', secret: '', key: 'ca.crt' } } },
  }],
];
for (const file of loadCompatFiles()) {
  const values = coveredPart(file.values, [...ROOT_SCALAR_KEYS, 'tempo', 'opentelemetry-collector', 'triton', 'envoy', 'prometheus']);
  if ((values['opentelemetry-collector'] as any)?.enabled) CASES.push([file.name, values, 'sonic-server']);
}

if (!existsSync(OTELCOL)) {
  validate('the collector binary is built', () => {
    const message = `${OTELCOL} is missing: run bash test/tools/build-otelcol.sh (a few minutes, once) to check the rendered collector config with the collector's own validate`;
    if (process.env.CI) assert.unreachable(message);
    console.log(`SKIPPED: ${message}`);
  });
} else {
  for (const [name, values, release] of CASES) {
    validate(`${name}: otelcol validate accepts the rendered config`, async () => {
      const result = await otelcolValidate(await renderedConfig(values, release));
      assert.is(result.code, 0, result.output);
    });
  }
  validate('otelcol validate refuses what is wrong (so the checks above can fail)', async () => {
    const config = await renderedConfig(ON);
    config.processors.transform.trace_statements[1].statements = ['set(kind, NOT_A_SPAN_KIND)'];
    const badOttl = await otelcolValidate(config);
    assert.is.not(badOttl.code, 0);
    assert.match(badOttl.output, /NOT_A_SPAN_KIND|transform/);
    const config2 = await renderedConfig(ON);
    config2.connectors.spanmetrics.histogram.explicit.buckets = ['ten'];
    const badBucket = await otelcolValidate(config2);
    assert.is.not(badBucket.code, 0);
  });
}

validate.run();
