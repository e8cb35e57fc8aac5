/**
 * The dispatcher as the image runs it: its bundle (dispatcher/dist/server.mjs, built by
 * webhook/bundle.ts) on Node 24, with the image's environment, the chart's environment
 * variables and a ConfigMap folder, against the test control plane. Stopped by its PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { DispatcherValues } from '../../../dispatcher/src/config.ts';
import { REPO_ROOT } from '../helm.ts';
import { freePort } from '../ports.ts';
import { imageEnvironment, NODE24, serverBundle } from '../webhook-process.ts';

export interface DispatcherProcess {
  url: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  /** Writes a new dispatcher.yaml into the ConfigMap folder (the kubelet's update). */
  writeConfig(text: string): void;
  logs(): string;
  close(): Promise<void>;
}

export async function startDispatcherProcess(options: { kubeconfig: string; namespace: string; instance: string; values: DispatcherValues; shutdownDelayMs?: number }): Promise<DispatcherProcess> {
  const configDir = mkdtempSync(join(tmpdir(), 'dispatcher-config-'));
  const writeConfig = (text: string) => writeFileSync(join(configDir, 'dispatcher.yaml'), text);
  writeConfig(stringify(options.values));
  const port = await freePort();
  const child = spawn(NODE24, [serverBundle('dispatcher').entry], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH,
      ...imageEnvironment(),
      KUBECONFIG: options.kubeconfig,
      POD_NAMESPACE: options.namespace,
      RELEASE_NAME: options.instance,
      SERVICE_NAMESPACE: options.namespace,
      CONFIG_DIR: configDir,
      SCHEMA_FILE: join(REPO_ROOT, 'chart/supersonic/values.schema.json'),
      HOST: '127.0.0.1',
      PORT: String(port),
      SHUTDOWN_DELAY_MS: String(options.shutdownDelayMs ?? 200),
      LOG_LEVEL: 'info',
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
    rmSync(configDir, { recursive: true, force: true });
  };
  // Ready: the configuration read, and the nodes, pods and Services listed.
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      await close();
      throw new Error(`the dispatcher exited with ${child.exitCode}:\n${output}`);
    }
    const ready = await fetch(`${url}/readyz`).then((res) => res.status === 200, () => false);
    if (ready) break;
    if (Date.now() > deadline) {
      await close();
      throw new Error(`the dispatcher was not ready within 30 s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { url, child, exited, writeConfig, logs: () => output, close };
}
