/**
 * A real Kubernetes control plane on 127.0.0.1, as controller-runtime's envtest runs one: etcd,
 * kube-apiserver (secure port, RBAC, service-account keys, the admission chain with the mutating
 * and validating webhook plugins, a token file for the identities the tests use), and, unless
 * asked not to, kube-scheduler and kube-controller-manager (without its node-lifecycle controller,
 * which would taint and evict Nodes that have no kubelet). The real CRDs in ../shared/crds are
 * installed. There is no kubelet: pods are stored, mutated, scheduled (bound to a Node object),
 * but never run. Every port is ephemeral; every process is stopped by its PID and every file
 * removed, also when the test process dies (a watchdog shell outlives it just long enough).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { REPO_ROOT } from '../helm.ts';
import { freePort } from '../ports.ts';
import { runCommand, type CommandResult } from '../run-command.ts';
import { kubeBinary, type KubeBinary } from './binaries.ts';

export const CRD_DIR = join(REPO_ROOT, '../shared/crds');
/** The CRD folders of ../shared/crds, all installed unless a test asks for none. */
export const CRD_FOLDERS = ['cert-manager', 'keda', 'knative-serving', 'prometheus-operator'] as const;

/**
 * Who the tests act as. Each has a bearer token in the API server's token file.
 * admin: system:masters. nobody: authenticated, with no role at all (for "denied" checks).
 */
export const IDENTITIES = {
  admin: { user: 'test-admin', groups: ['system:masters'] },
  nobody: { user: 'test-nobody', groups: [] as string[] },
} as const;
export type Identity = keyof typeof IDENTITIES;

export interface ClusterOptions {
  /** Install the CRDs of ../shared/crds (default: all of them). */
  crds?: readonly (typeof CRD_FOLDERS)[number][];
  /** Start kube-scheduler and kube-controller-manager (default true). */
  controllers?: boolean;
  /** More kube-apiserver flags, e.g. --watch-cache=false so that watches read etcd directly. */
  apiServerArgs?: string[];
}

export interface ApiResponse<T = any> {
  status: number;
  body: T;
}

export interface RequestOptions {
  as?: Identity;
  contentType?: string;
  /** Impersonate a user (and groups), as `kubectl --as` does. */
  impersonate?: { user: string; groups?: string[] };
}

export type { CommandResult };

export interface Cluster {
  /** https://127.0.0.1:<port> */
  url: string;
  /** PEM of the CA that signed the API server's serving certificate. */
  ca: string;
  /** An admin kubeconfig (system:masters). */
  kubeconfig: string;
  /** The folder holding the cluster's files (removed by stop()). */
  dir: string;
  /** Milliseconds from the first process started to the API server ready with its CRDs. */
  startMs: number;
  token(identity: Identity): string;
  request<T = any>(method: string, path: string, body?: unknown, options?: RequestOptions): Promise<ApiResponse<T>>;
  /** The kubectl built with the server, with the admin kubeconfig. */
  kubectl(args: string[], input?: string): Promise<CommandResult>;
  /** The last lines a component logged, to say why something failed. */
  logs(component: KubeBinary): string;
  /** Stops kube-apiserver and starts it again on the same port, with the same etcd. */
  restartApiServer(): Promise<void>;
  /** Compacts etcd up to its current revision: watches resuming from older versions get 410 Gone. */
  compactEtcd(): Promise<number>;
  stop(): Promise<void>;
}

interface Component {
  name: KubeBinary;
  args: string[];
  child?: ChildProcess;
  log: string;
}

export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'supersonic-cluster-'));
  const components: Component[] = [];
  const watchdog = startWatchdog(dir);
  const stop = async () => {
    for (const component of [...components].reverse()) await stopComponent(component);
    watchdog.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    return await bringUp(dir, components, started, stop, options, () => writePids(dir, components));
  } catch (err) {
    const logs = components.map((component) => `--- ${component.name}\n${component.log.slice(-3000)}`).join('\n');
    await stop();
    throw new Error(`the test cluster did not start: ${(err as Error).message}\n${logs}`);
  }
}

async function bringUp(
  dir: string,
  components: Component[],
  started: number,
  stop: () => Promise<void>,
  options: ClusterOptions,
  onSpawn: () => void,
): Promise<Cluster> {
  const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const ca = await writeServingCertificate(dir);
  const tokens = writeTokenFile(dir);
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(join(dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const url = `https://127.0.0.1:${apiPort}`;
  const kubeconfig = writeKubeconfig(dir, url, tokens.admin);
  const etcdUrl = `http://127.0.0.1:${etcdPort}`;

  const start = (component: Component) => {
    spawnComponent(component);
    onSpawn();
  };
  const etcd: Component = {
    name: 'etcd',
    log: '',
    args: [
      `--data-dir=${join(dir, 'etcd')}`, `--listen-client-urls=${etcdUrl}`, `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${peerPort}`, `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-cluster=default=http://127.0.0.1:${peerPort}`, '--unsafe-no-fsync', '--log-level=warn',
    ],
  };
  components.push(etcd);
  start(etcd);
  await waitUntil(() => plainGet(`${etcdUrl}/health`).then((body) => body.includes('"health":"true"')), 'etcd /health', etcd);

  const apiserver: Component = {
    name: 'kube-apiserver',
    log: '',
    args: [
      `--etcd-servers=${etcdUrl}`, '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1', `--secure-port=${apiPort}`,
      `--cert-dir=${dir}`, `--tls-cert-file=${join(dir, 'apiserver.crt')}`, `--tls-private-key-file=${join(dir, 'apiserver.key')}`,
      `--token-auth-file=${join(dir, 'tokens.csv')}`, '--authorization-mode=RBAC', '--anonymous-auth=false',
      '--service-cluster-ip-range=10.0.0.0/24', '--allow-privileged=true',
      // As envtest: without kubelet no ServiceAccount token is ever mounted, so its admission
      // plugin (which insists the pod's ServiceAccount exists) is off. TaintNodesByCondition is
      // off too: it taints every new Node not-ready, and only the node-lifecycle controller (not
      // run, see above) would lift the taint once a kubelet reports. The webhook plugins are on.
      '--disable-admission-plugins=ServiceAccount,TaintNodesByCondition', '--enable-admission-plugins=MutatingAdmissionWebhook,ValidatingAdmissionWebhook',
      `--service-account-issuer=https://kubernetes.default.svc.cluster.local`,
      `--service-account-key-file=${join(dir, 'sa.pub')}`, `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
      '--v=0',
      ...(options.apiServerArgs ?? []),
    ],
  };
  components.push(apiserver);
  start(apiserver);
  const request = makeRequest(url, ca, tokens);
  const waitReady = () =>
    waitUntil(() => request('GET', '/readyz').then((res) => res.status === 200), 'kube-apiserver /readyz', apiserver, 60_000);
  await waitReady();

  if (options.controllers !== false) {
    const common = [`--kubeconfig=${kubeconfig}`, '--leader-elect=false', '--secure-port=0', '-v=0'];
    const controllerManager: Component = {
      name: 'kube-controller-manager',
      log: '',
      // Every default controller but node-lifecycle, which would taint and evict Nodes whose
      // kubelet never reports. The signing key lets the token controller work as in a cluster.
      args: [...common, '--controllers=*,-nodelifecycle', `--service-account-private-key-file=${join(dir, 'sa.key')}`, `--root-ca-file=${join(dir, 'ca.crt')}`, '--use-service-account-credentials=false'],
    };
    const scheduler: Component = { name: 'kube-scheduler', log: '', args: common };
    components.push(controllerManager, scheduler);
    start(controllerManager);
    start(scheduler);
  }

  // kubectl's discovery cache in the cluster's folder, not ~/.kube/cache: an earlier cluster on the same port served other APIs.
  const kubectlEnv = { ...process.env, KUBECACHEDIR: join(dir, 'kube-cache') };
  const kubectl = (args: string[], input?: string) => runCommand(kubeBinary('kubectl'), ['--kubeconfig', kubeconfig, ...args], { input, env: kubectlEnv });
  await installCrds(request, options.crds ?? CRD_FOLDERS);

  return {
    url,
    ca,
    kubeconfig,
    dir,
    startMs: Date.now() - started,
    token: (identity) => tokens[identity],
    request,
    kubectl,
    logs: (name) => components.find((component) => component.name === name)?.log ?? '',
    restartApiServer: async () => {
      await stopComponent(apiserver);
      apiserver.log += '\n--- restarted\n';
      start(apiserver);
      await waitReady();
    },
    compactEtcd: async () => {
      const range = JSON.parse(await plainPost(`${etcdUrl}/v3/kv/range`, { key: Buffer.from('/').toString('base64') }));
      const revision = Number(range.header.revision);
      await plainPost(`${etcdUrl}/v3/kv/compaction`, { revision, physical: true });
      return revision;
    },
    stop,
  };
}

/**
 * Creates the CRDs of the given folders of ../shared/crds, all at once through the API (kubectl
 * would create them one by one after its own discovery), and waits until each is Established.
 */
async function installCrds(request: ReturnType<typeof makeRequest>, folders: readonly string[]): Promise<void> {
  const crds = folders.flatMap((folder) =>
    readdirSync(join(CRD_DIR, folder))
      .filter((file) => /\.ya?ml$/.test(file))
      .flatMap((file) => parseAllDocuments(readFileSync(join(CRD_DIR, folder, file), 'utf8')).map((doc) => ({ file: `${folder}/${file}`, crd: doc.toJS() })))
      .filter(({ crd }) => crd?.kind === 'CustomResourceDefinition'),
  );
  const path = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
  await Promise.all(crds.map(async ({ file, crd }) => {
    const created = await request('POST', path, crd);
    if (created.status !== 201) throw new Error(`creating the CRD in ${file}: ${created.status} ${JSON.stringify(created.body).slice(0, 500)}`);
  }));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const listed = await request('GET', path);
    const pending = (listed.body.items ?? []).filter((crd: any) => !crd.status?.conditions?.some((c: any) => c.type === 'Established' && c.status === 'True'));
    if (listed.status === 200 && listed.body.items.length === crds.length && pending.length === 0) return;
    if (Date.now() > deadline) throw new Error(`CRDs not Established after 60 s: ${pending.map((crd: any) => crd.metadata.name).join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function spawnComponent(component: Component): void {
  const child = spawn(kubeBinary(component.name), component.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (chunk: Buffer) => (component.log = (component.log + chunk).slice(-20_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  child.on('error', (err) => keep(Buffer.from(`spawn failed: ${err.message}\n`)));
  // The owner stops the cluster; a process that ends without doing so must not wait for it
  // (the watchdog cleans up then).
  child.unref();
  for (const stream of [child.stdout, child.stderr]) (stream as unknown as { unref(): void }).unref();
  component.child = child;
}

async function stopComponent(component: Component): Promise<void> {
  const child = component.child;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/**
 * A detached shell that waits for this process to end and then kills the cluster's processes
 * (their PIDs are kept in a file it reads then) and removes its folder: a test run killed with
 * SIGKILL leaves nothing behind.
 */
function startWatchdog(dir: string): ChildProcess {
  const pids = join(dir, 'pids');
  const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; [ -f '${pids}' ] && kill -9 $(cat '${pids}') 2>/dev/null; rm -rf '${dir}'`;
  const child = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' });
  child.unref();
  return child;
}

function writePids(dir: string, components: Component[]): void {
  writeFileSync(join(dir, 'pids'), components.map((component) => component.child?.pid).filter(Boolean).join(' ') + '\n');
}

/** A CA and a serving certificate for 127.0.0.1 and localhost, made with openssl. */
async function writeServingCertificate(dir: string): Promise<string> {
  const at = (name: string) => join(dir, name);
  writeFileSync(at('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  const steps = [
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=supersonic-test-ca', '-keyout', at('ca.key'), '-out', at('ca.crt')],
    ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=kube-apiserver', '-keyout', at('apiserver.key'), '-out', at('apiserver.csr')],
    ['x509', '-req', '-in', at('apiserver.csr'), '-CA', at('ca.crt'), '-CAkey', at('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', at('ext.cnf'), '-out', at('apiserver.crt')],
  ];
  for (const step of steps) {
    const result = await runCommand('openssl', step);
    if (result.code !== 0) throw new Error(`openssl ${step[0]} failed: ${result.stderr}`);
  }
  return readFileSync(at('ca.crt'), 'utf8');
}

function writeTokenFile(dir: string): Record<Identity, string> {
  const tokens = {} as Record<Identity, string>;
  const lines: string[] = [];
  for (const [identity, { user, groups }] of Object.entries(IDENTITIES) as [Identity, { user: string; groups: readonly string[] }][]) {
    tokens[identity] = `${identity}-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
    lines.push(`${tokens[identity]},${user},${user}${groups.length ? `,"${groups.join(',')}"` : ''}`);
  }
  writeFileSync(join(dir, 'tokens.csv'), lines.join('\n') + '\n');
  return tokens;
}

/** A kubeconfig for one identity; the admin's is the cluster's `kubeconfig`. */
export function kubeconfigYaml(url: string, caPem: string, token: string): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'supersonic-test', cluster: { server: url, 'certificate-authority-data': Buffer.from(caPem).toString('base64') } }],
    users: [{ name: 'supersonic-test', user: { token } }],
    contexts: [{ name: 'supersonic-test', context: { cluster: 'supersonic-test', user: 'supersonic-test' } }],
    'current-context': 'supersonic-test',
  });
}

function writeKubeconfig(dir: string, url: string, token: string): string {
  const path = join(dir, 'kubeconfig');
  writeFileSync(path, kubeconfigYaml(url, readFileSync(join(dir, 'ca.crt'), 'utf8'), token), { mode: 0o600 });
  return path;
}

function makeRequest(url: string, ca: string, tokens: Record<Identity, string>) {
  return <T = any>(method: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<ApiResponse<T>> =>
    new Promise((resolve, reject) => {
      const headers: Record<string, string | string[]> = { authorization: `Bearer ${tokens[options.as ?? 'admin']}`, accept: 'application/json' };
      const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
      if (payload !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
      if (options.impersonate) {
        headers['impersonate-user'] = options.impersonate.user;
        if (options.impersonate.groups?.length) headers['impersonate-group'] = options.impersonate.groups;
      }
      const req = httpsRequest(new URL(path, url), { method, headers, ca }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => {
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // /readyz and friends answer plain text
          }
          resolve({ status: res.statusCode ?? 0, body: parsed as T });
        });
      });
      req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path} timed out`)));
      req.on('error', reject);
      req.end(payload);
    });
}

function plainGet(url: string): Promise<string> {
  return plainCall(url, 'GET');
}

function plainPost(url: string, body: unknown): Promise<string> {
  return plainCall(url, 'POST', JSON.stringify(body));
}

function plainCall(url: string, method: string, body?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      let text = '';
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`${method} ${url}: ${res.statusCode} ${text}`))));
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${url} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Polls until `check` is true; fails naming what it waited for once the process died or time ran out. */
async function waitUntil(check: () => Promise<boolean>, what: string, component: Component, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    const child = component.child;
    if (child && (child.exitCode !== null || child.signalCode !== null)) throw new Error(`${component.name} exited (${child.exitCode ?? child.signalCode}) before ${what}`);
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
