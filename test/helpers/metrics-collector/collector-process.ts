/**
 * The metrics collector as the image runs it: its bundle (metrics-collector/dist/server.mjs,
 * built by webhook/bundle.ts) on Node 24, with the image's environment and the environment the
 * chart's Deployment sets. Stopped by its PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { REPO_ROOT } from '../helm.ts';
import { freePort } from '../ports.ts';
import { imageEnvironment, NODE24, serverBundle } from '../webhook-process.ts';

export interface CollectorProcess {
  url: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  logs(): string;
  close(): Promise<void>;
}

export interface CollectorProcessOptions {
  prometheusUrl: string;
  selector: string;
  /** More environment (QUERY_TIMEOUT_MS, PROMETHEUS_CA_FILE, ...), over the defaults. */
  env?: Record<string, string>;
  /** Wait for /readyz (default); false: return at once (a start expected to fail). */
  waitReady?: boolean;
}

export async function startCollectorProcess(options: CollectorProcessOptions): Promise<CollectorProcess> {
  const port = await freePort();
  const child = spawn(NODE24, [serverBundle('metrics-collector').entry], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH,
      ...imageEnvironment(),
      PROMETHEUS_URL: options.prometheusUrl,
      SERIES_SELECTOR: options.selector,
      HOST: '127.0.0.1',
      PORT: String(port),
      SHUTDOWN_DELAY_MS: '200',
      LOG_LEVEL: 'info',
      ...options.env,
    },
  });
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-1_000_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  if (options.waitReady === false) return { url, child, exited, logs: () => output, close };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the metrics collector exited with ${child.exitCode}:\n${output}`);
    if (await fetch(`${url}/readyz`).then((res) => res.status === 200, () => false)) break;
    if (Date.now() > deadline) {
      await close();
      throw new Error(`the metrics collector was not ready within 20 s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { url, child, exited, logs: () => output, close };
}
