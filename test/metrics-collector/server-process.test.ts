/**
 * The metrics collector process as the image runs it (its bundle on Node 24), reading the real
 * Debian Prometheus 2.42 that scrapes synthetic Triton GPU metrics of several pods and
 * namespaces: /metrics answers only the release's Triton pods' GPUs, once per GPU, in exposition
 * text that promtool accepts and perf_analyzer's own pattern reads. Then, against a stand-in,
 * every way Prometheus can fail (down, slow, huge, malformed, refusing, a private CA) gives a
 * prompt 503 or 502 that says why, and the process keeps serving; concurrent requests share one
 * query and a cap refuses the excess; SIGTERM drains and exits 0.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCertificateAuthority, createServingCertificate, DAY_MS } from '../../webhook/src/tls/certificates.ts';
import { startCollectorProcess, type CollectorProcess } from '../helpers/metrics-collector/collector-process.ts';
import { startRealPrometheus, type RealPrometheus } from '../helpers/metrics-collector/real-prometheus.ts';
import { startStandIn, type StandIn } from '../helpers/metrics-collector/prometheus-stand-in.ts';
import { freePort } from '../helpers/ports.ts';
import { PROMTOOL, requirePromtool } from '../helpers/promtool.ts';

const SELECTOR = 'namespace="cms", pod=~"sonic-triton-[a-z0-9]+-[a-z0-9]+"';

/** Triton's /metrics for one pod's GPUs: {uuid: [utilization, total, used, power, limit, energy]}. */
function tritonText(gpus: Record<string, (string | number)[]>): string {
  const names = ['nv_gpu_utilization', 'nv_gpu_memory_total_bytes', 'nv_gpu_memory_used_bytes', 'nv_gpu_power_usage', 'nv_gpu_power_limit', 'nv_energy_consumption'];
  const lines = ['# HELP nv_inference_count Number of inferences performed', '# TYPE nv_inference_count counter', 'nv_inference_count{model="resnet",version="1"} 12'];
  names.forEach((name, i) => {
    lines.push(`# TYPE ${name} ${name === 'nv_energy_consumption' ? 'counter' : 'gauge'}`);
    for (const [uuid, values] of Object.entries(gpus)) lines.push(`${name}{gpu_uuid="${uuid.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"} ${values[i]}`);
  });
  return `${lines.join('\n')}\n`;
}

/** perf_analyzer's ParseAndStoreMetric pattern (triton_client_backend.h). */
const perfAnalyzerReads = (text: string, metric: string) =>
  Object.fromEntries([...text.matchAll(new RegExp(`\\n${metric}\\{gpu_uuid\\="([^"]+)"\\} (\\d+\\.?\\d*)`, 'g'))].map((m) => [m[1], Number(m[2])]));

const real = suite<{ prometheus: RealPrometheus; collector: CollectorProcess }>('metrics collector process against the real Prometheus 2.42');

real.before(async (context) => {
  context.prometheus = await startRealPrometheus([
    // The release's two Triton pods; both see GPU-a (shared, MPS).
    { namespace: 'cms', pod: 'sonic-triton-7d9f8-abcde', metrics: tritonText({ 'GPU-a': [0.41, 25769803776, 1392508928, 81.619, 300, 123456.5] }) },
    { namespace: 'cms', pod: 'sonic-triton-7d9f8-fghij', metrics: tritonText({ 'GPU-a': [0.41, 25769803776, 1392508928, 81.619, 300, 123456.5], 'GPU-b': [0.77, 16106127360, 629417335, 99.217, 'NaN', '+Inf'] }) },
    // Not the release's: another namespace with the same names, another component's pod.
    { namespace: 'atlas', pod: 'sonic-triton-7d9f8-abcde', metrics: tritonText({ 'GPU-other-namespace': [0.99, 1, 1, 1, 1, 1] }) },
    { namespace: 'cms', pod: 'sonic-envoy-5c6d7-klmno', metrics: tritonText({ 'GPU-not-triton': [0.5, 1, 1, 1, 1, 1] }) },
    { namespace: 'cms', pod: 'other-triton-7d9f8-abcde', metrics: tritonText({ 'GPU-other-release': [0.5, 1, 1, 1, 1, 1] }) },
  ]);
  context.collector = await startCollectorProcess({ prometheusUrl: context.prometheus.url, selector: SELECTOR });
});

real.after(async (context) => {
  await context.collector?.close();
  await context.prometheus?.close();
});

real('GET /metrics: the release\'s Triton GPUs only, each once, as perf_analyzer reads them', async ({ collector }) => {
  const res = await fetch(`${collector.url}/metrics`);
  assert.is(res.status, 200);
  assert.is(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  const text = await res.text();
  assert.equal(perfAnalyzerReads(text, 'nv_gpu_utilization'), { 'GPU-a': 0.41, 'GPU-b': 0.77 });
  assert.equal(perfAnalyzerReads(text, 'nv_gpu_memory_total_bytes'), { 'GPU-a': 25769803776, 'GPU-b': 16106127360 });
  assert.equal(perfAnalyzerReads(text, 'nv_gpu_memory_used_bytes'), { 'GPU-a': 1392508928, 'GPU-b': 629417335 });
  assert.equal(perfAnalyzerReads(text, 'nv_gpu_power_usage'), { 'GPU-a': 81.619, 'GPU-b': 99.217 });
  assert.equal(perfAnalyzerReads(text, 'nv_gpu_power_limit'), { 'GPU-a': 300 });
  assert.equal(perfAnalyzerReads(text, 'nv_energy_consumption'), { 'GPU-a': 123456.5 });
  assert.match(text, /^nv_gpu_power_limit\{gpu_uuid="GPU-b"\} NaN$/m);
  assert.match(text, /^nv_energy_consumption\{gpu_uuid="GPU-b"\} \+Inf$/m);
  for (const other of ['GPU-other-namespace', 'GPU-not-triton', 'GPU-other-release']) assert.not.ok(text.includes(other), `${other} leaked in`);
  assert.not.match(text, /nv_inference_count|namespace=|pod=/, 'only the six GPU metrics, with gpu_uuid alone');
  assert.is(text.match(/^nv_gpu_utilization\{/gm)?.length, 2, 'GPU-a once, though two pods report it');
});

real('the page is valid exposition text: promtool check metrics finds nothing but Triton\'s own counter name', async ({ collector }) => {
  requirePromtool();
  const text = await (await fetch(`${collector.url}/metrics`)).text();
  let output = '';
  try {
    execFileSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (err) {
    output = String((err as { stdout?: string }).stdout ?? '') + String((err as { stderr?: string }).stderr ?? '');
  }
  const problems = output.split('\n').filter((line) => line.trim() && !/^nv_energy_consumption counter metrics should have "_total" suffix$/.test(line.trim()));
  assert.equal(problems, [], 'promtool check metrics');
});

real('the collector\'s own metrics are beside the GPU page, at /self/metrics; health and readiness answer', async ({ collector }) => {
  const self = await (await fetch(`${collector.url}/self/metrics`)).text();
  assert.match(self, /^supersonic_metrics_collector_queries_total\{outcome="ok"\} [1-9]/m);
  assert.is((await fetch(`${collector.url}/healthz`)).status, 200);
  assert.is((await fetch(`${collector.url}/readyz`)).status, 200);
});

real('JSON logs, one object a line', async ({ collector }) => {
  const lines = collector.logs().trim().split('\n');
  assert.ok(lines.length > 0);
  for (const line of lines) assert.type(JSON.parse(line), 'object');
  assert.ok(lines.some((line) => JSON.parse(line).msg === 'serving'));
});

real.run();

// ---------------------------------------------------------------------------------------------

const failing = suite<{ standIns: StandIn[]; collectors: CollectorProcess[] }>('metrics collector process when Prometheus fails');
failing.before((context) => {
  context.standIns = [];
  context.collectors = [];
});
failing.after(async (context) => {
  await Promise.all(context.collectors.map((c) => c.close()));
  await Promise.all(context.standIns.map((s) => s.close()));
});

type Ctx = { standIns: StandIn[]; collectors: CollectorProcess[] };
async function collectorFor(context: Ctx, url: string, env: Record<string, string> = {}): Promise<CollectorProcess> {
  const collector = await startCollectorProcess({ prometheusUrl: url, selector: SELECTOR, env });
  context.collectors.push(collector);
  return collector;
}
async function standIn(context: Ctx, answer: Parameters<typeof startStandIn>[0], tls?: Parameters<typeof startStandIn>[1]): Promise<StandIn> {
  const started = await startStandIn(answer, tls);
  context.standIns.push(started);
  return started;
}
async function stillServing(collector: CollectorProcess): Promise<void> {
  assert.is(collector.child.exitCode, null, 'the process is still running');
  assert.is((await fetch(`${collector.url}/healthz`)).status, 200);
}

failing('Prometheus down: 503 at once, saying it is unreachable, with Retry-After', async (context) => {
  const collector = await collectorFor(context, `http://127.0.0.1:${await freePort()}`);
  const res = await fetch(`${collector.url}/metrics`);
  assert.is(res.status, 503);
  assert.is(res.headers.get('retry-after'), '5');
  assert.match(await res.text(), /^GPU metrics unavailable: Prometheus at http:\/\/127\.0\.0\.1:\d+ is unreachable: connect ECONNREFUSED/);
  await stillServing(collector);
});

failing('Prometheus that never answers: 503 after the query timeout, not a hang', async (context) => {
  const slow = await standIn(context, () => { /* never answers */ });
  const collector = await collectorFor(context, slow.url, { QUERY_TIMEOUT_MS: '300' });
  const started = Date.now();
  const res = await fetch(`${collector.url}/metrics`);
  const took = Date.now() - started;
  assert.is(res.status, 503);
  assert.match(await res.text(), /did not answer within 300 ms/);
  assert.ok(took >= 250 && took < 3000, `answered after ${took} ms`);
  await stillServing(collector);
});

failing('an answer larger than the cap is refused (502), declared or streamed', async (context) => {
  const big = Buffer.alloc(200_000, 'x');
  const declared = await standIn(context, (_req, res) => res.writeHead(200, { 'content-type': 'application/json', 'content-length': big.length }).end(big));
  const streamed = await standIn(context, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    const timer = setInterval(() => res.write(Buffer.alloc(16_384, ' ')), 1);
    res.on('close', () => clearInterval(timer));
  });
  for (const stand of [declared, streamed]) {
    const collector = await collectorFor(context, stand.url, { MAX_RESPONSE_BYTES: '65536' });
    const res = await fetch(`${collector.url}/metrics`);
    assert.is(res.status, 502);
    assert.match(await res.text(), /more than the 65536 bytes allowed|65536 allowed/);
    await stillServing(collector);
  }
});

failing('malformed answers and Prometheus errors: 502 with what was wrong', async (context) => {
  const cases: [(res: import('node:http').ServerResponse) => void, RegExp][] = [
    [(res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>proxy login</html>'), /HTTP 200 that is not JSON/],
    [(res) => res.writeHead(200).end(JSON.stringify({ status: 'success', data: { resultType: 'scalar', result: [1, '1'] } })), /not an instant vector/],
    [(res) => res.writeHead(200).end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [{ metric: { __name__: 'nv_gpu_utilization', gpu_uuid: 'a' }, value: [1, '1\nevil 1'] }] } })), /invalid value/],
    [(res) => res.writeHead(400).end(JSON.stringify({ status: 'error', errorType: 'bad_data', error: 'parse error at char 3' })), /refused the query \(HTTP 400, bad_data\): parse error at char 3/],
  ];
  for (const [answer, message] of cases) {
    const stand = await standIn(context, (_req, res) => answer(res));
    const collector = await collectorFor(context, stand.url);
    const res = await fetch(`${collector.url}/metrics`);
    assert.is(res.status, 502);
    assert.match(await res.text(), message);
    await stillServing(collector);
  }
});

failing('concurrent requests share one Prometheus query; beyond the cap, 503 with Retry-After', async (context) => {
  const held: import('node:http').ServerResponse[] = [];
  const stand = await standIn(context, (_req, res) => held.push(res));
  const collector = await collectorFor(context, stand.url, { MAX_CONCURRENT_REQUESTS: '3', QUERY_TIMEOUT_MS: '10000' });
  const first = Array.from({ length: 3 }, () => fetch(`${collector.url}/metrics`));
  // Let the three arrive and wait before more come.
  const deadline = Date.now() + 5000;
  while (held.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  await new Promise((resolve) => setTimeout(resolve, 100));
  const excess = await Promise.all(Array.from({ length: 4 }, () => fetch(`${collector.url}/metrics`)));
  assert.equal(excess.map((r) => r.status), [503, 503, 503, 503]);
  assert.is(excess[0]!.headers.get('retry-after'), '1');
  assert.match(await excess[0]!.text(), /too many \/metrics requests at once \(more than 3\)/);
  assert.is(held.length, 1, 'one query for three requests');
  held[0]!.writeHead(200).end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [{ metric: { __name__: 'nv_gpu_utilization', gpu_uuid: 'GPU-a' }, value: [1, '0.5'] }] } }));
  const answers = await Promise.all(first);
  assert.equal(answers.map((r) => r.status), [200, 200, 200]);
  for (const answer of answers) assert.match(await answer.text(), /^nv_gpu_utilization\{gpu_uuid="GPU-a"\} 0\.5$/m);
  assert.is(stand.queries[0], `max by (__name__, gpu_uuid) ({__name__=~"nv_gpu_utilization|nv_gpu_memory_total_bytes|nv_gpu_memory_used_bytes|nv_gpu_power_usage|nv_gpu_power_limit|nv_energy_consumption", ${SELECTOR}})`);
});

failing('an https Prometheus with a private CA: refused without PROMETHEUS_CA_FILE, read with it', async (context) => {
  const authority = await createCertificateAuthority();
  const serving = await createServingCertificate(authority, { dnsNames: ['localhost'], validityMs: DAY_MS });
  const stand = await standIn(context, (_req, res) => res.writeHead(200).end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [] } })), serving);
  const dir = mkdtempSync(join(tmpdir(), 'collector-ca-'));
  try {
    writeFileSync(join(dir, 'ca.crt'), authority.cert);
    const without = await collectorFor(context, stand.url);
    const refused = await fetch(`${without.url}/metrics`);
    assert.is(refused.status, 503);
    assert.match(await refused.text(), /is unreachable: .*certificate/i);
    const withCa = await collectorFor(context, stand.url, { PROMETHEUS_CA_FILE: join(dir, 'ca.crt') });
    assert.is((await fetch(`${withCa.url}/metrics`)).status, 200);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

failing('bad environment stops start-up with a message naming the variable', async () => {
  for (const [env, message] of [
    [{ PROMETHEUS_URL: 'ftp://x' }, /PROMETHEUS_URL ftp:\/\/x: the scheme must be http or https, not ftp/],
    [{ QUERY_TIMEOUT_MS: 'soon' }, /QUERY_TIMEOUT_MS must be a positive integer/],
    [{ PROMETHEUS_CA_FILE: '/nonexistent/ca.crt' }, /PROMETHEUS_CA_FILE \/nonexistent\/ca.crt cannot be read/],
  ] as [Record<string, string>, RegExp][]) {
    const collector = await startCollectorProcess({ prometheusUrl: 'http://127.0.0.1:9', selector: SELECTOR, env, waitReady: false });
    assert.is(await collector.exited, 1);
    assert.match(collector.logs(), message);
  }
});

failing('SIGTERM: readiness off at once, the request in flight finishes, then exit 0', async (context) => {
  const held: import('node:http').ServerResponse[] = [];
  const stand = await standIn(context, (_req, res) => held.push(res));
  const collector = await startCollectorProcess({ prometheusUrl: stand.url, selector: SELECTOR, env: { SHUTDOWN_DELAY_MS: '300', QUERY_TIMEOUT_MS: '10000' } });
  context.collectors.push(collector);
  const inFlight = fetch(`${collector.url}/metrics`);
  while (held.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
  collector.child.kill('SIGTERM');
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.is((await fetch(`${collector.url}/readyz`)).status, 503, 'draining');
  held[0]!.writeHead(200).end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [] } }));
  assert.is((await inFlight).status, 200);
  assert.is(await collector.exited, 0);
});

failing.run();
