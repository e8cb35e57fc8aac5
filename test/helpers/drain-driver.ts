/**
 * Runs inside a private mount and network namespace (see test/chart/drain.test.ts), where /tmp
 * is a fresh tmpfs and port 8000 is free: stands in for Triton's health endpoint, then runs the
 * rendered readiness and preStop commands exactly as the kubelet would, and prints what happened.
 * Usage: node --import tsx drain-driver.ts '<json {readiness: string[], preStop: string[]}>'
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';

const { readiness, preStop } = JSON.parse(process.argv[2]!) as { readiness: string[]; preStop: string[] };

function run(command: string[]): Promise<{ code: number; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(command[0]!, command.slice(1), (err) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, ms: Date.now() - started });
    });
  });
}

// Triton's HTTP health endpoint: ready while the process runs.
const triton = createServer((req, res) => {
  res.statusCode = req.url === '/v2/health/ready' ? 200 : 404;
  res.end();
});
await new Promise<void>((resolve) => triton.listen({ port: 8000, host: '::', ipv6Only: false }, resolve));

const before = await run(readiness);
const drain = await run(preStop);
const shutdownFile = existsSync('/tmp/shutdown');
const after = await run(readiness);
triton.close();
console.log(JSON.stringify({ readyBefore: before.code, preStopCode: drain.code, preStopMs: drain.ms, shutdownFile, readyAfter: after.code }));
