/**
 * `make bench` (on Node 24, the image's runtime): the webhook's cost per admission, as ratios
 * against baselines measured in the same run and the same server (machines here are noisy;
 * a ratio of two figures taken side by side is not), and the memory of the real webhook process
 * with 100 and 5,000 nodes in its view (webhook-memory.ts; memory is not noisy, so it is a
 * bound). Exits 1 when a figure misses its target. docs/benchmarks.md says what and why.
 *
 * Processes, so that no two share an event loop:
 * - the server (this file with SERVER_FLAG): the webhook's app as server.ts builds it (HTTPS, the
 *   chart's default configuration, pino at info writing JSON lines to a pipe that is read, as a
 *   container runtime reads it), with two routes only the bench registers: /baseline (echo the
 *   uid, app.ts) and /canned (read the review, send /mutate's exact answer bytes, made once).
 *   Three such apps on three ports: the fixture cluster, and 100 and 5,000 big-cluster nodes
 *   in the view. It runs in a CPU cgroup of one CPU where one can be made, as a pod with
 *   `limits.cpu: 1`; its CPU time (process.cpuUsage, every thread) is read before and after
 *   each phase.
 * - the load generator (this file with LOAD_GENERATOR_FLAG): open loop. Requests leave on a fixed
 *   schedule (rate/s), whatever the answers; each latency runs from the request's scheduled time
 *   to its answer, so a server that falls behind shows it (no coordinated omission). autocannon's
 *   rate limit is not used: it sends each second's quota in a burst and then waits.
 * - the real webhook process, bundled and started as the image starts it, for memory
 *   (webhook-memory.ts) and behind the real API server (webhook-api-server.ts).
 *
 * Every load is bounded in count (rate × seconds) and time (seconds + 10 s); servers listen on
 * 127.0.0.1 only and are stopped by PID.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import fastJsonPatch from 'fast-json-patch';
import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import { NodeInventory } from '#core/gpu/inventory.ts';
import { mutatePod } from '../../webhook/src/admission/mutate-pod.ts';
import { parseReview, type AdmissionRequest } from '../../webhook/src/admission/review.ts';
import { buildApp } from '../../webhook/src/app.ts';
import { createWebhookMetrics } from '../../webhook/src/metrics.ts';
import { createCertificateAuthority, createServingCertificate, DAY_MS } from '../../webhook/src/tls/certificates.ts';
import { bigClusterNode } from '../helpers/big-cluster.ts';
import { createCpuCgroup } from '../helpers/cpu-cgroup.ts';
import { httpsCall } from '../helpers/webhook-process.ts';
import { FIXTURES, testDeps } from '../helpers/webhook.ts';
import { log, percentile, printReport, type Check } from './report.ts';
import { measureMemory } from './webhook-memory.ts';
import { measureApiServer } from './webhook-api-server.ts';

const SERVER_FLAG = '--bench-server';
const LOAD_GENERATOR_FLAG = '--load-generator';

/** The fixed open-loop rate of the ratio phases, and how long each phase lasts. */
const RATE = 500;
const PHASE_SECONDS = 4;
const WARMUP_SECONDS = 3;
const ROUNDS = 3;
/** The rates tried for the most one replica holds within one CPU, in order; each for STEP_SECONDS. */
const STEP_RATES = [1000, 1500, 2000, 3000, 4000, 6000];
const STEP_SECONDS = 3;
/** Sockets the load generator may open: enough that a busy one never delays a scheduled request. */
const SOCKETS = 64;
/** The generator checks one answer in this many. */
const CHECK_EVERY = 25;
/** A step holds when it answers this share of its requests on time, all of them well. */
const HELD_SHARE = 0.98;

const TARGETS = {
  cpuRatio: 1.5, // /mutate server CPU per admission over /canned's, at most
  p99Ratio: 2, // /mutate p99 over /canned's at RATE, at most
  stepP99Ms: 10, // p99 a step must stay under to hold
  maxRate: 1000, // the highest rate held within one CPU, at least
  perContainer: 1 / 20, // extra CPU per container (50 vs 1) over /canned's CPU per admission, at most
  nodesRatio: 1.25, // /mutate CPU per admission with 5,000 nodes over 100, at most (no growth beyond noise)
  mutateMedianUs: 50, // mutatePod alone, median per pod, below
};

// mutatePod alone, in this process.
const WARMUP_CALLS = 2_000;
const TIMED_CALLS = 20_000;

const CASE_DIR = join(FIXTURES, 'create-several-containers');
const REVIEW_BODY = readFileSync(join(CASE_DIR, 'review.json'), 'utf8');
const REVIEW_UID: string = JSON.parse(REVIEW_BODY).request.uid;
const PATCHED_POD = JSON.parse(readFileSync(join(CASE_DIR, 'patched-pod.json'), 'utf8'));

/** The fixture pod with `containers` containers: its GPU container and copies of its log shipper. */
function podWith(containers: number): string {
  const review = JSON.parse(REVIEW_BODY);
  const spec = review.request.object.spec;
  const [shipper, triton] = spec.containers;
  spec.containers = [triton, ...Array.from({ length: containers - 1 }, (_, i) => ({ ...structuredClone(shipper), name: `log-shipper-${i + 1}` }))];
  return JSON.stringify(review);
}

type Target = 'fixture' | 'nodes100' | 'nodes5000';
const NODE_COUNTS: Record<Exclude<Target, 'fixture'>, number> = { nodes100: 100, nodes5000: 5000 };

// ---- the server (child process) -----------------------------------------------------------------

async function runServer(): Promise<void> {
  const { key, cert } = await new Promise<{ key: string; cert: string }>((resolve) => process.once('message', resolve as never));
  // As server.ts makes its logger: JSON lines at info on stdout (a pipe the parent reads).
  const logger = pino({ level: 'info', base: { component: 'supersonic-webhook' } });
  const apps: Record<Target, FastifyInstance> = {} as never;
  for (const target of ['fixture', 'nodes100', 'nodes5000'] as const) {
    const fixed = testDeps();
    const deps = target === 'fixture' ? fixed : { ...fixed, ...viewOf(NODE_COUNTS[target]) };
    const canned = await cannedAnswer(deps);
    const app = buildApp({ deps, metrics: createWebhookMetrics(), ready: () => true, https: { key, cert }, logger, benchmarkBaseline: true });
    registerCannedRoute(app, canned);
    await app.listen({ host: '127.0.0.1', port: 0 });
    apps[target] = app;
  }
  const ports = Object.fromEntries(Object.entries(apps).map(([target, app]) => [target, (app.server.address() as { port: number }).port]));
  process.on('message', async (message: 'cpu' | 'exit') => {
    if (message === 'cpu') process.send!({ cpu: process.cpuUsage() });
    if (message === 'exit') {
      for (const app of Object.values(apps)) await app.close();
      process.exit(0);
    }
  });
  process.send!({ ports });
}

/** A node view of `count` big-cluster nodes, as the inventory keeps it after a list. */
function viewOf(count: number) {
  const inventory = NodeInventory.fromNodes(Array.from({ length: count }, (_, i) => bigClusterNode(i)));
  return { gpuNodes: () => inventory.nodes(), gpuNodesReady: () => true };
}

/** /mutate's answer to the fixture review, byte for byte, from an app like the one served. */
async function cannedAnswer(deps: ReturnType<typeof testDeps>): Promise<string> {
  const app = buildApp({ deps, metrics: createWebhookMetrics(), ready: () => true, logger: false });
  const answer = await app.inject({ method: 'POST', url: '/mutate', headers: { 'content-type': 'application/json' }, payload: REVIEW_BODY });
  await app.close();
  return answer.payload;
}

/**
 * POST /canned, for the bench only (never registered by server.ts): what any webhook must do,
 * read the review, then send /mutate's answer to the fixture, made once, as it is.
 */
function registerCannedRoute(app: FastifyInstance, canned: string): void {
  app.post('/canned', async (request, reply) => {
    reply.type('application/json; charset=utf-8');
    const parsed = parseReview(request.body);
    if (!parsed.ok || parsed.request.uid !== REVIEW_UID) throw new Error('/canned answers the fixture review only');
    return canned;
  });
}

// ---- the load generator (child process) ---------------------------------------------------------

interface PhaseCommand {
  port: number;
  path: '/baseline' | '/canned' | '/mutate';
  body: string;
  rate: number;
  seconds: number;
  /** What a checked answer must carry: a patch (mutate, canned) or just "allowed" (baseline). */
  expectPatch: boolean;
  /** Only open the sockets (prime()), before the phase and its CPU reading. */
  prime?: boolean;
}

interface PhaseResult {
  sent: number;
  completed: number;
  failed: number;
  /** ms from each request's scheduled time to its answer. */
  latenciesMs: number[];
  checked: number;
  badAnswers: string[];
  /** Server CPU time during the phase, ms (filled in by the parent). */
  serverCpuMs: number;
}

async function runLoadGenerator(): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: SOCKETS, rejectUnauthorized: false });
  process.on('message', async (command: PhaseCommand | 'exit') => {
    if (command === 'exit') process.exit(0);
    if (command.prime) {
      await prime(agent, command);
      process.send!('primed');
    } else {
      process.send!(await openLoop(agent, command));
    }
  });
  process.send!('ready');
}

/**
 * Opens every socket the phase may use before it starts (SOCKETS requests at once, not counted),
 * as a client under steady load holds its pool. Otherwise a pause of a few ms (a GC) leaves
 * requests waiting that the agent sends on new connections, whose TLS handshakes cost both
 * sides more CPU than the requests and snowball into a stall of tens of ms: a benchmark artefact.
 */
async function prime(agent: Agent, command: PhaseCommand): Promise<void> {
  await Promise.all(
    Array.from({ length: SOCKETS }, () =>
      new Promise<void>((resolve) => {
        const req = httpsRequest({ host: '127.0.0.1', port: command.port, path: command.path, method: 'POST', agent, servername: 'localhost', headers: { 'content-type': 'application/json' } }, (res) => {
          res.resume();
          res.on('end', resolve);
        });
        req.on('error', () => resolve());
        req.end(command.body);
      }),
    ),
  );
}

function openLoop(agent: Agent, command: PhaseCommand): Promise<PhaseResult> {
  const total = Math.round(command.rate * command.seconds);
  const intervalMs = 1000 / command.rate;
  const body = Buffer.from(command.body);
  const result: PhaseResult = { sent: 0, completed: 0, failed: 0, latenciesMs: [], checked: 0, badAnswers: [], serverCpuMs: NaN };
  return new Promise((resolve) => {
    let settled = 0;
    const start = performance.now();
    const finish = () => {
      clearTimeout(deadline);
      clearTimeout(timer);
      resolve(result);
    };
    // The bound in time: whatever has not answered by then counts as failed.
    const deadline = setTimeout(() => {
      result.failed += result.sent - settled;
      finish();
    }, (command.seconds + 10) * 1000);
    const send = (scheduled: number, index: number) => {
      result.sent++;
      const req = httpsRequest(
        { host: '127.0.0.1', port: command.port, path: command.path, method: 'POST', agent, servername: 'localhost', headers: { 'content-type': 'application/json', 'content-length': body.length } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            result.latenciesMs.push(performance.now() - scheduled);
            result.completed++;
            if (index % CHECK_EVERY === 0) {
              result.checked++;
              const problem = answerProblem(res.statusCode ?? 0, Buffer.concat(chunks).toString(), command.expectPatch);
              if (problem && result.badAnswers.length < 5) result.badAnswers.push(problem);
            }
            if (++settled === total) finish();
          });
        },
      );
      req.setTimeout(10_000, () => req.destroy(new Error('timed out')));
      req.on('error', () => {
        result.failed++;
        if (++settled === total) finish();
      });
      req.end(body);
    };
    // The schedule: request i leaves at start + i × interval, checked every millisecond or so.
    let next = 0;
    let timer: NodeJS.Timeout;
    const tick = () => {
      const now = performance.now();
      while (next < total && start + next * intervalMs <= now) {
        send(start + next * intervalMs, next);
        next++;
      }
      if (next < total) timer = setTimeout(tick, Math.max(0, Math.min(1, start + next * intervalMs - performance.now())));
    };
    tick();
  });
}

/** Why an answer is not "allowed, for our uid" (and with a JSON Patch when one is expected); undefined when it is. */
function answerProblem(status: number, body: string, expectPatch: boolean): string | undefined {
  if (status !== 200) return `HTTP ${status}`;
  try {
    const { response } = JSON.parse(body);
    if (response?.uid !== REVIEW_UID) return `uid ${response?.uid}`;
    if (response.allowed !== true) return `not allowed: ${JSON.stringify(response.status)}`;
    if (!expectPatch) return undefined;
    if (response.patchType !== 'JSONPatch' || !response.patch) return 'no JSON Patch';
    const patch = JSON.parse(Buffer.from(response.patch, 'base64').toString());
    if (!Array.isArray(patch) || patch.length === 0) return 'empty patch';
  } catch (err) {
    return `unreadable answer: ${(err as Error).message}`;
  }
  return undefined;
}

// ---- the measurements (this process) ------------------------------------------------------------

interface Server {
  child: ChildProcess;
  ports: Record<Target, number>;
  cpuLimited: boolean;
  cpuMs(): Promise<number>;
  stop(): Promise<void>;
}

async function startServer(key: string, cert: string): Promise<Server> {
  const child = fork(fileURLToPath(import.meta.url), [SERVER_FLAG], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  // The logs are read and dropped, as a container runtime reads them (a pipe nobody reads would fill and block).
  child.stdout!.resume();
  const cgroup = createCpuCgroup(`supersonic-bench-cpu-${process.pid}`, 1);
  cgroup?.join(child.pid!);
  child.send({ key, cert });
  const { ports } = await new Promise<{ ports: Record<Target, number> }>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the bench server exited early (code ${code})`)));
    child.once('message', resolve as never);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    ports,
    cpuLimited: cgroup !== undefined,
    cpuMs: () =>
      new Promise((resolve) => {
        child.once('message', (message: { cpu: NodeJS.CpuUsage }) => resolve((message.cpu.user + message.cpu.system) / 1e3));
        child.send('cpu');
      }),
    stop: async () => {
      child.send('exit');
      const killer = setTimeout(() => process.kill(child.pid!, 'SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
      cgroup?.remove();
    },
  };
}

function startLoadGenerator(): Promise<ChildProcess> {
  const child = fork(fileURLToPath(import.meta.url), [LOAD_GENERATOR_FLAG], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the load generator exited early (code ${code})`)));
    child.once('message', () => resolve(child));
  });
}

async function runPhase(generator: ChildProcess, server: Server, command: Omit<PhaseCommand, 'port'> & { target: Target }): Promise<PhaseResult> {
  const ask = <T,>(message: PhaseCommand) =>
    new Promise<T>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`the load generator died during ${command.path} (code ${code})`));
      generator.once('exit', onExit);
      generator.once('message', (answer) => {
        generator.off('exit', onExit);
        resolve(answer as T);
      });
      generator.send(message);
    });
  const port = server.ports[command.target];
  await ask<'primed'>({ ...command, port, prime: true });
  const before = await server.cpuMs();
  const result = await ask<PhaseResult>({ ...command, port });
  result.serverCpuMs = (await server.cpuMs()) - before;
  return result;
}

async function main(): Promise<number> {
  const ca = await createCertificateAuthority({ commonName: 'supersonic-bench-ca' });
  const serving = await createServingCertificate(ca, { dnsNames: ['localhost'], validityMs: DAY_MS });
  const checks: Check[] = [];
  const server = await startServer(serving.key, serving.cert);
  let generator: ChildProcess | undefined;
  try {
    checks.push(...(await smokeChecks(server.ports.fixture, ca.cert)));
    generator = await startLoadGenerator();
    checks.push(...(await measureLoad(generator, server)));
  } finally {
    generator?.send('exit');
    await server.stop();
  }
  checks.push(...(await measureMutatePod()));
  checks.push(...(await measureMemory()));
  checks.push(...(await measureApiServer()));
  printReport(checks);
  return checks.every((check) => check.pass !== false) ? 0 : 1;
}

/** TLS verified against our CA for "localhost": /mutate gives the golden pod, and /canned sends /mutate's bytes exactly. */
async function smokeChecks(port: number, caPem: string): Promise<Check[]> {
  const agent = new Agent({ ca: caPem });
  try {
    const mutate = await httpsCall(agent, port, '/mutate', REVIEW_BODY);
    const canned = await httpsCall(agent, port, '/canned', REVIEW_BODY);
    let problem = answerProblem(mutate.status, mutate.text, true);
    if (!problem) {
      const patch = JSON.parse(Buffer.from(JSON.parse(mutate.text).response.patch, 'base64').toString());
      const request = JSON.parse(REVIEW_BODY).request as AdmissionRequest;
      const patched = fastJsonPatch.applyPatch(structuredClone(request.object), patch, true, false).newDocument;
      if (!isDeepStrictEqual(patched, PATCHED_POD)) problem = 'the patch does not give patched-pod.json';
    }
    const same = canned.status === 200 && canned.text === mutate.text;
    return [
      { figure: 'TLS-verified /mutate gives the golden pod', value: problem ?? 'yes', target: 'yes', pass: !problem },
      { figure: `/canned sends /mutate's answer byte for byte (${mutate.text.length} bytes)`, value: same ? 'yes' : 'no', target: 'yes', pass: same },
    ];
  } finally {
    agent.destroy();
  }
}

async function measureLoad(generator: ChildProcess, server: Server): Promise<Check[]> {
  const phase = (target: Target, path: PhaseCommand['path'], seconds: number, rate = RATE, body = REVIEW_BODY) =>
    runPhase(generator, server, { target, path, body, rate, seconds, expectPatch: path !== '/baseline' });
  const one = podWith(1);
  const fifty = podWith(50);
  const all: PhaseResult[] = [];
  const keep = (result: PhaseResult) => (all.push(result), result);

  log(`warm-up: ${WARMUP_SECONDS} s at ${RATE}/s on each route and pod${server.cpuLimited ? '' : ' (no CPU cgroup could be made: the server is not limited to one CPU)'}`);
  for (const path of ['/baseline', '/canned', '/mutate'] as const) keep(await phase('fixture', path, WARMUP_SECONDS));
  keep(await phase('fixture', '/mutate', WARMUP_SECONDS, RATE, one));
  keep(await phase('fixture', '/mutate', WARMUP_SECONDS, RATE, fifty));
  keep(await phase('nodes100', '/mutate', WARMUP_SECONDS));
  keep(await phase('nodes5000', '/mutate', WARMUP_SECONDS));

  // Rounds alternate the routes, so the machine's noise hits each alike.
  const rounds = { baseline: [] as PhaseResult[], canned: [] as PhaseResult[], mutate: [] as PhaseResult[], one: [] as PhaseResult[], fifty: [] as PhaseResult[], nodes100: [] as PhaseResult[], nodes5000: [] as PhaseResult[] };
  for (let round = 1; round <= ROUNDS; round++) {
    rounds.baseline.push(keep(await phase('fixture', '/baseline', PHASE_SECONDS)));
    rounds.canned.push(keep(await phase('fixture', '/canned', PHASE_SECONDS)));
    rounds.mutate.push(keep(await phase('fixture', '/mutate', PHASE_SECONDS)));
    rounds.one.push(keep(await phase('fixture', '/mutate', PHASE_SECONDS, RATE, one)));
    rounds.fifty.push(keep(await phase('fixture', '/mutate', PHASE_SECONDS, RATE, fifty)));
    rounds.nodes100.push(keep(await phase('nodes100', '/mutate', PHASE_SECONDS)));
    rounds.nodes5000.push(keep(await phase('nodes5000', '/mutate', PHASE_SECONDS)));
    const us = (name: keyof typeof rounds) => cpuPerAdmission(rounds[name].slice(-1)).toFixed(0);
    log(`round ${round}/${ROUNDS}, server CPU µs per admission: baseline ${us('baseline')}, canned ${us('canned')}, mutate ${us('mutate')}, 1 container ${us('one')}, 50 containers ${us('fifty')}, 100 nodes ${us('nodes100')}, 5,000 nodes ${us('nodes5000')}`);
  }

  log(`the highest rate held within one CPU: /mutate at ${STEP_RATES.join(', ')}/s, ${STEP_SECONDS} s each, until one does not hold`);
  const steps: Array<{ rate: number; held: boolean; p99: number; answered: number }> = [];
  for (const rate of STEP_RATES) {
    const result = await phase('fixture', '/mutate', STEP_SECONDS, rate);
    const p99 = percentile(sorted([result]), 0.99);
    const answered = result.completed / Math.round(rate * STEP_SECONDS);
    const held = result.failed === 0 && answered >= HELD_SHARE && p99 < TARGETS.stepP99Ms && result.badAnswers.length === 0;
    steps.push({ rate, held, p99, answered });
    log(`${rate}/s: p99 ${p99.toFixed(2)} ms, ${(answered * 100).toFixed(1)} % answered, ${held ? 'held' : 'not held'}`);
    if (!held) break;
  }
  const maxHeld = Math.max(0, ...steps.filter((step) => step.held).map((step) => step.rate));

  const cpu = (name: keyof typeof rounds) => cpuPerAdmission(rounds[name]);
  const p99 = (name: keyof typeof rounds) => percentile(sorted(rounds[name]), 0.99);
  const p50 = (name: keyof typeof rounds) => percentile(sorted(rounds[name]), 0.5);
  const cpuRatio = cpu('mutate') / cpu('canned');
  const p99Ratio = p99('mutate') / p99('canned');
  const perContainer = (cpu('fifty') - cpu('one')) / 49;
  const nodesRatio = cpu('nodes5000') / cpu('nodes100');
  const failures = all.reduce((sum, r) => sum + r.failed, 0);
  const checked = all.reduce((sum, r) => sum + r.checked, 0);
  const bad = all.flatMap((r) => r.badAnswers);
  const load = `${RATE}/s open loop, ${ROUNDS} × ${PHASE_SECONDS} s per route`;
  const latency = (name: keyof typeof rounds) => `${p50(name).toFixed(2)} / ${p99(name).toFixed(2)} ms`;
  return [
    { figure: `server CPU per admission, baseline / canned / mutate (${load})`, value: `${cpu('baseline').toFixed(0)} / ${cpu('canned').toFixed(0)} / ${cpu('mutate').toFixed(0)} µs` },
    { figure: 'latency p50 / p99, baseline', value: latency('baseline') },
    { figure: 'latency p50 / p99, canned', value: latency('canned') },
    { figure: 'latency p50 / p99, mutate', value: latency('mutate') },
    { figure: 'mutate / canned server CPU per admission', value: cpuRatio.toFixed(2), target: `≤ ${TARGETS.cpuRatio}`, pass: cpuRatio <= TARGETS.cpuRatio },
    { figure: `mutate / canned p99 at ${RATE}/s`, value: p99Ratio.toFixed(2), target: `≤ ${TARGETS.p99Ratio}`, pass: p99Ratio <= TARGETS.p99Ratio },
    { figure: `steps (/mutate, ${STEP_SECONDS} s each${server.cpuLimited ? ', server limited to 1 CPU' : ', server NOT CPU-limited'}): rate p99`, value: steps.map((s) => `${s.rate}/s ${s.p99.toFixed(1)} ms${s.held ? '' : ' (not held)'}`).join(', ') },
    { figure: `highest open-loop rate held within one CPU at p99 < ${TARGETS.stepP99Ms} ms`, value: `${maxHeld}/s`, target: `≥ ${TARGETS.maxRate}/s`, pass: maxHeld >= TARGETS.maxRate && server.cpuLimited },
    { figure: 'server CPU per admission, 1-container / 50-container pod', value: `${cpu('one').toFixed(0)} / ${cpu('fifty').toFixed(0)} µs` },
    {
      figure: 'extra CPU per container (50 vs 1) / canned CPU per admission',
      value: `${(perContainer / cpu('canned')).toFixed(4)} (${perContainer.toFixed(1)} µs)`,
      target: `≤ ${TARGETS.perContainer.toFixed(3)}`,
      pass: perContainer / cpu('canned') <= TARGETS.perContainer,
    },
    { figure: 'server CPU per admission, 100 / 5,000 nodes in the view', value: `${cpu('nodes100').toFixed(0)} / ${cpu('nodes5000').toFixed(0)} µs; p99 ${p99('nodes100').toFixed(2)} / ${p99('nodes5000').toFixed(2)} ms` },
    { figure: 'mutate CPU per admission, 5,000 nodes / 100 nodes', value: nodesRatio.toFixed(2), target: `≤ ${TARGETS.nodesRatio}`, pass: nodesRatio <= TARGETS.nodesRatio },
    { figure: 'failed or late requests (all phases but the steps)', value: String(failures), target: '0', pass: failures === 0 },
    { figure: `answers checked (1 in ${CHECK_EVERY})`, value: bad.length ? `${checked}, bad: ${bad.join('; ')}` : `${checked}, all good`, target: 'all good', pass: checked > 0 && bad.length === 0 },
  ];
}

/**
 * mutatePod alone, timed call by call. Each call gets its own freshly parsed request, as in the
 * server (parsed before the clock starts), so no call finds the last one's objects in the cache.
 */
async function measureMutatePod(): Promise<Check[]> {
  const deps = testDeps();
  const freshRequest = () => JSON.parse(REVIEW_BODY).request as AdmissionRequest;
  const first = await mutatePod(freshRequest(), deps);
  if (first.kind !== 'mutated') throw new Error(`mutatePod did not mutate the fixture: ${JSON.stringify(first)}`);
  log(`mutatePod alone: ${WARMUP_CALLS} warm-up calls, then ${TIMED_CALLS} timed`);
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
    { figure: 'mutatePod alone, per pod, median', value: `${median.toFixed(1)} µs`, target: `< ${TARGETS.mutateMedianUs} µs`, pass: median < TARGETS.mutateMedianUs },
    { figure: 'mutatePod alone, per pod, p99', value: `${percentile(micros, 0.99).toFixed(1)} µs` },
  ];
}

// ---- small helpers ------------------------------------------------------------------------------

function sorted(phases: PhaseResult[]): number[] {
  return phases.flatMap((p) => p.latenciesMs).sort((a, b) => a - b);
}

/** Server CPU µs per answered admission. */
function cpuPerAdmission(phases: PhaseResult[]): number {
  const cpu = phases.reduce((sum, p) => sum + p.serverCpuMs, 0);
  const completed = phases.reduce((sum, p) => sum + p.completed, 0);
  return (cpu * 1e3) / completed;
}

if (process.argv.includes(SERVER_FLAG)) {
  await runServer();
} else if (process.argv.includes(LOAD_GENERATOR_FLAG)) {
  await runLoadGenerator();
} else {
  process.exitCode = await main();
}
