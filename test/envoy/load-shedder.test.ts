/**
 * The Envoy Lua load shedder (chart/supersonic/files/envoy-load-shedder.lua), run under LuaJIT
 * through a stand-in for Envoy's stream-handle API (test/helpers/envoy/lua-harness.lua).
 * Every scenario fails if the filter raises a Lua error, whatever else it asserts.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { luaHeader } from '../../generator/src/render/headers.ts';
import {
  LUA_FILTER,
  LUA_FILTER_SOURCE,
  luajitCompile,
  requireLuajit,
  resultOf,
  runScenario,
  type PrometheusReply,
  type RequestResult,
  type RequestStep,
  type Scenario,
} from '../helpers/envoy/lua.ts';

const GRPC = '/inference.GRPCInferenceService/';
const MODEL_INFER = `${GRPC}ModelInfer`;
const MODEL_STREAM_INFER = `${GRPC}ModelStreamInfer`;
const REPOSITORY_INDEX = `${GRPC}RepositoryIndex`;
const JSON_TYPE = 'application/json';

const QUERY = 'sum by (release) (rate(nv_inference_queue_duration_us{release=~"sonic"}[30s]))';
const CONFIG = {
  mode: 'shed',
  threshold: 100,
  query: QUERY,
  cluster: 'prometheus',
  authority: 'prometheus.monitoring.svc:9090',
};

/** A Prometheus instant-vector answer with one series per value. */
function vector(...values: string[]): string {
  return JSON.stringify({
    status: 'success',
    data: {
      resultType: 'vector',
      result: values.map((value, i) => ({ metric: { release: 'sonic', pod: `triton-${i}` }, value: [1712345678.123, value] })),
    },
  });
}
const ok = (body: string | null): PrometheusReply => ({ status: '200', body });
const load = (...values: string[]): PrometheusReply => ok(vector(...values));

function infer(id: string, time: number, prometheus?: PrometheusReply, extra: Partial<RequestStep> = {}): RequestStep {
  return { id, time, path: MODEL_INFER, ...(prometheus ? { prometheus } : {}), ...extra };
}

function warnings(result: RequestResult): string[] {
  return result.logs.filter((l) => l.level === 'warn').map((l) => l.message);
}

function assertGrpcRefusal(result: RequestResult, message: string) {
  assert.is(result.passed, false, `${result.id} must be refused`);
  assert.equal(result.refused?.headers, {
    ':status': '200',
    'content-type': 'application/grpc',
    'grpc-status': '8',
    'grpc-message': message,
  });
  // nil, not "": see refuse() in the filter; a "" body would end the stream with a DATA frame.
  assert.is(result.refused?.body, null, 'a trailers-only gRPC answer has no body at all');
}

function assertPassedUntouched(result: RequestResult) {
  assert.is(result.passed, true, `${result.id} must pass`);
  assert.is(result.refused, undefined);
  assert.is(result.marked, false, `${result.id} must not be marked`);
  assert.equal(result.response, {
    headers: { ':status': '200', 'content-type': 'application/grpc' },
    body: 'upstream-answer',
    trailers: { 'grpc-status': '0' },
  });
}

// ---------------------------------------------------------------------------------------------

const file = suite('load shedder: the shipped file');

file('compiles under LuaJIT (luajit -bl)', async () => {
  const result = await luajitCompile(LUA_FILTER);
  assert.is(result.code, 0, result.stderr);
});

file('without luajit the tests fail with the install hint', () => {
  assert.throws(() => requireLuajit({ PATH: '/nonexistent' }), /^luajit is missing: run make setup \(apt-get install luajit\)$/);
});

file('luajit -bl does catch a syntax error (the check above is not vacuous)', async () => {
  const broken = join(mkdtempSync(join(tmpdir(), 'lua-syntax-')), 'broken.lua');
  writeFileSync(broken, 'function envoy_on_request(handle)\n  if then\nend\n');
  const result = await luajitCompile(broken);
  assert.is.not(result.code, 0);
  assert.match(result.stderr, /broken\.lua:2/);
});

file('the source is plain Lua, and the shipped file is it after the generated-file notice', () => {
  const lua = readFileSync(LUA_FILTER_SOURCE, 'utf8');
  assert.not.match(lua, /\{\{/, 'no template syntax in the Lua source: the chart ships it as it is');
  const shipped = readFileSync(LUA_FILTER, 'utf8');
  assert.is(shipped, luaHeader + lua, 'the shipped file is out of date: run make generate');
  assert.not.match(lua, /SERVER_LOAD_(METRIC|THRESHOLD)|PROMETHEUS_(HOST|PORT|SCHEME)/, 'no 0.3.1-style placeholders');
});

file('defines envoy_on_request and envoy_on_response and no other global', async () => {
  const run = await runScenario({ metadata: CONFIG, steps: [infer('a', 1000, load('1'))] });
  assert.equal(run.summary.globals, ['envoy_on_request', 'envoy_on_response']);
});

file.run();

// ---------------------------------------------------------------------------------------------

const shed = suite('load shedder: shed mode decisions');

shed('under the threshold a ModelInfer call passes after one Prometheus query', async () => {
  const run = await runScenario({ metadata: CONFIG, steps: [infer('a', 1000, load('3.5'))] });
  const a = resultOf(run, 'a');
  assertPassedUntouched(a);
  assert.is(a.httpCalls, 1);
  assert.equal(a.calls, [{
    cluster: 'prometheus',
    headers: {
      ':method': 'GET',
      ':path': `/api/v1/query?query=${encodeURIComponent(QUERY).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`,
      ':authority': 'prometheus.monitoring.svc:9090',
    },
    body: '',
    timeoutMs: 1000,
  }]);
  assert.equal(warnings(a), []);
});

shed('over the threshold gRPC ModelInfer and ModelStreamInfer get grpc-status 8 (RESOURCE_EXHAUSTED)', async () => {
  const run = await runScenario({
    metadata: CONFIG,
    steps: [infer('infer', 1000, load('150')), { id: 'stream', time: 1000, path: MODEL_STREAM_INFER, contentType: 'application/grpc+proto' }],
  });
  assertGrpcRefusal(resultOf(run, 'infer'), 'server overloaded: 150 > 100, retry later');
  assertGrpcRefusal(resultOf(run, 'stream'), 'server overloaded: 150 > 100, retry later');
  assert.is(run.summary.httpCalls, 1);
});

shed('over the threshold HTTP infer calls get 429 with retry-after = refresh_seconds', async () => {
  const run = await runScenario({
    metadata: { ...CONFIG, refresh_seconds: 7 },
    steps: [
      { id: 'plain', time: 1000, path: '/v2/models/resnet50/infer', contentType: JSON_TYPE, prometheus: load('250') },
      { id: 'versioned', time: 1000, path: '/v2/models/resnet50/versions/3/infer?trace=1', contentType: JSON_TYPE },
      { id: 'binary', time: 1000, path: '/v2/models/resnet50/infer', contentType: 'application/octet-stream' },
    ],
  });
  for (const id of ['plain', 'versioned', 'binary']) {
    const result = resultOf(run, id);
    assert.is(result.passed, false, id);
    assert.is(result.status, '429', id);
    assert.equal(result.refused?.headers, { ':status': '429', 'retry-after': '7', 'content-type': 'text/plain' }, id);
    assert.is(result.refused?.body, 'server overloaded: 250 > 100, retry later\n', id);
  }
});

shed('a load equal to the threshold is not over it', async () => {
  const run = await runScenario({ metadata: CONFIG, steps: [infer('a', 1000, load('100'))] });
  assertPassedUntouched(resultOf(run, 'a'));
});

shed('health, metadata and repository calls pass while overloaded, without querying Prometheus', async () => {
  const others = [
    `${GRPC}ServerLive`, `${GRPC}ServerReady`, `${GRPC}ModelReady`, `${GRPC}ServerMetadata`, `${GRPC}ModelMetadata`,
    `${GRPC}ModelConfig`, `${GRPC}ModelStatistics`, REPOSITORY_INDEX, `${GRPC}RepositoryModelLoad`,
  ];
  const http = ['/v2/health/live', '/v2/health/ready', '/v2', '/v2/models/resnet50', '/v2/models/resnet50/ready',
    '/v2/models/resnet50/config', '/v2/models/resnet50/versions/3', '/v2/repository/index', '/v2/models/infer/ready'];
  const steps: RequestStep[] = [
    infer('overloaded', 1000, load('1e9')),
    ...others.map((path) => ({ id: path, time: 1001, path })),
    ...http.map((path) => ({ id: path, time: 1001, path, contentType: JSON_TYPE })),
  ];
  const run = await runScenario({ metadata: CONFIG, steps });
  assertGrpcRefusal(resultOf(run, 'overloaded'), 'server overloaded: 1e+09 > 100, retry later');
  for (const path of [...others, ...http]) {
    const result = resultOf(run, path);
    assert.is(result.passed, true, `${path} must pass`);
    assert.is(result.calls.length, 0, `${path} must not query Prometheus`);
  }
  assert.is(run.summary.httpCalls, 1);
});

shed.run();

// ---------------------------------------------------------------------------------------------

const failures = suite('load shedder: Prometheus failures and fail_open');

const FAILURES: Array<[string, PrometheusReply, RegExp]> = [
  ['HTTP 503', { status: '503', body: 'no healthy upstream' }, /Prometheus answered HTTP 503: no healthy upstream/],
  ['a reset (Envoy fakes 503 "upstream failure")', { fail: true }, /HTTP 503: upstream failure/],
  ['a timeout (504)', { timeout: true }, /HTTP 504: upstream request timeout/],
  ['HTTP 400 with Prometheus\' error', { status: '400', body: '{"status":"error","errorType":"bad_data","error":"parse error at char 4"}' }, /HTTP 400: parse error at char 4/],
];

for (const [name, reply, reason] of FAILURES) {
  failures(`${name}: fail_open true lets inference through and warns with the reason`, async () => {
    const run = await runScenario({ metadata: { ...CONFIG, fail_open: true }, steps: [infer('a', 1000, reply)] });
    const a = resultOf(run, 'a');
    assertPassedUntouched(a);
    assert.is(warnings(a).length, 1);
    assert.match(warnings(a)[0]!, reason);
    assert.match(warnings(a)[0]!, /letting requests through/);
  });

  failures(`${name}: fail_open false refuses inference (gRPC 8, HTTP 429)`, async () => {
    const run = await runScenario({
      metadata: { ...CONFIG, fail_open: false },
      steps: [infer('grpc', 1000, reply), { id: 'http', time: 1000, path: '/v2/models/m/infer', contentType: JSON_TYPE }],
    });
    const grpc = resultOf(run, 'grpc');
    assertGrpcRefusal(grpc, 'server load unknown, retry later');
    assert.match(warnings(grpc)[0]!, reason);
    assert.match(warnings(grpc)[0]!, /treating the server as overloaded/);
    assert.is(resultOf(run, 'http').status, '429');
    assert.is(resultOf(run, 'http').refused?.body, 'server load unknown, retry later\n');
  });
}

failures('an unknown cluster (httpCall raises in Envoy) is caught and treated as unknown load', async () => {
  const open = await runScenario({ metadata: { ...CONFIG, cluster: 'no-such-cluster' }, steps: [infer('a', 1000, load('1'))] });
  assertPassedUntouched(resultOf(open, 'a'));
  assert.match(warnings(resultOf(open, 'a'))[0]!, /the Prometheus call failed: .*http call cluster invalid/);
  const closed = await runScenario({ metadata: { ...CONFIG, cluster: 'no-such-cluster', fail_open: false }, steps: [infer('a', 1000, load('1'))] });
  assertGrpcRefusal(resultOf(closed, 'a'), 'server load unknown, retry later');
});

failures('unknown load is warned about once per refresh, not once per request', async () => {
  const run = await runScenario({
    metadata: CONFIG,
    steps: [infer('a', 1000, { status: '503' }), infer('b', 1001), infer('c', 1004), infer('d', 1005, { status: '503' })],
  });
  assert.equal(run.results.map((r) => warnings(r).length), [1, 0, 0, 1]);
  assert.equal(run.results.map((r) => r.httpCalls), [1, 1, 1, 2]);
  assert.ok(run.results.every((r) => r.passed));
});

failures.run();

// ---------------------------------------------------------------------------------------------

const parsing = suite('load shedder: reading Prometheus answers');

/** Runs one answer with fail_open false, so "unknown" (refused, load unknown) differs from "under" (passes). */
async function classify(body: string | null, threshold = 100): Promise<{ outcome: string; warning: string | undefined }> {
  const run = await runScenario({ metadata: { ...CONFIG, threshold, fail_open: false }, steps: [infer('a', 1000, ok(body))] });
  const a = resultOf(run, 'a');
  const message = a.refused?.headers['grpc-message'];
  const outcome = a.passed ? 'under' : message === 'server load unknown, retry later' ? 'unknown' : `over: ${message}`;
  return { outcome, warning: warnings(a)[0] };
}

const ANSWERS: Array<[string, string | null, number, string, RegExp?]> = [
  ['a plain decimal under', vector('3.5'), 100, 'under'],
  ['a plain decimal over', vector('100.5'), 100, 'over: server overloaded: 100.5 > 100, retry later'],
  ['"1e-05" (exponent, under)', vector('1e-05'), 0.001, 'under'],
  ['"1.5E+3" (exponent, over)', vector('1.5E+3'), 1000, 'over: server overloaded: 1500 > 1000, retry later'],
  ['"+Inf"', vector('+Inf'), 100, 'over: server overloaded: +Inf > 100, retry later'],
  ['"-Inf"', vector('-Inf'), 100, 'under'],
  ['"NaN"', vector('NaN'), 100, 'unknown', /the query returned NaN/],
  ['several series: the largest wins', vector('3', '250', '7'), 100, 'over: server overloaded: 250 > 100, retry later'],
  ['several series all under', vector('3', '99.9', '7'), 100, 'under'],
  ['NaN series are skipped when others have numbers', vector('NaN', '120', 'NaN'), 100, 'over: server overloaded: 120 > 100, retry later'],
  ['an integer timestamp', '{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1712345678,"150"]}]}}', 100, 'over: server overloaded: 150 > 100, retry later'],
  ['pretty-printed JSON', '{\n  "status" : "success",\n  "data" : {\n    "resultType" : "vector",\n    "result" : [\n      { "metric" : { },\n        "value" : [ 1712345678.5 ,\n "42" ] }\n    ]\n  }\n}\n', 10, 'over: server overloaded: 42 > 10, retry later'],
  ['a scalar result', '{"status":"success","data":{"resultType":"scalar","result":[1712345678.1,"150"]}}', 100, 'over: server overloaded: 150 > 100, retry later'],
  ['an empty result vector', '{"status":"success","data":{"resultType":"vector","result":[]}}', 100, 'unknown', /no series/],
  ['status "error"', '{"status":"error","errorType":"execution","error":"query timed out"}', 100, 'unknown', /status "error": query timed out/],
  ['malformed JSON', '{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1712345678.1,', 100, 'unknown', /malformed JSON/],
  ['not JSON at all', '<html>502 Bad Gateway</html>', 100, 'unknown', /malformed JSON/],
  ['an empty body', '', 100, 'unknown', /empty body/],
  ['no body (nil)', null, 100, 'unknown', /empty body/],
  ['a whitespace body', '  \n ', 100, 'unknown', /empty body/],
  ['a matrix (range query)', '{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"500"]]}]}}', 100, 'unknown', /unsupported resultType "matrix"/],
  ['a hex value', vector('0x10'), 1, 'unknown', /malformed sample/],
  ['an "inf" value Prometheus never writes', vector('inf'), 1, 'unknown', /malformed sample/],
  ['a sample hidden in a label value is not read', JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [{ metric: { note: '"value":[1,"999"]', status: 'error' }, value: [1712345678.1, '5'] }] } }), 100, 'under'],
  ['a series with only a native histogram', '{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"histogram":[1712345678.1,{"count":"3","sum":"9","buckets":[]}]}]}}', 100, 'unknown', /no "value" sample/],
];

for (const [name, body, threshold, expected, reason] of ANSWERS) {
  parsing(name, async () => {
    const { outcome, warning } = await classify(body, threshold);
    assert.is(outcome, expected);
    if (reason) assert.match(warning ?? '', reason);
    else assert.is(warning, undefined);
  });
}

parsing('never raises on any truncation of an answer, and only reads complete samples', async () => {
  const full = vector('3.5', '250');
  const steps: RequestStep[] = [];
  for (let cut = 0; cut <= full.length; cut++) steps.push(infer(`cut-${cut}`, 1000 + cut * 10, ok(full.slice(0, cut))));
  const run = await runScenario({ metadata: { ...CONFIG, fail_open: false }, steps });
  assert.is(run.results.length, full.length + 1);
  const firstSample = full.indexOf('"3.5"]') + '"3.5"]'.length;
  for (const result of run.results) {
    const cut = Number(result.id.slice(4));
    // A cut before the first sample is complete can never yield a load.
    if (cut < firstSample) assert.is(result.refused?.headers['grpc-message'], 'server load unknown, retry later', result.id);
  }
  assertGrpcRefusal(resultOf(run, `cut-${full.length}`), 'server overloaded: 250 > 100, retry later');
});

parsing('never raises on garbage answers', async () => {
  const garbage = ['{', '}', '{}', '[]', '{"status":', '{"status":"success"}', '{"status":"success","data":{"resultType":"vector"}}',
    '{"status":"success","data":{"resultType":"vector","result":[{"value":[,"1"]}]}}', '{"status":"success","data":{"resultType":"vector","result":[{"value":["x","1"]}]}}',
    '{"status":"success","data":{"resultType":"scalar","result":[]}}', '{"status":"success","data":{"resultType":"vector","result":[{"value":[1,""]}]}}',
    '{"status":"success","data":{"resultType":"vector","result":[{"value":[1,"."]}]}}', '\u0000\u00ff%[', '{"status":"%s%"}'];
  const run = await runScenario({
    metadata: { ...CONFIG, fail_open: false },
    steps: garbage.map((body, i) => infer(`g${i}`, 1000 + i * 10, ok(body))),
  });
  for (const result of run.results) assertGrpcRefusal(result, 'server load unknown, retry later');
});

parsing.run();

// ---------------------------------------------------------------------------------------------

const cache = suite('load shedder: per-worker cache');

cache('requests within refresh_seconds share one query; after it, the next request asks again', async () => {
  const run = await runScenario({
    metadata: { ...CONFIG, refresh_seconds: 5 },
    steps: [
      infer('a', 1000, load('150')),
      infer('b', 1004, load('1')), // still within 5 s: the cached 150 decides
      infer('c', 1005, load('1')), // 5 s later: a new query, which says 1
      infer('d', 1009, load('150')),
    ],
  });
  assert.equal(run.results.map((r) => [r.id, r.httpCalls, r.calls.length, r.passed]), [
    ['a', 1, 1, false], ['b', 1, 0, false], ['c', 2, 1, true], ['d', 2, 0, true],
  ]);
});

cache('while a refresh is in flight, other requests use the previous value without querying', async () => {
  const run = await runScenario({
    metadata: CONFIG,
    steps: [
      infer('first', 1000, load('3')),
      infer('refresher', 1010, { hold: true }),
      infer('meanwhile-1', 1010),
      infer('meanwhile-2', 1011),
      { release: 'refresher', time: 1011, prometheus: load('150') },
      infer('after', 1012),
    ],
  });
  assert.is(run.summary.httpCalls, 2);
  assert.equal(run.results.map((r) => r.id), ['first', 'meanwhile-1', 'meanwhile-2', 'refresher', 'after']);
  assert.ok(resultOf(run, 'meanwhile-1').passed && resultOf(run, 'meanwhile-2').passed, 'the previous value (3) decides');
  assert.equal([resultOf(run, 'meanwhile-1').calls.length, resultOf(run, 'meanwhile-2').calls.length], [0, 0]);
  assertGrpcRefusal(resultOf(run, 'refresher'), 'server overloaded: 150 > 100, retry later');
  assertGrpcRefusal(resultOf(run, 'after'), 'server overloaded: 150 > 100, retry later');
  assert.is(resultOf(run, 'after').calls.length, 0);
});

cache('while the very first query is in flight, other requests follow the failure policy', async () => {
  const steps = [infer('first', 1000, { hold: true }), infer('meanwhile', 1000), { release: 'first', time: 1000, prometheus: load('3') }];
  const open = await runScenario({ metadata: CONFIG, steps });
  assert.is(resultOf(open, 'meanwhile').passed, true);
  assert.is(resultOf(open, 'meanwhile').calls.length, 0);
  assert.is(resultOf(open, 'first').passed, true);
  const closed = await runScenario({ metadata: { ...CONFIG, fail_open: false }, steps });
  assertGrpcRefusal(resultOf(closed, 'meanwhile'), 'server load unknown, retry later');
  assert.is(closed.summary.httpCalls, 1);
});

cache('a refresh whose request died (never answered) does not block refreshing forever', async () => {
  const run = await runScenario({
    metadata: { ...CONFIG, timeout_ms: 1000 },
    steps: [
      infer('first', 1000, load('3')),
      infer('orphan', 1005, { hold: true }), // the client goes away; Envoy never resumes it
      infer('within-timeout', 1007),
      infer('later', 1008, load('150')),
    ],
  });
  assert.equal(run.summary.pending, ['orphan']);
  assert.is(resultOf(run, 'within-timeout').calls.length, 0);
  assert.is(resultOf(run, 'later').calls.length, 1, 'ceil(timeout) + 1 s after it started, the refresh is given up');
  assertGrpcRefusal(resultOf(run, 'later'), 'server overloaded: 150 > 100, retry later');
});

cache('failed queries are cached too: a down Prometheus is asked once per refresh', async () => {
  const run = await runScenario({
    metadata: { ...CONFIG, refresh_seconds: 10 },
    steps: [infer('a', 1000, { timeout: true }), infer('b', 1003, load('1')), infer('c', 1009, load('1')), infer('d', 1010, load('1'))],
  });
  assert.equal(run.results.map((r) => r.calls.length), [1, 0, 0, 1]);
});

cache('routes with different queries keep separate measurements', async () => {
  const run = await runScenario({
    metadata: CONFIG,
    steps: [
      infer('a', 1000, load('150')),
      infer('b', 1000, load('3'), { metadata: { ...CONFIG, query: 'other_metric' } }),
      infer('c', 1001),
      infer('d', 1001, undefined, { metadata: { ...CONFIG, query: 'other_metric' } }),
    ],
  });
  assert.equal(run.results.map((r) => [r.id, r.calls.length, r.passed]), [['a', 1, false], ['b', 1, true], ['c', 0, false], ['d', 0, true]]);
});

cache.run();

// ---------------------------------------------------------------------------------------------

const signal = suite('load shedder: signal mode (0.3.1 behaviour)');
const SIGNAL = { ...CONFIG, mode: 'signal' };

signal('overloaded: RepositoryIndex is forwarded, then its answer is emptied with grpc-status 1', async () => {
  const run = await runScenario({
    metadata: SIGNAL,
    steps: [{
      id: 'index', time: 1000, path: REPOSITORY_INDEX, prometheus: load('150'),
      upstream: { headers: { ':status': '200', 'content-type': 'application/grpc', 'content-length': '15' }, body: 'model-list-here' },
    }],
  });
  const index = resultOf(run, 'index');
  assert.is(index.passed, true, 'signal mode never refuses');
  assert.is(index.marked, true);
  assert.is(index.calls.length, 1);
  assert.equal(index.response, {
    headers: { ':status': '200', 'content-type': 'application/grpc', 'content-length': '0', 'grpc-status': '1' },
    body: '',
    trailers: { 'grpc-status': '0' },
  });
});

signal('overloaded: ModelInfer and everything else pass untouched and make no query', async () => {
  const run = await runScenario({
    metadata: SIGNAL,
    steps: [
      { id: 'index', time: 1000, path: REPOSITORY_INDEX, prometheus: load('150') },
      infer('infer', 1001, load('150')),
      { id: 'http-infer', time: 1001, path: '/v2/models/m/infer', contentType: JSON_TYPE },
      { id: 'http-index', time: 1001, path: REPOSITORY_INDEX, contentType: JSON_TYPE },
    ],
  });
  assert.is(resultOf(run, 'index').marked, true);
  for (const id of ['infer', 'http-infer', 'http-index']) {
    assertPassedUntouched(resultOf(run, id));
    assert.is(resultOf(run, id).calls.length, 0, id);
  }
});

signal('under the threshold RepositoryIndex is neither marked nor changed', async () => {
  const run = await runScenario({ metadata: SIGNAL, steps: [{ id: 'index', time: 1000, path: REPOSITORY_INDEX, prometheus: load('3') }] });
  assertPassedUntouched(resultOf(run, 'index'));
});

signal('a headers-only answer to a marked RepositoryIndex still gets grpc-status 1', async () => {
  const run = await runScenario({
    metadata: SIGNAL,
    steps: [{
      id: 'index', time: 1000, path: REPOSITORY_INDEX, prometheus: load('150'),
      upstream: { headers: { ':status': '200', 'content-type': 'application/grpc', 'grpc-status': '14' }, body: '', trailers: null },
    }],
  });
  assert.equal(resultOf(run, 'index').response, {
    headers: { ':status': '200', 'content-type': 'application/grpc', 'grpc-status': '1' },
    body: '',
    trailers: null,
  });
});

signal('unknown load with fail_open false marks RepositoryIndex', async () => {
  const run = await runScenario({
    metadata: { ...SIGNAL, fail_open: false },
    steps: [{ id: 'index', time: 1000, path: REPOSITORY_INDEX, prometheus: { status: '503' } }],
  });
  assert.is(resultOf(run, 'index').marked, true);
  assert.is(resultOf(run, 'index').response?.headers['grpc-status'], '1');
});

signal.run();

// ---------------------------------------------------------------------------------------------

const config = suite('load shedder: configuration');

config('a route without metadata lets everything through, logs once, and never queries', async () => {
  const run = await runScenario({
    metadata: null,
    steps: [infer('a', 1000, load('150')), infer('b', 1001, load('150')), { id: 'index', time: 1002, path: REPOSITORY_INDEX }],
  });
  for (const result of run.results) assertPassedUntouched(result);
  assert.is(run.summary.httpCalls, 0);
  const errors = run.results.flatMap((r) => r.logs.filter((l) => l.level === 'err').map((l) => l.message));
  assert.equal(errors, ['load-shedder: no configuration in the route metadata under envoy.filters.http.lua; requests pass through unchecked']);
});

config('invalid values are all named, logged once, and requests pass', async () => {
  const bad = { mode: 'drop', threshold: 'high', query: '', cluster: 'prometheus', authority: 7, path: 'api', refresh_seconds: 0, timeout_ms: 0, fail_open: 'yes' };
  const run = await runScenario({ metadata: bad, steps: [infer('a', 1000, load('150')), infer('b', 1001, load('150'))] });
  assertPassedUntouched(resultOf(run, 'a'));
  assertPassedUntouched(resultOf(run, 'b'));
  assert.is(run.summary.httpCalls, 0);
  const [error, ...more] = run.results.flatMap((r) => r.logs.filter((l) => l.level === 'err').map((l) => l.message));
  assert.equal(more, [], 'logged once');
  for (const key of ['mode', 'threshold', 'query', 'authority', 'path', 'refresh_seconds', 'timeout_ms', 'fail_open']) {
    assert.match(error ?? '', new RegExp(`\\b${key} must be`), key);
  }
  assert.not.match(error ?? '', /cluster must be/);
});

config('one missing required key disables the filter for that route', async () => {
  for (const key of ['mode', 'threshold', 'query', 'cluster', 'authority'] as const) {
    const metadata: Record<string, unknown> = { ...CONFIG };
    delete metadata[key];
    const run = await runScenario({ metadata, steps: [infer('a', 1000, load('150'))] });
    assertPassedUntouched(resultOf(run, 'a'));
    assert.match(resultOf(run, 'a').logs[0]?.message ?? '', new RegExp(`${key} must be .*\\(got nil\\)`), key);
  }
});

config('defaults: path /api/v1/query, timeout 1000 ms, refresh 5 s, fail open', async () => {
  const run = await runScenario({
    metadata: CONFIG,
    steps: [infer('a', 1000, { status: '503' }), infer('b', 1004, load('150')), infer('c', 1005, load('150'))],
  });
  const a = resultOf(run, 'a');
  assert.ok(a.calls[0]?.headers[':path']?.startsWith('/api/v1/query?query=sum%20by%20'));
  assert.is(a.calls[0]?.timeoutMs, 1000);
  assert.is(a.passed, true, 'fail_open defaults to true');
  assert.equal(run.results.map((r) => r.calls.length), [1, 0, 1]);
});

config('custom path, timeout and a path that already has a query string', async () => {
  const run = await runScenario({
    metadata: { ...CONFIG, path: '/prometheus/api/v1/query?dedup=true', timeout_ms: 250.7, query: 'up' },
    steps: [infer('a', 1000, load('1'))],
  });
  assert.is(resultOf(run, 'a').calls[0]?.headers[':path'], '/prometheus/api/v1/query?dedup=true&query=up');
  assert.is(resultOf(run, 'a').calls[0]?.timeoutMs, 250);
});

config.run();
