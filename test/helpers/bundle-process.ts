/**
 * A server of the image started as the image runs it: its bundle (built by webhook/bundle.ts)
 * on Node 24, with the image's environment plus the chart's, on 127.0.0.1 and a free port, its
 * output kept for failure messages, stopped by its PID. The dispatcher's and the metrics
 * collector's test helpers add what each needs (a ConfigMap folder, Prometheus's address).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { ServerName } from '../../webhook/bundle.ts';
import { REPO_ROOT } from './helm.ts';
import { freePort } from './ports.ts';
import { imageEnvironment, NODE24, serverBundle } from './webhook-process.ts';

export interface BundleProcess {
  url: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  logs(): string;
  close(): Promise<void>;
}

export interface BundleProcessOptions {
  /** The chart's environment for this server (HOST and PORT are set here). */
  env: Record<string, string | undefined>;
  /** Wait for /readyz (default); false: return at once (a start expected to fail). */
  waitReady?: boolean;
  readyTimeoutMs?: number;
  /** Run after the process is gone (a temporary folder to remove). */
  cleanup?: () => void;
}

export async function startBundleProcess(server: ServerName, options: BundleProcessOptions): Promise<BundleProcess> {
  const port = await freePort();
  const child = spawn(NODE24, [serverBundle(server).entry], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH, ...imageEnvironment(), HOST: '127.0.0.1', PORT: String(port), ...options.env },
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
    options.cleanup?.();
  };
  const running: BundleProcess = { url, child, exited, logs: () => output, close };
  if (options.waitReady === false) return running;
  const timeout = options.readyTimeoutMs ?? 30_000;
  const deadline = Date.now() + timeout;
  for (;;) {
    if (child.exitCode !== null) {
      await close();
      throw new Error(`the ${server} exited with ${child.exitCode}:\n${output}`);
    }
    if (await fetch(`${url}/readyz`).then((res) => res.status === 200, () => false)) return running;
    if (Date.now() > deadline) {
      await close();
      throw new Error(`the ${server} was not ready within ${timeout / 1000} s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
