/**
 * No denial of service from a pod in the cluster (any pod can reach the webhook's Service). The
 * real webhook process, as the image runs it (the bundle on Node 24), under the chart's default
 * memory limit in a memory cgroup, as a pod runs under Kubernetes, while
 *   1. thousands of slow clients open TLS connections and send their headers, or a body, one
 *      byte a second (slow loris), reconnecting when dropped;
 *   2. clients send 7.7 MiB bodies as fast as they can, with and without a Content-Length,
 *      and others bodies just under the body limit (which the webhook must read).
 * During each attack the API server's calls go on at a modest rate, on a kept-alive connection
 * and on new connections, and must keep being answered within a second; afterwards the process
 * is still the same one, and the kernel never OOM-killed anything in its cgroup.
 *
 * The attackers run in a child process of their own (this same file, with ATTACKER_FLAG), so their
 * thousands of sockets neither use this process's file descriptors nor delay the timing of the
 * reviews sent from here. Everything is on 127.0.0.1, bounded in connections, bytes and seconds.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { createMemoryCgroup, type MemoryCgroup } from '../helpers/memory-cgroup.ts';
import { FIXTURES, testConfig } from '../helpers/webhook.ts';
import { imageRuntime, startWebhookProcess, type WebhookProcess } from '../helpers/webhook-process.ts';

const ATTACKER_FLAG = '--denial-of-service-attacker';
const MiB = 2 ** 20;

/** The attacks, bounded: connections at once, how fast they are (re)opened, and for how long. */
const SLOW_LORIS = { connections: 4000, openPerSecond: 1000, seconds: 20 };
const BIG_BODIES = { hugeWorkers: 16, hugeBytes: Math.round(7.7 * MiB), nearLimitWorkers: 8, nearLimitBytes: Math.round(3.9 * MiB), seconds: 20 };
/** The API server's calls during an attack: one every REVIEW_EVERY_MS, answered within ANSWER_WITHIN_MS. */
const REVIEW_EVERY_MS = 100;
const ANSWER_WITHIN_MS = 1000;
const MIN_ANSWERED = 0.95;
/** Reviews before the attack, for comparison: on a shared machine, other work slows them too. */
const BASELINE_SECONDS = 5;

const REVIEW = readFileSync(join(FIXTURES, 'create-gpu-profile', 'review.json'), 'utf8');
const REVIEW_UID: string = JSON.parse(REVIEW).request.uid;

if (process.argv.includes(ATTACKER_FLAG)) {
  await attacker(JSON.parse(process.env.ATTACK ?? '{}'));
} else {
  defineSuite();
}

// ---------------------------------------------------------------------------------------------
// The suite
// ---------------------------------------------------------------------------------------------

interface Figures {
  answered: number;
  sent: number;
  median: number;
  slowest: number;
  failures: string[];
  attacker: AttackerReport;
}

function defineSuite(): void {
  const dos = suite('webhook process: no denial of service under the chart\'s memory limit');

  dos('thousands of slow-loris connections neither kill the process nor stop the API server\'s reviews', async () => {
    await attackInCgroup('slow loris', { kind: 'slow-loris', ...SLOW_LORIS });
  });

  dos('huge bodies, with and without a Content-Length, and bodies near the limit neither kill the process nor stop the reviews', async () => {
    await attackInCgroup('huge bodies', { kind: 'big-bodies', ...BIG_BODIES });
  });

  dos.run();
}

/**
 * The webhook process in a memory cgroup of the chart's default limit, under `attack`: it must
 * live through it (same process, no OOM kill in the group) and keep answering reviews.
 */
async function attackInCgroup(title: string, attack: Attack): Promise<void> {
  const limit = String(testConfig().values.resources.limits?.memory ?? '');
  const limitBytes = quantityBytes(limit);
  assert.ok(limitBytes > 0, `the chart's default webhook memory limit (${limit}) is not a quantity this test reads`);
  const name = `supersonic-dos-${process.pid}-${attack.kind}`;
  const cgroup = createMemoryCgroup(name, limitBytes);
  if (!cgroup) {
    assert.unreachable(
      'no memory cgroup could be made (needs root, and cgroup v1 /sys/fs/cgroup/memory or cgroup v2 /sys/fs/cgroup with the memory controller enabled for children): ' +
        'this test must run the webhook under the chart\'s memory limit, as Kubernetes does, to show that the attack cannot OOM-kill it',
    );
    return;
  }
  const files = cgroupFiles(name);
  files.enableSocketAccounting(limitBytes);
  let webhook: WebhookProcess | undefined;
  try {
    const runtime = imageRuntime();
    const fdLimit = openFilesLimit();
    webhook = await startWebhookProcess({ ...runtime, command: withOpenFiles(fdLimit.hard, cgroup.wrap(runtime.command)) }, { logLevel: 'warn' });
    const pid = webhook.child.pid!;
    log(`${title}: webhook ready (pid ${pid}, memory limit ${limit}), ${mb(cgroup.usageBytes())} MB charged to its cgroup`);

    const baseline = await reviewsFor(webhook, BASELINE_SECONDS);
    const before = `before the attack, ${baseline.answered}/${baseline.sent} reviews answered within ${ANSWER_WITHIN_MS} ms (median ${baseline.median.toFixed(0)} ms, slowest ${baseline.slowest.toFixed(0)} ms)`;
    log(`${title}: ${before}`);
    const figures = await underAttack(webhook, attack, cgroup);
    report(title, figures, files);

    assert.is(webhook.child.signalCode, null, `the webhook was killed by ${webhook.child.signalCode} (OOM kills in its cgroup: ${files.oomKills()})`);
    assert.is(webhook.child.exitCode, null, `the webhook exited (${webhook.child.exitCode}); stderr: ${webhook.stderr().slice(-2000)}`);
    assert.is(webhook.child.pid, pid, 'the same process');
    assert.is(files.oomKills(), 0, `the kernel OOM-killed in the webhook's cgroup (limit ${limit}), peak ${mb(files.peakBytes())} MB`);
    // cgroup v2 (most Kubernetes nodes now) charges TCP buffers to the group too; v1 counts them apart.
    const charged = files.peakBytes() + files.socketPeakBytes();
    assert.ok(charged < limitBytes, `memory charged at its peak, with TCP buffers, ${mb(charged)} MB, reaches the limit (${limit})`);
    assert.ok(figures.attacker.opened > 0, `the attack opened no connection: ${JSON.stringify(figures.attacker)}`);
    assert.ok(
      figures.answered >= MIN_ANSWERED * figures.sent,
      `during the attack only ${figures.answered} of ${figures.sent} reviews were answered with 200 within ${ANSWER_WITHIN_MS} ms (${before}); first failures: ${figures.failures.slice(0, 5).join(' | ')}`,
    );
    // Still serving after the attack, on a fresh connection.
    const after = await review(new Agent({ ca: webhook.ca }), webhook.port);
    assert.ok(after.ok, `after the attack: ${after.problem}`);
  } finally {
    if (webhook) {
      await webhook.close();
      await webhook.exited;
    }
    cgroup.remove();
  }
}

/** Runs one attack in a child process while reviews are sent from here; returns what both saw. */
async function underAttack(webhook: WebhookProcess, attack: Attack, cgroup: MemoryCgroup): Promise<Figures> {
  const fdLimit = openFilesLimit();
  const attackerProcess = startAttacker({ ...attack, port: webhook.port }, fdLimit.hard);
  const reportPromise = attackerReport(attackerProcess);
  let peak = cgroup.usageBytes();
  const sampler = setInterval(() => (peak = Math.max(peak, cgroup.usageBytes())), 200);
  try {
    await attackerStarted(attackerProcess);
    const reviews = await reviewsFor(webhook, attack.seconds);
    const attackerFigures = await reportPromise;
    return { ...reviews, attacker: { ...attackerFigures, peakChargedBytes: peak } };
  } finally {
    clearInterval(sampler);
    if (attackerProcess.exitCode === null) attackerProcess.kill('SIGKILL');
  }
}

/** Reviews for `seconds`, one every REVIEW_EVERY_MS: half on a kept-alive connection, as the API server keeps one, half on a new one. */
async function reviewsFor(webhook: WebhookProcess, seconds: number): Promise<Omit<Figures, 'attacker'>> {
  const keptAlive = new Agent({ ca: webhook.ca, keepAlive: true, maxSockets: 1 });
  const results: Promise<Review>[] = [];
  try {
    const deadline = Date.now() + seconds * 1000;
    for (let i = 0; Date.now() < deadline; i++) {
      results.push(review(i % 2 === 0 ? keptAlive : new Agent({ ca: webhook.ca }), webhook.port));
      await sleep(REVIEW_EVERY_MS);
    }
    const reviews = await Promise.all(results);
    const times = reviews.filter((r) => !r.problem || r.problem.startsWith('answered in')).map((r) => r.ms).sort((a, b) => a - b);
    return {
      answered: reviews.filter((r) => r.ok).length,
      sent: reviews.length,
      median: times[Math.floor(times.length / 2)] ?? NaN,
      slowest: times.at(-1) ?? NaN,
      failures: reviews.filter((r) => !r.ok).map((r) => r.problem!),
    };
  } finally {
    keptAlive.destroy();
  }
}

interface Review {
  ok: boolean;
  ms: number;
  problem?: string;
}

/** One AdmissionReview, as the API server sends it; ok when answered 200, for its uid, within ANSWER_WITHIN_MS. */
function review(agent: Agent, port: number): Promise<Review> {
  const started = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const done = (problem?: string) => {
      if (settled) return;
      settled = true;
      const ms = performance.now() - started;
      if (!agent.options.keepAlive) agent.destroy();
      resolve({ ok: !problem && ms <= ANSWER_WITHIN_MS, ms, problem: problem ?? (ms > ANSWER_WITHIN_MS ? `answered in ${ms.toFixed(0)} ms` : undefined) });
    };
    const req = request(
      { host: '127.0.0.1', port, path: '/mutate?timeout=5s', method: 'POST', servername: 'localhost', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(REVIEW) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => {
          if (res.statusCode !== 200) return done(`HTTP ${res.statusCode} ${text.slice(0, 120)}`);
          try {
            const answer = JSON.parse(text);
            done(answer.response?.uid === REVIEW_UID && answer.response.allowed === true ? undefined : `unexpected answer ${text.slice(0, 120)}`);
          } catch {
            done(`not JSON: ${text.slice(0, 120)}`);
          }
        });
        res.on('error', (err) => done(String(err)));
      },
    );
    // The API server gives up after the registration's timeoutSeconds; we judge at a second, and stop waiting at five.
    req.setTimeout(5000, () => req.destroy(new Error('no answer in 5 s')));
    req.on('error', (err) => done(String(err)));
    req.end(REVIEW);
  });
}

function report(attack: string, figures: Figures, files: CgroupFiles): void {
  const a = figures.attacker;
  log(
    `${attack}: ${figures.answered}/${figures.sent} reviews answered within ${ANSWER_WITHIN_MS} ms (median ${figures.median.toFixed(0)} ms, slowest ${figures.slowest.toFixed(0)} ms); ` +
      `attacker: ${a.opened} connections opened, at most ${a.maxOpen} open at once, ${a.closedByServer} closed by the webhook, answers ${JSON.stringify(a.statuses)}, ${a.bytesSent ? `${mb(a.bytesSent)} MB sent, ` : ''}` +
      `memory charged: peak during the attack ${mb(a.peakChargedBytes ?? 0)} MB, cgroup high-water mark ${mb(files.peakBytes())} MB${files.socketPeakBytes() ? ` (+ ${mb(files.socketPeakBytes())} MB TCP buffers)` : ''}; OOM kills ${files.oomKills()}`,
  );
  if (figures.failures.length) log(`${attack}: first failures: ${figures.failures.slice(0, 5).join(' | ')}`);
}

// ---------------------------------------------------------------------------------------------
// The cgroup's own figures, beyond what test/helpers/memory-cgroup.ts reads
// ---------------------------------------------------------------------------------------------

interface CgroupFiles {
  /** OOM kills in the group so far. */
  oomKills(): number;
  /** The most memory ever charged to the group (its high-water mark). */
  peakBytes(): number;
  /** cgroup v1 only: most TCP buffer memory (cgroup v2 charges it to the group itself). */
  socketPeakBytes(): number;
  /** cgroup v1 only: account TCP buffers too, as cgroup v2 (and so Kubernetes there) does. */
  enableSocketAccounting(limitBytes: number): void;
}

function cgroupFiles(name: string): CgroupFiles {
  const v1 = join('/sys/fs/cgroup/memory', name);
  if (existsSync(join(v1, 'memory.oom_control'))) {
    const read = (file: string) => readFileSync(join(v1, file), 'utf8');
    return {
      oomKills: () => Number(/^oom_kill (\d+)$/m.exec(read('memory.oom_control'))?.[1] ?? 0),
      peakBytes: () => Number(read('memory.max_usage_in_bytes')),
      socketPeakBytes: () => (existsSync(join(v1, 'memory.kmem.tcp.max_usage_in_bytes')) ? Number(read('memory.kmem.tcp.max_usage_in_bytes')) : 0),
      enableSocketAccounting: (limitBytes) => {
        try {
          writeFileSync(join(v1, 'memory.kmem.tcp.limit_in_bytes'), String(limitBytes));
        } catch {
          // Kernels without it: TCP buffers go unmeasured, as before.
        }
      },
    };
  }
  const v2 = join('/sys/fs/cgroup', name);
  const read = (file: string) => readFileSync(join(v2, file), 'utf8');
  return {
    oomKills: () => Number(/^oom_kill (\d+)$/m.exec(read('memory.events'))?.[1] ?? 0),
    peakBytes: () => (existsSync(join(v2, 'memory.peak')) ? Number(read('memory.peak')) : Number(read('memory.current'))),
    socketPeakBytes: () => 0,
    enableSocketAccounting: () => {},
  };
}

// ---------------------------------------------------------------------------------------------
// The attacker (a child process)
// ---------------------------------------------------------------------------------------------

type Attack = ({ kind: 'slow-loris' } & typeof SLOW_LORIS) | ({ kind: 'big-bodies' } & typeof BIG_BODIES);

interface AttackerReport {
  opened: number;
  maxOpen: number;
  closedByServer: number;
  /** The status of every answer the webhook gave an attacker, counted by kind of attacker. */
  statuses: Record<string, number>;
  bytesSent: number;
  peakChargedBytes?: number;
}

/** This file again, in a child process, with its soft limit of open files raised to `openFiles`. */
function startAttacker(attack: Attack & { port: number }, openFiles: number): ChildProcess {
  const command = withOpenFiles(openFiles, [process.execPath, fileURLToPath(import.meta.url), ATTACKER_FLAG]);
  return spawn(command[0]!, command.slice(1), { env: { ...process.env, ATTACK: JSON.stringify(attack) }, stdio: ['ignore', 'pipe', 'inherit'] });
}

function attackerStarted(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk;
      if (text.includes('started\n')) {
        child.stdout!.off('data', onData);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`the attacker exited (${code}) before it started`)));
  });
}

function attackerReport(child: ChildProcess): Promise<AttackerReport> {
  return new Promise((resolve, reject) => {
    let text = '';
    child.stdout!.on('data', (chunk) => (text += chunk));
    child.once('exit', (code) => {
      const line = text.split('\n').find((l) => l.startsWith('{'));
      if (code === 0 && line) resolve(JSON.parse(line));
      else reject(new Error(`the attacker failed (exit ${code}): ${text.slice(-2000)}`));
    });
  });
}

async function attacker(attack: Attack & { port: number }): Promise<void> {
  const figures: AttackerReport = { opened: 0, maxOpen: 0, closedByServer: 0, statuses: {}, bytesSent: 0 };
  const sockets = new Set<TLSSocket>();
  let stopping = false;
  const open = (label: string, onSecure: (socket: TLSSocket) => void): TLSSocket => {
    const socket = connect({ host: '127.0.0.1', port: attack.port, servername: 'localhost', rejectUnauthorized: false });
    sockets.add(socket);
    let head = '';
    socket.on('secureConnect', () => {
      figures.opened++;
      figures.maxOpen = Math.max(figures.maxOpen, sockets.size);
      onSecure(socket);
    });
    socket.on('data', (chunk: Buffer) => {
      if (head.length >= 12) return;
      head += chunk.toString('latin1', 0, 12);
      if (head.length >= 12) {
        const status = `${label}: ${head.slice(9, 12)}`;
        figures.statuses[status] = (figures.statuses[status] ?? 0) + 1;
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      sockets.delete(socket);
      if (!stopping) figures.closedByServer++;
    });
    return socket;
  };
  const stopAt = Date.now() + attack.seconds * 1000;
  process.stdout.write('started\n');

  if (attack.kind === 'slow-loris') {
    // Half never finish their headers; half send headers, then a body one byte a second.
    let next = 0;
    let budget = 0;
    const trickle = new Map<TLSSocket, string>();
    const opener = setInterval(() => {
      budget = Math.min(budget + attack.openPerSecond / 10, attack.openPerSecond);
      while (!stopping && sockets.size < attack.connections && budget >= 1) {
        budget--;
        const headersOnly = next++ % 2 === 0;
        const socket = open(headersOnly ? 'slow headers' : 'slow body', (s) => {
          s.write(headersOnly ? 'POST /mutate HTTP/1.1\r\nHost: webhook\r\nX-Slow: ' : 'POST /mutate HTTP/1.1\r\nHost: webhook\r\nContent-Type: application/json\r\nContent-Length: 65536\r\n\r\n');
          trickle.set(s, headersOnly ? 'a' : ' ');
        });
        socket.on('close', () => trickle.delete(socket));
      }
    }, 100);
    const dripper = setInterval(() => {
      for (const [socket, byte] of trickle) if (!socket.destroyed) socket.write(byte);
    }, 1000);
    await sleep(Math.max(0, stopAt - Date.now()));
    clearInterval(opener);
    clearInterval(dripper);
  } else {
    const huge = Buffer.alloc(attack.hugeBytes, 'a');
    const nearLimit = Buffer.from(JSON.stringify({ ...JSON.parse(REVIEW), padding: 'x'.repeat(attack.nearLimitBytes - REVIEW.length) }));
    // One body after another on each worker, each on a new connection; until the end, or the server closes.
    const send = (shape: 'content-length' | 'chunked' | 'near-limit') =>
      new Promise<void>((resolve) => {
        const socket = open(shape, (s) => {
          const body = shape === 'near-limit' ? nearLimit : huge;
          if (shape === 'chunked') {
            s.write('POST /mutate HTTP/1.1\r\nHost: webhook\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
            const piece = 64 * 1024;
            const writeFrom = (offset: number): void => {
              while (offset < body.length && !s.destroyed) {
                const part = body.subarray(offset, offset + piece);
                offset += part.length;
                figures.bytesSent += part.length;
                s.write(`${part.length.toString(16)}\r\n`);
                s.write(part);
                if (!s.write('\r\n')) {
                  s.once('drain', () => writeFrom(offset));
                  return;
                }
              }
              if (!s.destroyed) s.write('0\r\n\r\n');
            };
            writeFrom(0);
          } else {
            s.write(`POST /mutate HTTP/1.1\r\nHost: webhook\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
            figures.bytesSent += body.length;
            s.end(body);
          }
        });
        socket.once('close', () => resolve());
        // A worker gives up on an answer after 10 s (it would be a slow loris then).
        socket.setTimeout(10_000, () => socket.destroy());
      });
    const worker = async (shape: 'content-length' | 'chunked' | 'near-limit') => {
      while (Date.now() < stopAt) await send(shape);
    };
    const workers: Promise<void>[] = [];
    for (let i = 0; i < attack.hugeWorkers; i++) workers.push(worker(i % 2 === 0 ? 'content-length' : 'chunked'));
    for (let i = 0; i < attack.nearLimitWorkers; i++) workers.push(worker('near-limit'));
    const ended = Promise.all(workers);
    await sleep(Math.max(0, stopAt - Date.now()));
    await Promise.race([ended, sleep(10_000)]);
  }
  stopping = true;
  for (const socket of sockets) socket.destroy();
  process.stdout.write(JSON.stringify(figures) + '\n');
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

/** This process's limit of open files, from /proc/self/limits. */
function openFilesLimit(): { soft: number; hard: number } {
  const line = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  const value = (text: string | undefined) => (text === 'unlimited' ? Infinity : Number(text));
  const limits = { soft: value(line?.[1]), hard: value(line?.[2]) };
  const needed = SLOW_LORIS.connections + 1000;
  if (!(limits.hard >= needed)) {
    throw new Error(`the hard limit of open files is ${limits.hard}; the attack and the webhook each need ${needed} (raise it with ulimit -Hn as root, or in /etc/security/limits.conf)`);
  }
  return limits;
}

/** `command`, with the soft limit of open files raised to `files` first (a pod's limit is far higher than a shell's 1024). */
function withOpenFiles(files: number, command: string[]): string[] {
  const limit = Number.isFinite(files) ? String(files) : 'unlimited';
  return ['sh', '-c', `ulimit -n ${limit} && exec "$0" "$@"`, ...command];
}

/** `256Mi`, `1.5Gi`, `300M` → bytes: the chart's memory quantities; 0 for another form. */
function quantityBytes(quantity: string): number {
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|k|M|G)?$/.exec(quantity);
  if (!match) return 0;
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, k: 1e3, M: 1e6, G: 1e9 }[match[2] ?? ''] ?? 1;
  return Math.round(Number(match[1]) * unit);
}

function mb(bytes: number): string {
  return (bytes / MiB).toFixed(1);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function log(line: string): void {
  console.log(`    ${line}`);
}
