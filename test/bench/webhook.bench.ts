/**
 * `make bench` (on Node 24, the image's runtime): the webhook's throughput and latency over real
 * HTTPS, against a baseline in the same server and the same run, the cost of the mutation
 * itself, and the memory of the real webhook process. Exits 1 when a figure misses its target.
 * docs/benchmarks.md says what is measured and why.
 *
 * Processes: this one serves the app with the baseline route (and later times mutatePod
 * in-process); a child forked from this same file with LOAD_GENERATOR_FLAG runs autocannon on
 * command over IPC, so it does not share the server's event loop; and for memory, the real
 * server, bundled and started as the image starts it.
 *
 * autocannon always connects with rejectUnauthorized: false, so the load phases do TLS but do
 * not check the certificate; the smoke check before them does, with the CA made here.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import fastJsonPatch from 'fast-json-patch';
import type { FastifyInstance } from 'fastify';
import { mutatePod, type PodMutationDeps } from '../../webhook/src/admission/mutate-pod.ts';
import { allow, parseReview, type AdmissionRequest } from '../../webhook/src/admission/review.ts';
import { replyWithReview } from '../../webhook/src/routes/review-reply.ts';
import { buildApp } from '../../webhook/src/app.ts';
import { createWebhookMetrics } from '../../webhook/src/metrics.ts';
import { createCertificateAuthority, createServingCertificate, DAY_MS } from '../../webhook/src/tls/certificates.ts';
import { createMemoryCgroup } from '../helpers/memory-cgroup.ts';
import { httpsCall, imageRuntime, startWebhookProcess, type WebhookProcess } from '../helpers/webhook-process.ts';
import { FIXTURES, testConfig, testDeps } from '../helpers/webhook.ts';

const LOAD_GENERATOR_FLAG = '--load-generator';

// Load: the same body for both routes, alternating rounds so machine noise hits both alike.
const CONNECTIONS = 16;
const WARMUP_SECONDS = 4;
const PHASE_SECONDS = 3;
const ROUNDS = 3;
/** Then one connection per route, for the latency a lone admission request sees (no target). */
const SINGLE_SECONDS = 2;
/**
 * The latency target is taken at 4 connections: 16 always-busy connections on a 2-core machine
 * shared with the load generator measure throughput (mean latency = connections / rate), and
 * the API server sends one replica far fewer concurrent calls than that.
 */
const LATENCY_CONNECTIONS = 4;
/** The child parses one /mutate answer in this many during load (cheap, and the same every round). */
const CHECK_EVERY = 50;

// In-process mutation work.
const WARMUP_CALLS = 2_000;
const TIMED_CALLS = 20_000;

const TARGETS = {
  ratio: 0.8, // mutate requests/s over baseline requests/s, at least
  p99Ms: 5, // /mutate p99 at LATENCY_CONNECTIONS, below
  mutateMedianUs: 50, // mutatePod median per pod, below
  rssMb: 150, // resident memory of the real webhook process after the load, below
};

const CASE_DIR = join(FIXTURES, 'create-several-containers');
const REVIEW_BODY = readFileSync(join(CASE_DIR, 'review.json'), 'utf8');
const REVIEW_UID: string = JSON.parse(REVIEW_BODY).request.uid;
const PATCHED_POD = JSON.parse(readFileSync(join(CASE_DIR, 'patched-pod.json'), 'utf8'));

// ---- the load generator (child process) ---------------------------------------------------------

interface PhaseCommand {
  url: string;
  path: '/baseline' | '/answer-only' | '/mutate';
  connections: number;
  seconds: number;
}

interface PhaseResult {
  path: string;
  seconds: number;
  completed: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** Each answer's time in ms, as autocannon measured it (a float, unlike its own histogram). */
  latenciesMs: number[];
  checked: number;
  badAnswers: string[];
  /** CPU time (user + system) of the load generator, then of the server, during the phase. */
  generatorCpuMs: number;
  serverCpuMs: number;
}

/** The little of autocannon's API used here (it ships no types). */
interface AutocannonInstance extends PromiseLike<{ duration: number; non2xx: number; errors: number; timeouts: number }> {
  on(event: 'response', listener: (client: unknown, status: number, bytes: number, ms: number) => void): void;
}
type Autocannon = (options: Record<string, unknown>) => AutocannonInstance;

async function runLoadGenerator(): Promise<void> {
  const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;
  process.on('message', async (command: PhaseCommand | 'exit') => {
    if (command === 'exit') process.exit(0);
    const latenciesMs: number[] = [];
    const badAnswers: string[] = [];
    let answers = 0;
    let checked = 0;
    const cpuBefore = process.cpuUsage();
    const onResponse = (status: number, body: string) => {
      if (command.path !== '/mutate' || answers++ % CHECK_EVERY !== 0) return;
      checked++;
      const problem = mutateAnswerProblem(status, body);
      if (problem && badAnswers.length < 5) badAnswers.push(problem);
    };
    const instance = autocannon({
      url: command.url + command.path,
      servername: 'localhost',
      connections: command.connections,
      duration: command.seconds,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      requests: [{ body: REVIEW_BODY, onResponse }],
    });
    instance.on('response', (_client, _status, _bytes, ms) => latenciesMs.push(ms));
    const result = await instance;
    const phase: PhaseResult = {
      path: command.path,
      seconds: result.duration,
      completed: latenciesMs.length,
      non2xx: result.non2xx,
      errors: result.errors,
      timeouts: result.timeouts,
      latenciesMs,
      checked,
      badAnswers,
      generatorCpuMs: cpuMs(process.cpuUsage(cpuBefore)),
      serverCpuMs: NaN, // filled in by the server's side
    };
    process.send!(phase);
  });
  process.send!('ready');
}

/** Why a /mutate answer is not "allowed, with a JSON Patch, for our uid"; undefined when it is. */
function mutateAnswerProblem(status: number, body: string): string | undefined {
  if (status !== 200) return `HTTP ${status}`;
  try {
    const { response } = JSON.parse(body);
    if (response?.uid !== REVIEW_UID) return `uid ${response?.uid}`;
    if (response.allowed !== true) return `not allowed: ${JSON.stringify(response.status)}`;
    if (response.patchType !== 'JSONPatch' || !response.patch) return 'no JSON Patch';
    const patch = JSON.parse(Buffer.from(response.patch, 'base64').toString());
    if (!Array.isArray(patch) || patch.length === 0) return 'empty patch';
  } catch (err) {
    return `unreadable answer: ${(err as Error).message}`;
  }
  return undefined;
}

// ---- the server and the measurements (this process) ---------------------------------------------

async function main(): Promise<number> {
  const ca = await createCertificateAuthority({ commonName: 'supersonic-bench-ca' });
  const serving = await createServingCertificate(ca, { dnsNames: ['localhost'], validityMs: DAY_MS });

  const deps = testDeps();
  const app = buildApp({ deps, metrics: createWebhookMetrics(), ready: () => true, https: serving, logger: false, benchmarkBaseline: true });
  await registerAnswerOnlyRoute(app, deps);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };

  const checks: Check[] = [];
  let generator: ChildProcess | undefined;
  try {
    try {
      checks.push(await smokeCheck(port, ca.cert));
      generator = await startLoadGenerator();
      checks.push(...(await measureLoad(generator, `https://127.0.0.1:${port}`)));
    } finally {
      await app.close();
    }
    checks.push(...(await measureRealProcess(generator)));
  } finally {
    generator?.send('exit');
  }
  checks.push(...(await measureMutatePod(deps)));

  printReport(checks);
  return checks.every((check) => check.pass !== false) ? 0 : 1;
}

/**
 * Memory is measured on the real webhook process (the bundle webhook/bundle.ts makes, on Node 24,
 * as the image runs it, logging at info), not on this one: this process holds the benchmark too,
 * loads its modules unbundled, and leaves out what the server loads for Kubernetes. Where a memory
 * cgroup can be made, the process runs under the chart's default memory limit, as in a pod:
 * Node sizes its heap to the limit. RSS counts the Node executable's pages mapped from disk
 * (RssFile, shared and reclaimable); the cgroup's usage is what the limit and `kubectl top` count.
 */
async function measureRealProcess(generator: ChildProcess): Promise<Check[]> {
  const limit = String(testConfig().values.resources.limits?.memory ?? '');
  const limitBytes = quantityBytes(limit);
  const cgroup = limitBytes ? createMemoryCgroup(`supersonic-bench-${process.pid}`, limitBytes) : undefined;
  const runtime = imageRuntime();
  let webhook: WebhookProcess | undefined;
  try {
    webhook = await startWebhookProcess(cgroup ? { ...runtime, command: cgroup.wrap(runtime.command) } : runtime, { logLevel: 'info' });
    const url = `https://127.0.0.1:${webhook.port}`;
    const ready = processMemory(webhook.child.pid!);
    const chargedWhenReady = cgroup?.usageBytes();
    log(`the real webhook process (${runtime.name}${cgroup ? `, memory limit ${limit}` : ', no memory cgroup could be made'}): ${WARMUP_SECONDS} s warm-up, then ${PHASE_SECONDS} s of /mutate`);
    const warmUp = await runPhase(generator, { url, path: '/mutate', connections: CONNECTIONS, seconds: WARMUP_SECONDS });
    const load = await runPhase(generator, { url, path: '/mutate', connections: CONNECTIONS, seconds: PHASE_SECONDS });
    const loaded = processMemory(webhook.child.pid!);
    const rss = loaded.VmRSS;
    const failures = [warmUp, load].reduce((sum, r) => sum + r.non2xx + r.errors + r.timeouts, 0);
    return [
      { figure: 'real process: /mutate requests/s (logging at info)', value: perSecond(load).toFixed(0) },
      { figure: 'real process: non-2xx + errors + timeouts', value: String(failures), target: '0', pass: failures === 0 },
      { figure: 'real process: RSS after the load', value: `${rss.toFixed(1)} MB`, target: `< ${TARGETS.rssMb} MB`, pass: rss < TARGETS.rssMb },
      { figure: 'real process: of which anonymous / mapped files', value: `${loaded.RssAnon.toFixed(1)} / ${loaded.RssFile.toFixed(1)} MB` },
      { figure: 'real process: peak RSS', value: `${loaded.VmHWM.toFixed(1)} MB` },
      { figure: 'real process: RSS (anonymous) when ready, before any request', value: `${ready.VmRSS.toFixed(1)} (${ready.RssAnon.toFixed(1)}) MB` },
      {
        figure: `real process: memory charged to the cgroup (limit ${limit}), when ready / after the load`,
        value: cgroup ? `${megabytes(chargedWhenReady!)} / ${megabytes(cgroup.usageBytes())} MB` : 'no cgroup',
      },
    ];
  } finally {
    if (webhook) {
      await webhook.close();
      await webhook.exited;
    }
    cgroup?.remove();
  }
}

function megabytes(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1);
}

/** A process's memory figures from /proc/<pid>/status, in MB. */
function processMemory(pid: number): Record<'VmRSS' | 'RssAnon' | 'RssFile' | 'VmHWM', number> {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const mb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? NaN) / 1024;
  return { VmRSS: mb('VmRSS'), RssAnon: mb('RssAnon'), RssFile: mb('RssFile'), VmHWM: mb('VmHWM') };
}

/** `256Mi`, `1.5Gi`, `300M` → bytes: the chart's memory quantities; 0 for none or another form. */
function quantityBytes(quantity: string): number {
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|k|M|G)?$/.exec(quantity);
  if (!match) return 0;
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, k: 1e3, M: 1e6, G: 1e9 }[match[2] ?? ''] ?? 1;
  return Math.round(Number(match[1]) * unit);
}

/**
 * POST /answer-only: everything /mutate does except mutatePod. It parses the review and answers
 * with the fixture's patch (made once, here), encoded and serialised anew for every request, so
 * the rounds split /mutate's cost between the answer it sends and the mutation itself.
 */
async function registerAnswerOnlyRoute(app: FastifyInstance, deps: PodMutationDeps): Promise<void> {
  const outcome = await mutatePod(JSON.parse(REVIEW_BODY).request as AdmissionRequest, deps);
  if (outcome.kind !== 'mutated') throw new Error(`mutatePod did not mutate the fixture: ${JSON.stringify(outcome)}`);
  app.post('/answer-only', async (request, reply) => {
    replyWithReview(reply);
    const parsed = parseReview(request.body);
    return allow(parsed.ok ? parsed.request.uid : '', outcome.warnings, outcome.patch);
  });
}

interface Check {
  figure: string;
  value: string;
  /** Figures without a target are shown for context only. */
  target?: string;
  pass?: boolean;
}

/** One request with the certificate verified against our CA for "localhost", and the answer's patch checked against the golden pod. */
async function smokeCheck(port: number, caPem: string): Promise<Check> {
  const agent = new Agent({ ca: caPem });
  const { status, text: body } = await httpsCall(agent, port, '/mutate', REVIEW_BODY).finally(() => agent.destroy());
  let problem = mutateAnswerProblem(status, body);
  if (!problem) {
    const patch = JSON.parse(Buffer.from(JSON.parse(body).response.patch, 'base64').toString());
    const request = JSON.parse(REVIEW_BODY).request as AdmissionRequest;
    const patched = fastJsonPatch.applyPatch(structuredClone(request.object), patch, true, false).newDocument;
    if (!isDeepStrictEqual(patched, PATCHED_POD)) problem = 'the patch does not give patched-pod.json';
  }
  return { figure: 'TLS-verified /mutate gives the golden pod', value: problem ?? 'yes', target: 'yes', pass: !problem };
}

function startLoadGenerator(): Promise<ChildProcess> {
  // fork() runs this same file on this Node (24, which strips the types itself).
  const child = fork(fileURLToPath(import.meta.url), [LOAD_GENERATOR_FLAG], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the load generator exited early (code ${code})`)));
    child.once('message', () => resolve(child));
  });
}

function runPhase(generator: ChildProcess, command: PhaseCommand): Promise<PhaseResult> {
  const cpuBefore = process.cpuUsage();
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`the load generator died during ${command.path} (code ${code})`));
    generator.once('exit', onExit);
    generator.once('message', (result) => {
      generator.off('exit', onExit);
      resolve({ ...(result as PhaseResult), serverCpuMs: cpuMs(process.cpuUsage(cpuBefore)) });
    });
    generator.send(command);
  });
}

async function measureLoad(generator: ChildProcess, url: string): Promise<Check[]> {
  const phase = (path: PhaseCommand['path'], seconds: number, connections = CONNECTIONS) => runPhase(generator, { url, path, connections, seconds });
  log(`warm-up: ${WARMUP_SECONDS} s on each route`);
  const warmUp = [await phase('/baseline', WARMUP_SECONDS), await phase('/answer-only', WARMUP_SECONDS), await phase('/mutate', WARMUP_SECONDS)];

  const baseline: PhaseResult[] = [];
  const answerOnly: PhaseResult[] = [];
  const mutate: PhaseResult[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    baseline.push(await phase('/baseline', PHASE_SECONDS));
    answerOnly.push(await phase('/answer-only', PHASE_SECONDS));
    mutate.push(await phase('/mutate', PHASE_SECONDS));
    const [b, a, m] = [baseline.at(-1)!, answerOnly.at(-1)!, mutate.at(-1)!];
    log(`round ${round}/${ROUNDS}: baseline ${perSecond(b).toFixed(0)}, answer-only ${perSecond(a).toFixed(0)}, mutate ${perSecond(m).toFixed(0)} req/s`);
  }
  log(`one connection: ${SINGLE_SECONDS} s on each route`);
  const singleBaseline = await phase('/baseline', SINGLE_SECONDS, 1);
  const singleMutate = await phase('/mutate', SINGLE_SECONDS, 1);
  log(`latency: ${PHASE_SECONDS} s of /mutate at ${LATENCY_CONNECTIONS} connections`);
  const moderate = await phase('/mutate', PHASE_SECONDS, LATENCY_CONNECTIONS);

  const baselineRate = perSecond(...baseline);
  const mutateRate = perSecond(...mutate);
  const ratio = mutateRate / baselineRate;
  const latencies = sortedLatencies(mutate);
  const baselineLatencies = sortedLatencies(baseline);
  const moderateLatencies = sortedLatencies([moderate]);
  const p99 = percentile(moderateLatencies, 0.99);
  const single = sortedLatencies([singleMutate]);
  const singleBase = sortedLatencies([singleBaseline]);
  const failures = [...warmUp, ...baseline, ...answerOnly, ...mutate, singleBaseline, singleMutate, moderate].reduce((sum, r) => sum + r.non2xx + r.errors + r.timeouts, 0);
  const checked = mutate.reduce((sum, m) => sum + m.checked, 0);
  const badAnswers = mutate.flatMap((m) => m.badAnswers);
  const load = `${CONNECTIONS} connections, ${ROUNDS} × ${PHASE_SECONDS} s per route`;

  return [
    { figure: `baseline requests/s (${load})`, value: baselineRate.toFixed(0) },
    { figure: `mutate requests/s (${load})`, value: mutateRate.toFixed(0) },
    { figure: 'mutate / baseline requests/s', value: ratio.toFixed(3), target: `≥ ${TARGETS.ratio}`, pass: ratio >= TARGETS.ratio },
    { figure: 'answer-only / baseline requests/s (the patch answer alone)', value: (perSecond(...answerOnly) / baselineRate).toFixed(3) },
    { figure: 'mutate / answer-only requests/s (mutatePod alone)', value: (mutateRate / perSecond(...answerOnly)).toFixed(3) },
    { figure: 'baseline latency p50 / p99', value: `${fmtMs(percentile(baselineLatencies, 0.5))} / ${fmtMs(percentile(baselineLatencies, 0.99))}` },
    { figure: `/mutate latency p50 / p99 (${CONNECTIONS} connections)`, value: `${fmtMs(percentile(latencies, 0.5))} / ${fmtMs(percentile(latencies, 0.99))}` },
    { figure: `/mutate latency p50 (${LATENCY_CONNECTIONS} connections)`, value: fmtMs(percentile(moderateLatencies, 0.5)) },
    { figure: `/mutate latency p99 (${LATENCY_CONNECTIONS} connections)`, value: fmtMs(p99), target: `< ${TARGETS.p99Ms} ms`, pass: p99 < TARGETS.p99Ms },
    { figure: 'server CPU per request, baseline / answer-only / mutate', value: [baseline, answerOnly, mutate].map((p) => cpuPerRequest(p)).join(' / ') },
    { figure: 'load generator CPU per request, baseline / answer-only / mutate', value: [baseline, answerOnly, mutate].map((p) => cpuPerRequest(p, 'generatorCpuMs')).join(' / ') },
    { figure: '1 connection: baseline p50 / p99', value: `${fmtMs(percentile(singleBase, 0.5))} / ${fmtMs(percentile(singleBase, 0.99))}` },
    { figure: '1 connection: /mutate p50 / p99', value: `${fmtMs(percentile(single, 0.5))} / ${fmtMs(percentile(single, 0.99))}` },
    { figure: 'non-2xx + errors + timeouts (all phases)', value: String(failures), target: '0', pass: failures === 0 },
    {
      figure: `/mutate answers checked (1 in ${CHECK_EVERY})`,
      value: badAnswers.length ? `${checked}, bad: ${badAnswers.join('; ')}` : `${checked}, all allowed with a patch`,
      target: 'all good',
      pass: checked > 0 && badAnswers.length === 0,
    },
  ];
}

/**
 * mutatePod alone, timed call by call. Each call gets its own freshly parsed request, as in the
 * server (parsed before the clock starts), so no call finds the last one's objects in the cache.
 */
async function measureMutatePod(deps: PodMutationDeps): Promise<Check[]> {
  const freshRequest = () => JSON.parse(REVIEW_BODY).request as AdmissionRequest;
  const first = await mutatePod(freshRequest(), deps);
  if (first.kind !== 'mutated') throw new Error(`mutatePod did not mutate the fixture: ${JSON.stringify(first)}`);
  log(`mutatePod: ${WARMUP_CALLS} warm-up calls, then ${TIMED_CALLS} timed`);
  for (let i = 0; i < WARMUP_CALLS; i++) await mutatePod(freshRequest(), deps);
  const micros = new Array<number>(TIMED_CALLS);
  for (let i = 0; i < TIMED_CALLS; i++) {
    const request = freshRequest();
    const started = process.hrtime.bigint();
    await mutatePod(request, deps);
    micros[i] = Number(process.hrtime.bigint() - started) / 1e3;
  }
  micros.sort((a, b) => a - b);
  const median = percentile(micros, 0.5);
  return [
    { figure: 'mutatePod per pod, median', value: `${median.toFixed(1)} µs`, target: `< ${TARGETS.mutateMedianUs} µs`, pass: median < TARGETS.mutateMedianUs },
    { figure: 'mutatePod per pod, p99', value: `${percentile(micros, 0.99).toFixed(1)} µs` },
  ];
}

// ---- small helpers ------------------------------------------------------------------------------

function perSecond(...phases: PhaseResult[]): number {
  const completed = phases.reduce((sum, p) => sum + p.completed, 0);
  const seconds = phases.reduce((sum, p) => sum + p.seconds, 0);
  return completed / seconds;
}

function sortedLatencies(phases: PhaseResult[]): number[] {
  return phases.flatMap((p) => p.latenciesMs).sort((a, b) => a - b);
}

function cpuPerRequest(phases: PhaseResult[], side: 'serverCpuMs' | 'generatorCpuMs' = 'serverCpuMs'): string {
  const cpu = phases.reduce((sum, p) => sum + p[side], 0);
  const completed = phases.reduce((sum, p) => sum + p.completed, 0);
  return `${((cpu * 1e3) / completed).toFixed(0)} µs`;
}

function cpuMs(usage: NodeJS.CpuUsage): number {
  return (usage.user + usage.system) / 1e3;
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

function fmtMs(ms: number): string {
  return `${ms.toFixed(2)} ms`;
}

function log(message: string): void {
  console.log(`bench: ${message}`);
}

function printReport(checks: Check[]): void {
  const cpu = cpus();
  console.log(`\nNode ${process.version}, ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${cpu.length} cores, ${new Date().toISOString()}`);
  const rows = [['figure', 'value', 'target', 'result'], ...checks.map((c) => [c.figure, c.value, c.target ?? '', c.pass === undefined ? '' : c.pass ? 'PASS' : 'FAIL'])];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  for (const [index, row] of rows.entries()) {
    console.log(row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd());
    if (index === 0) console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  }
  const failed = checks.filter((check) => check.pass === false).map((check) => check.figure);
  console.log(failed.length ? `\nFAIL: ${failed.join('; ')}` : '\nPASS: every target met');
}

if (process.argv.includes(LOAD_GENERATOR_FLAG)) {
  await runLoadGenerator();
} else {
  process.exitCode = await main();
}
