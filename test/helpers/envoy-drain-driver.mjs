/**
 * Runs inside a private network namespace (see test/chart/drain.test.ts), where 127.0.0.1:9901
 * is free: stands in for Envoy's admin interface (it records what it is sent and answers as
 * Envoy does, 200 "OK" and the connection closed), then runs the rendered preStop command as
 * the kubelet would, and prints what happened. What it leaves out: Envoy's own drain (GOAWAY,
 * /ready failing, the exit after --drain-time-s), which needs the Envoy binary.
 * Plain JavaScript with only Node's own modules.
 * Usage: node --input-type=module -e "$(cat envoy-drain-driver.mjs)" '<json {preStop}>'
 */
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';

const { preStop } = JSON.parse(process.argv[1]);
const requests = [];
const admin = createServer((socket) => {
  let text = '';
  socket.on('data', (chunk) => {
    text += chunk;
    if (!text.includes('\r\n\r\n')) return;
    requests.push(text);
    socket.end('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 3\r\nconnection: close\r\n\r\nOK\n');
  });
});
await new Promise((resolve) => admin.listen(9901, '127.0.0.1', resolve));
const started = Date.now();
const code = await new Promise((resolve) => execFile(preStop[0], preStop.slice(1), (err) => resolve(err ? (typeof err.code === 'number' ? err.code : 1) : 0)));
const ms = Date.now() - started;
admin.close();
console.log(JSON.stringify({ code, ms, requests }));
