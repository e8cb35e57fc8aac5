/**
 * Memory of the real webhook process (the bundle, on Node 24, as the image runs it, logging at
 * info) with a cluster of 100 and of 5,000 GPU-Operator-shaped nodes in its view, served in pages
 * by a stand-in API server (test/helpers/big-cluster.ts). The process runs in a memory cgroup
 * under the chart's default limit, as in a pod: Node sizes its heap to the limit, and what is
 * charged to the group is what the limit, an OOM kill and `kubectl top` count. Also the time
 * from start to ready, which with 5,000 nodes must stay within a few times that with 100.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadKubeConfig } from '#core/kube/client.ts';
import { createCertificateAuthority, createServingCertificate, DAY_MS } from '../../webhook/src/tls/certificates.ts';
import { startNodeListServer } from '../helpers/big-cluster.ts';
import { createMemoryCgroup } from '../helpers/memory-cgroup.ts';
import { freePort } from '../helpers/ports.ts';
import { imageRuntime, launchWebhook } from '../helpers/webhook-process.ts';
import { testConfig } from '../helpers/webhook.ts';
import { log, megabytes, type Check } from './report.ts';
import { NODE_PAGE_SIZE as PAGE_SIZE } from '#core/gpu/inventory.ts';

export const MEMORY_TARGETS = {
  readyMb100: 96, // charged to the cgroup at ready, 100 nodes, at most
  peakMb5000: 160, // peak charged to the cgroup up to ready, 5,000 nodes, at most
  readyTimeRatio: 3, // time to ready with 5,000 nodes over that with 100, at most
};

interface Sample {
  nodes: number;
  readyMs: number;
  chargedAtReady: number;
  peak: number;
  listRequests: number;
}

export async function measureMemory(): Promise<Check[]> {
  const limit = String(testConfig().values.resources.limits?.memory ?? '');
  const samples: Sample[] = [];
  for (const nodes of [100, 5000]) samples.push(await sample(nodes, limit));
  const [small, large] = samples as [Sample, Sample];
  const ratio = large.readyMs / small.readyMs;
  const row = (s: Sample) => `${megabytes(s.chargedAtReady)} MB at ready, peak ${megabytes(s.peak)} MB, ready in ${s.readyMs} ms, ${s.listRequests} list pages`;
  return [
    { figure: `real process, 100 nodes (cgroup limit ${limit})`, value: row(small) },
    { figure: `real process, 5,000 nodes (cgroup limit ${limit})`, value: row(large) },
    { figure: 'memory charged at ready, 100 nodes', value: `${megabytes(small.chargedAtReady)} MB`, target: `≤ ${MEMORY_TARGETS.readyMb100} MB`, pass: small.chargedAtReady <= MEMORY_TARGETS.readyMb100 * 2 ** 20 },
    { figure: 'peak memory charged up to ready, 5,000 nodes', value: `${megabytes(large.peak)} MB`, target: `≤ ${MEMORY_TARGETS.peakMb5000} MB`, pass: large.peak <= MEMORY_TARGETS.peakMb5000 * 2 ** 20 },
    { figure: 'time to ready, 5,000 nodes / 100 nodes', value: ratio.toFixed(2), target: `≤ ${MEMORY_TARGETS.readyTimeRatio}`, pass: ratio <= MEMORY_TARGETS.readyTimeRatio },
  ];
}

/** Starts the real process against `nodes` nodes in a fresh memory cgroup; what it is charged, by ready. */
async function sample(nodes: number, limit: string): Promise<Sample> {
  const limitBytes = quantityBytes(limit);
  const name = `supersonic-bench-memory-${process.pid}-${nodes}`;
  const cgroup = createMemoryCgroup(name, limitBytes);
  if (!cgroup) throw new Error('no memory cgroup could be made (needs root and cgroup v1 or v2 with the memory controller)');
  const peakFile = ['/sys/fs/cgroup/memory/' + name + '/memory.max_usage_in_bytes', '/sys/fs/cgroup/' + name + '/memory.peak'].find((file) => existsSync(file));
  const api = await startNodeListServer(nodes);
  api.prepare(PAGE_SIZE);
  const work = mkdtempSync(join(tmpdir(), 'webhook-memory-'));
  let kill: (() => void) | undefined;
  let exited: Promise<unknown> | undefined;
  try {
    const authority = await createCertificateAuthority();
    const serving = await createServingCertificate(authority, { dnsNames: ['localhost'], validityMs: DAY_MS });
    writeFileSync(join(work, 'tls.crt'), serving.cert);
    writeFileSync(join(work, 'tls.key'), serving.key);
    writeFileSync(join(work, 'webhook.yaml'), stringify(testConfig().values));
    writeFileSync(join(work, 'kubeconfig'), loadKubeConfig(api.url).exportConfig());
    const runtime = imageRuntime();
    const port = await freePort();
    const started = Date.now();
    const launched = await launchWebhook({ ...runtime, command: cgroup.wrap(runtime.command) }, port, {
      KUBECONFIG: join(work, 'kubeconfig'), POD_NAME: 'webhook-0', POD_NAMESPACE: 'supersonic-system',
      SERVICE_NAME: 'supersonic-webhook', WEBHOOK_CONFIGURATION_NAME: 'supersonic-webhook', TLS_SECRET_NAME: 'supersonic-webhook-tls',
      TLS_SOURCE: 'files', TLS_DIR: work, CONFIG_DIR: work, SHUTDOWN_DELAY_MS: '0', LOG_LEVEL: 'info',
    });
    const readyMs = Date.now() - started;
    kill = launched.kill;
    exited = launched.exited;
    const chargedAtReady = cgroup.usageBytes();
    const peak = peakFile ? Number(readFileSync(peakFile, 'utf8')) : NaN;
    const listRequests = api.requests.filter((request) => request.startsWith('GET /api/v1/nodes?') && !request.includes('watch=true')).length;
    log(`real process with ${nodes} nodes: ready in ${readyMs} ms, ${megabytes(chargedAtReady)} MB charged, peak ${megabytes(peak)} MB`);
    return { nodes, readyMs, chargedAtReady, peak, listRequests };
  } finally {
    kill?.();
    await exited;
    await api.close();
    rmSync(work, { recursive: true, force: true });
    cgroup.remove();
  }
}

/** `256Mi`, `1.5Gi`, `300M` → bytes: the chart's memory quantities; 0 for none or another form. */
function quantityBytes(quantity: string): number {
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|k|M|G)?$/.exec(quantity);
  if (!match) return 0;
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, k: 1e3, M: 1e6, G: 1e9 }[match[2] ?? ''] ?? 1;
  return Math.round(Number(match[1]) * unit);
}

if (import.meta.main) {
  const { printReport } = await import('./report.ts');
  const checks = await measureMemory();
  printReport(checks);
  process.exitCode = checks.every((check) => check.pass !== false) ? 0 : 1;
}
