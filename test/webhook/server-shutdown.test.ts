/**
 * The real webhook process under load, then SIGTERM: readiness turns off first, requests in
 * flight finish, and the process exits 0. The load stops sending new requests once readiness
 * fails, as the Service does when the pod leaves its endpoints; every request sent must get a
 * valid answer. Everything runs on 127.0.0.1, bounded in count and time.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { createCertificateAuthority, createServingCertificate, DAY_MS } from '../../webhook/src/tls/certificates.ts';
import { REPO_ROOT } from '../helpers/helm.ts';
import { startKubeStub } from '../helpers/kube-stub.ts';
import { FIXTURES, NODES, testConfig } from '../helpers/webhook.ts';

const shutdown = suite('webhook process: SIGTERM under load');
const MAX_REQUESTS = 5000;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function post(agent: Agent, port: number, path: string, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: body ? 'POST' : 'GET', servername: 'localhost', agent, headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

shutdown('requests in flight at SIGTERM finish; none sent before readiness fails is lost', async () => {
  const work = mkdtempSync(join(tmpdir(), 'webhook-process-'));
  const ca = await createCertificateAuthority();
  const serving = await createServingCertificate(ca, { dnsNames: ['localhost'], validityMs: DAY_MS });
  writeFileSync(join(work, 'tls.crt'), serving.cert);
  writeFileSync(join(work, 'tls.key'), serving.key);
  writeFileSync(join(work, 'webhook.yaml'), stringify(testConfig().values));

  const stub = await startKubeStub();
  for (const node of NODES) stub.put('/api/v1/nodes', node);
  stub.put('/api/v1/namespaces/cms/persistentvolumeclaims', { metadata: { name: 'cvmfs', namespace: 'cms' }, spec: { storageClassName: 'cvmfs' } });
  writeFileSync(join(work, 'kubeconfig'), stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'stub',
    // client-node refuses plain http unless TLS checks are off; the stand-in is http on 127.0.0.1.
    clusters: [{ name: 'stub', cluster: { server: stub.url, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'stub', user: {} }],
    contexts: [{ name: 'stub', context: { cluster: 'stub', user: 'stub' } }],
  }));

  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'webhook/src/server.ts'], {
    cwd: REPO_ROOT,
    env: {
      ...process.env, KUBECONFIG: join(work, 'kubeconfig'), POD_NAME: 'webhook-0', POD_NAMESPACE: 'supersonic-system',
      SERVICE_NAME: 'supersonic-webhook', WEBHOOK_CONFIGURATION_NAME: 'x', TLS_SECRET_NAME: 'x', TLS_SOURCE: 'files',
      TLS_DIR: work, CONFIG_DIR: work, SCHEMA_FILE: join(REPO_ROOT, 'chart/supersonic/values.schema.json'),
      PORT: String(port), SHUTDOWN_DELAY_MS: '1500', LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

  try {
    const agent = new Agent({ ca: ca.cert, keepAlive: true, maxSockets: 8 });
    const probe = new Agent({ ca: ca.cert });
    const deadline = Date.now() + 30_000;
    while ((await post(probe, port, '/readyz').catch(() => ({ status: 0 }))).status !== 200) {
      assert.ok(Date.now() < deadline, `the webhook never became ready: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    const body = readFileSync(join(FIXTURES, 'create-several-containers', 'review.json'), 'utf8');
    let sent = 0;
    let stopSending = false;
    const failures: string[] = [];
    let signalled = false;
    const worker = async () => {
      while (!stopSending && sent < MAX_REQUESTS) {
        sent++;
        try {
          const { status, text } = await post(agent, port, '/mutate', body);
          const answer = JSON.parse(text);
          if (status !== 200 || answer.response?.allowed !== true || !answer.response.patch) failures.push(`${status} ${text.slice(0, 200)}`);
        } catch (err) {
          failures.push(String(err));
        }
        if (sent >= 300 && !signalled) {
          signalled = true;
          child.kill('SIGTERM');
        }
      }
    };
    // The Service's view: requests keep coming, on kept-alive connections too, for a while
    // after readiness fails (endpoint removal takes time to reach every node), then stop.
    // The webhook waits SHUTDOWN_DELAY_MS (1.5 s) before closing; the lag here is 1 s.
    let notReadySince = 0;
    const watchReadiness = async () => {
      while (!stopSending) {
        const status = (await post(probe, port, '/readyz').catch(() => ({ status: 0 }))).status;
        if (signalled && status !== 200 && !notReadySince) notReadySince = Date.now();
        if ((notReadySince && Date.now() - notReadySince > 1000) || sent >= MAX_REQUESTS) stopSending = true;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    await Promise.all([watchReadiness(), ...Array.from({ length: 8 }, worker)]);
    agent.destroy();
    probe.destroy();

    assert.ok(signalled, 'SIGTERM was never sent');
    assert.ok(notReadySince, 'readiness never turned off after SIGTERM');
    assert.equal(failures, [], `${failures.length} of ${sent} requests failed`);
    assert.ok(sent >= 300, `only ${sent} requests`);
    assert.is(await exited, 0, `exit code; stderr: ${stderr}`);
  } finally {
    child.kill('SIGKILL');
    await stub.close();
  }
});

shutdown.run();
