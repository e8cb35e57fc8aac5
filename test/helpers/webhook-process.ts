/**
 * The real webhook process, started as its image starts it (the bundle webhook/bundle.ts
 * builds, on the image's runtime and with its environment), or from the sources as a developer
 * runs it, with the test configuration and a stand-in API server holding the test nodes, a
 * CVMFS claim in namespace cms and the webhook's registration. TLS comes from files (as
 * cert-manager mounts them) or is self-managed (the process makes its CA, keeps it in a Secret
 * of the stand-in and writes the registration's caBundle).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { Metafile } from 'esbuild';
import { dockerfileEnv } from '../../webhook/image/build-image.ts';
import { bundleServer, ENTRY_FILE, type ServerName } from '../../webhook/bundle.ts';
import { loadKubeConfig } from '#core/kube/client.ts';
import { createCertificateAuthority, createServingCertificate, DAY_MS } from '../../webhook/src/tls/certificates.ts';
import { REPO_ROOT } from './helm.ts';
import { freePort } from './ports.ts';
import { startKubeStub, type KubeStub } from './kube-stub.ts';
import { NODES, testConfig } from './webhook.ts';
import type { WebhookConfig } from '../../webhook/src/config.ts';

export interface Runtime {
  name: string;
  /** The program, its arguments and the script it runs. */
  command: string[];
}

/** The runtime of webhook/Dockerfile's image, installed by test/tools/install-tools.sh. */
export const NODE24 = join(REPO_ROOT, '.tools/node24/bin/node');

const bundles = new Map<ServerName, { entry: string; metafile: Metafile }>();

/** The image's entry point, built once per test process from the current sources, and what esbuild says of it. */
export function webhookBundle(): { entry: string; metafile: Metafile } {
  return serverBundle('webhook');
}

/** A server's bundle, built once per test run into a scratch folder. */
export function serverBundle(server: ServerName): { entry: string; metafile: Metafile } {
  let built = bundles.get(server);
  if (!built) {
    const dir = mkdtempSync(join(tmpdir(), `${server}-bundle-`));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    built = { entry: join(dir, ENTRY_FILE), metafile: bundleServer(server, dir) };
    bundles.set(server, built);
  }
  return built;
}

/** What webhook/Dockerfile's image runs: the bundle, on Node 24. */
export function imageRuntime(): Runtime {
  if (!existsSync(NODE24)) throw new Error(`${NODE24} is missing: run make tools`);
  return { name: 'the bundle on Node 24, as in the image', command: [NODE24, webhookBundle().entry] };
}

/** The image's environment (the ENV lines of the Dockerfile's last stage). */
export function imageEnvironment(): Record<string, string> {
  return dockerfileEnv();
}

/** The image's way, and the TypeScript sources on this Node (24), as a developer runs them. */
export function runtimes(): Runtime[] {
  return [imageRuntime(), { name: `the sources on Node ${process.versions.node}`, command: [process.execPath, 'webhook/src/server.ts'] }];
}

/** The names the process is started with. */
export const NAMESPACE = 'supersonic-system';
export const SERVICE = 'supersonic-webhook';
export const CONFIGURATION = 'supersonic-webhook';
export const TLS_SECRET = 'supersonic-webhook-tls';
export const SECRETS = `/api/v1/namespaces/${NAMESPACE}/secrets`;
export const MWCS = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';

export interface WebhookProcess {
  port: number;
  /** PEM of the CA that signed the serving certificate. */
  ca: string;
  /** The name the serving certificate is for: "localhost" (files) or the Service's DNS name. */
  servername: string;
  stub: KubeStub;
  child: ChildProcess;
  exited: Promise<number | null>;
  stderr(): string;
  /** What the process logged to stdout, the most recent 1 MB. */
  logs(): string;
  /** Where tls.crt and tls.key are (TLS from files): write a new pair there to have it reloaded. */
  tlsDir: string;
  /** Kills the process if still running, stops the stand-in API server, removes the files. */
  close(): Promise<void>;
}

export interface WebhookProcessOptions {
  shutdownDelayMs?: number;
  logLevel?: string;
  tls?: 'files' | 'self-managed';
  /** Changes to the test configuration (the chart's default `webhook` values) before the process reads it. */
  editValues?: (values: WebhookConfig['values']) => void;
}

export async function startWebhookProcess(runtime: Runtime, options: WebhookProcessOptions = {}): Promise<WebhookProcess> {
  const work = mkdtempSync(join(tmpdir(), 'webhook-process-'));
  const selfManaged = options.tls === 'self-managed';
  let ca = '';
  let stub: KubeStub;
  try {
    if (!selfManaged) ca = await writeServingCertificate(work);
    const { values } = testConfig();
    options.editValues?.(values);
    writeFileSync(join(work, 'webhook.yaml'), stringify(values));
    stub = await startKubeStub();
  } catch (err) {
    rmSync(work, { recursive: true, force: true });
    throw err;
  }
  for (const node of NODES) stub.put('/api/v1/nodes', node);
  stub.put('/api/v1/namespaces/cms/persistentvolumeclaims', { metadata: { name: 'cvmfs', namespace: 'cms' }, spec: { storageClassName: 'cvmfs' } });
  stub.put(MWCS, {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: CONFIGURATION },
    webhooks: [{ name: 'pods.supersonic.fastmachinelearning.org', clientConfig: { service: { name: SERVICE, namespace: NAMESPACE, path: '/mutate' } } }],
  });
  // The same stand-in configuration the in-process tests use, written out for the process.
  writeFileSync(join(work, 'kubeconfig'), loadKubeConfig(stub.url).exportConfig());

  const port = await freePort();
  let launched: LaunchedWebhook | undefined;
  const close = async () => {
    launched?.kill();
    await stub.close();
    rmSync(work, { recursive: true, force: true });
  };
  try {
    launched = await launchWebhook(runtime, port, {
      KUBECONFIG: join(work, 'kubeconfig'), POD_NAME: 'webhook-0', POD_NAMESPACE: NAMESPACE,
      SERVICE_NAME: SERVICE, WEBHOOK_CONFIGURATION_NAME: CONFIGURATION, TLS_SECRET_NAME: TLS_SECRET,
      TLS_SOURCE: selfManaged ? 'self-managed' : 'files', TLS_DIR: work, CONFIG_DIR: work,
      SHUTDOWN_DELAY_MS: String(options.shutdownDelayMs ?? 1500), LOG_LEVEL: options.logLevel ?? 'warn',
    });
    if (selfManaged) ca = Buffer.from(stub.get(SECRETS, TLS_SECRET)?.data?.['ca.crt'] ?? '', 'base64').toString();
  } catch (err) {
    await close();
    throw err;
  }
  const servername = selfManaged ? `${SERVICE}.${NAMESPACE}.svc` : 'localhost';
  const { child, exited, stderr, logs } = launched;
  return { port, ca, servername, stub, child, exited, stderr, logs, tlsDir: work, close };
}

export interface LaunchedWebhook {
  child: ChildProcess;
  exited: Promise<number | null>;
  stderr(): string;
  /** What the process logged to stdout (JSON lines), the most recent 1 MB. */
  logs(): string;
  kill(): void;
}

/**
 * Starts the webhook process on 127.0.0.1:`port` with the image's environment plus `env`, and
 * waits until it answers /readyz. The caller owns the files `env` points at.
 */
export async function launchWebhook(runtime: Runtime, port: number, env: Record<string, string>): Promise<LaunchedWebhook> {
  const [program, ...args] = runtime.command;
  const child = spawn(program!, args, {
    cwd: REPO_ROOT,
    env: {
      ...process.env, ...imageEnvironment(), SCHEMA_FILE: join(REPO_ROOT, 'chart/supersonic/values.schema.json'),
      ...env, HOST: '127.0.0.1', PORT: String(port),
    },
    // Logs go through a pipe that is read, as a container runtime reads them.
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let logs = '';
  child.stdout!.on('data', (chunk) => (logs = (logs + chunk).slice(-1_000_000)));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  let spawnError: Error | undefined;
  child.on('error', (err) => (spawnError = err));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const kill = () => void child.kill('SIGKILL');

  // Readiness is probed without checking the certificate: a self-managed CA exists only once
  // the process has made it. Callers check it themselves.
  const probe = new Agent({ rejectUnauthorized: false });
  try {
    const deadline = Date.now() + 30_000;
    while ((await httpsCall(probe, port, '/readyz').catch(() => ({ status: 0 }))).status !== 200) {
      const gone = spawnError?.message ?? (child.exitCode !== null || child.signalCode !== null ? `exited (${child.exitCode ?? child.signalCode})` : undefined);
      if (gone || Date.now() > deadline) throw new Error(`the webhook (${runtime.name}) never became ready: ${gone ?? 'timed out'}; ${stderr}${logs.slice(-2000)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } catch (err) {
    kill();
    throw err;
  } finally {
    probe.destroy();
  }
  return { child, exited, stderr: () => stderr, logs: () => logs, kill };
}

/** A serving certificate for "localhost", as cert-manager would mount it; returns its CA. */
async function writeServingCertificate(dir: string): Promise<string> {
  const authority = await createCertificateAuthority();
  const serving = await createServingCertificate(authority, { dnsNames: ['localhost'], validityMs: DAY_MS });
  writeFileSync(join(dir, 'tls.crt'), serving.cert);
  writeFileSync(join(dir, 'tls.key'), serving.key);
  return authority.cert;
}

/** One request to the webhook on 127.0.0.1: POST when there is a body, else GET. */
export function httpsCall(agent: Agent, port: number, path: string, body?: string, servername = 'localhost'): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: body ? 'POST' : 'GET', servername, agent, headers: { 'content-type': 'application/json' } },
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
