/**
 * Runs inside a private mount and network namespace (see test/chart/drain.test.ts), where /tmp
 * is a fresh tmpfs and port 8000 is free: stands in for Triton's health endpoint, then runs the
 * rendered readiness and preStop commands exactly as the kubelet would, and prints what happened.
 * Plain JavaScript with only Node's own modules: it runs with /tmp replaced, so it must not
 * need the repository (which may live under /tmp) or node_modules.
 * Usage: node --input-type=module -e "$(cat drain-driver.mjs)" '<json {readiness, preStop}>'
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';

const { readiness, preStop } = JSON.parse(process.argv[1]);

/** Runs a command as the kubelet runs exec probes and hooks: no shell of ours in between. */
function run(command) {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(command[0], command.slice(1), (err) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, ms: Date.now() - started });
    });
  });
}

// Triton's HTTP health endpoint: ready while the process runs.
const triton = createServer((req, res) => {
  res.statusCode = req.url === '/v2/health/ready' ? 200 : 404;
  res.end();
});
await new Promise((resolve) => triton.listen({ port: 8000, host: '::', ipv6Only: false }, resolve));

const before = await run(readiness);
const drain = await run(preStop);
const shutdownFile = existsSync('/tmp/shutdown');
const after = await run(readiness);
triton.close();
console.log(JSON.stringify({ readyBefore: before.code, preStopCode: drain.code, preStopMs: drain.ms, shutdownFile, readyAfter: after.code }));
