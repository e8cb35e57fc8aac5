/**
 * Debian's Prometheus 2.42 (/usr/bin/prometheus) on 127.0.0.1, scraping every second a static
 * target this helper serves: synthetic Triton /metrics text, with the `namespace` and `pod` labels
 * a Kubernetes scrape would give (static_configs labels), one target per pod. Ready once the
 * first GPU sample can be queried; stopped by its PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../ports.ts';

export const PROMETHEUS_BINARY = '/usr/bin/prometheus';

export interface ScrapedPod {
  namespace: string;
  pod: string;
  /** Triton's /metrics text for this pod. */
  metrics: string;
}

export interface RealPrometheus {
  url: string;
  close(): Promise<void>;
}

export function requirePrometheus(): void {
  if (!existsSync(PROMETHEUS_BINARY)) throw new Error(`${PROMETHEUS_BINARY} is missing: apt-get install -y --no-install-recommends prometheus (test/tools/install-tools.sh)`);
}

export async function startRealPrometheus(pods: ScrapedPod[], readyQuery = 'count(nv_gpu_utilization)'): Promise<RealPrometheus> {
  requirePrometheus();
  const work = mkdtempSync(join(tmpdir(), 'collector-prometheus-'));
  // One HTTP server; each pod's text at its own path.
  const target: Server = createServer((req, res) => {
    const index = Number(/^\/pod\/(\d+)$/.exec(req.url ?? '')?.[1]);
    const pod = pods[index];
    if (!pod) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(pod.metrics);
  });
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  const targetPort = (target.address() as { port: number }).port;
  const scrapeConfigs = pods.map((pod, i) => [
    `  - job_name: triton-${i}`,
    `    metrics_path: /pod/${i}`,
    '    static_configs:',
    `      - targets: ['127.0.0.1:${targetPort}']`,
    `        labels: {namespace: ${JSON.stringify(pod.namespace)}, pod: ${JSON.stringify(pod.pod)}}`,
  ].join('\n'));
  writeFileSync(join(work, 'prometheus.yml'), `global: {scrape_interval: 1s, scrape_timeout: 1s}\nscrape_configs:\n${scrapeConfigs.join('\n')}\n`);
  const port = await freePort();
  let output = '';
  const child: ChildProcess = spawn(PROMETHEUS_BINARY, [
    `--config.file=${join(work, 'prometheus.yml')}`, `--storage.tsdb.path=${join(work, 'data')}`, `--web.listen-address=127.0.0.1:${port}`,
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (chunk) => (output = (output + chunk).slice(-20_000)));
  child.stderr!.on('data', (chunk) => (output = (output + chunk).slice(-20_000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    await new Promise((resolve) => target.close(resolve));
    rmSync(work, { recursive: true, force: true });
  };
  // The first scrape lands a few seconds after start: poll for a sample of every pod.
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      await close();
      throw new Error(`prometheus exited with ${child.exitCode}:\n${output}`);
    }
    const count = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(readyQuery)}`)
      .then((res) => res.json() as Promise<any>)
      .then((body) => Number(body?.data?.result?.[0]?.value?.[1] ?? 0), () => 0);
    if (count >= pods.length) break;
    if (Date.now() > deadline) {
      await close();
      throw new Error(`prometheus had no sample of ${readyQuery} within 30 s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return { url, close };
}
