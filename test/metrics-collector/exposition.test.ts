/**
 * Prometheus's instant-vector answer as exposition text: label values and HELP escaped as the
 * format says, NaN and infinities kept as Prometheus spells them, families in a fixed order with
 * HELP and TYPE even when empty, samples sorted, and malformed answers refused whole. The page
 * is also read back with perf_analyzer's own pattern for a GPU metric line.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BadAnswer, escapeHelp, escapeLabelValue, parseVector, toExposition } from '../../metrics-collector/src/exposition.ts';
import { GPU_METRICS, gpuQuery } from '../../metrics-collector/src/gpu-metrics.ts';

const test = suite('metrics collector: Prometheus answer to exposition text');

const vector = (result: unknown[]) => ({ status: 'success', data: { resultType: 'vector', result } });
const sample = (name: string, labels: Record<string, string>, value: string) => ({ metric: { __name__: name, ...labels }, value: [1_700_000_000.123, value] });
const page = (answer: unknown) => toExposition(GPU_METRICS, parseVector(answer, GPU_METRICS));

/** perf_analyzer's ParseAndStoreMetric pattern (triton_client_backend.h), for one metric. */
const perfAnalyzerReads = (text: string, metric: string) =>
  [...text.matchAll(new RegExp(`\\n${metric}\\{gpu_uuid\\="([^"]+)"\\} (\\d+\\.?\\d*)`, 'g'))].map((m) => [m[1], Number(m[2])]);

test('the six GPU families, in order, with HELP and TYPE, even with no sample', () => {
  const text = page(vector([]));
  const families = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]);
  assert.equal(families, [
    ['nv_gpu_utilization', 'gauge'], ['nv_gpu_memory_total_bytes', 'gauge'], ['nv_gpu_memory_used_bytes', 'gauge'],
    ['nv_gpu_power_usage', 'gauge'], ['nv_gpu_power_limit', 'gauge'], ['nv_energy_consumption', 'counter'],
  ]);
  assert.not.match(text, /^nv_/m, 'no sample line');
  assert.ok(text.endsWith('\n'));
});

test('samples as perf_analyzer reads them: one gpu_uuid label, the value as Prometheus wrote it', () => {
  const text = page(vector([
    sample('nv_gpu_utilization', { gpu_uuid: 'GPU-b' }, '0.77'),
    sample('nv_gpu_utilization', { gpu_uuid: 'GPU-a' }, '0.41'),
    sample('nv_gpu_memory_used_bytes', { gpu_uuid: 'GPU-a' }, '1392508928'),
    sample('nv_energy_consumption', { gpu_uuid: 'GPU-a' }, '123456789012.5'),
  ]));
  assert.match(text, /\nnv_gpu_utilization\{gpu_uuid="GPU-a"\} 0\.41\nnv_gpu_utilization\{gpu_uuid="GPU-b"\} 0\.77\n/, 'sorted by labels');
  assert.equal(perfAnalyzerReads(text, 'nv_gpu_utilization'), [['GPU-a', 0.41], ['GPU-b', 0.77]]);
  assert.equal(perfAnalyzerReads(text, 'nv_gpu_memory_used_bytes'), [['GPU-a', 1392508928]]);
  assert.equal(perfAnalyzerReads(text, 'nv_energy_consumption'), [['GPU-a', 123456789012.5]]);
  assert.not.match(text, / 1700000000/, 'no timestamps: a scraper stamps the page itself');
});

test('label values escaped: backslash, double quote and newline', () => {
  assert.is(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  assert.is(escapeHelp('x\\y\nz "q"'), 'x\\\\y\\nz "q"');
  const text = page(vector([sample('nv_gpu_power_usage', { gpu_uuid: 'GPU-"odd"\\\n', zone: 'b' }, '81.619')]));
  assert.match(text, /^nv_gpu_power_usage\{gpu_uuid="GPU-\\"odd\\"\\\\\\n",zone="b"\} 81\.619$/m);
});

test('NaN and the infinities kept as the exposition format spells them', () => {
  const text = page(vector([
    sample('nv_gpu_power_limit', { gpu_uuid: 'GPU-a' }, 'NaN'),
    sample('nv_gpu_power_limit', { gpu_uuid: 'GPU-b' }, '+Inf'),
    sample('nv_gpu_power_limit', { gpu_uuid: 'GPU-c' }, '-Inf'),
  ]));
  assert.match(text, /^nv_gpu_power_limit\{gpu_uuid="GPU-a"\} NaN$/m);
  assert.match(text, /^nv_gpu_power_limit\{gpu_uuid="GPU-b"\} \+Inf$/m);
  assert.match(text, /^nv_gpu_power_limit\{gpu_uuid="GPU-c"\} -Inf$/m);
});

test('series of other metrics in the answer are left out', () => {
  const text = page(vector([sample('up', { job: 'x' }, '1'), sample('nv_gpu_utilization', { gpu_uuid: 'GPU-a' }, '1')]));
  assert.not.match(text, /^up/m);
  assert.match(text, /^nv_gpu_utilization\{gpu_uuid="GPU-a"\} 1$/m);
});

test('malformed answers are refused whole, with what is wrong', () => {
  const bad: [unknown, RegExp][] = [
    ['text', /not a JSON object/],
    [{ status: 'error', error: 'x' }, /status is "error"/],
    [{ status: 'success', data: { resultType: 'matrix', result: [] } }, /not an instant vector/],
    [vector([{ metric: {}, value: [1, '2'] }]), /no valid metric name/],
    [vector([{ metric: { __name__: 'nv_gpu_utilization' }, value: [1] }]), /not \{metric, value/],
    [vector([sample('nv_gpu_utilization', { gpu_uuid: 'a' }, 'lots')]), /invalid value "lots"/],
    [vector([sample('nv_gpu_utilization', { gpu_uuid: 'a' }, '1\nnv_fake 2')]), /invalid value/],
    [vector([sample('nv_gpu_utilization', { 'bad-label': 'a' }, '1')]), /invalid label name "bad-label"/],
    [vector([{ metric: { __name__: 'nv_gpu_utilization', gpu_uuid: 3 }, value: [1, '1'] }]), /not a string/],
  ];
  for (const [answer, message] of bad) {
    assert.throws(() => parseVector(answer, GPU_METRICS), (err: Error) => err instanceof BadAnswer && message.test(err.message), JSON.stringify(answer));
  }
});

test('the query: all six metrics of the release\'s Triton pods, one series per metric and GPU', () => {
  const query = gpuQuery('namespace="cms", pod=~"sonic-triton-[a-z0-9]+-[a-z0-9]+"');
  assert.is(query, 'max by (__name__, gpu_uuid) ({__name__=~"nv_gpu_utilization|nv_gpu_memory_total_bytes|nv_gpu_memory_used_bytes|nv_gpu_power_usage|nv_gpu_power_limit|nv_energy_consumption", namespace="cms", pod=~"sonic-triton-[a-z0-9]+-[a-z0-9]+"})');
});

test.run();
