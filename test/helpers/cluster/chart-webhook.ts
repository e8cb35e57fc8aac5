/**
 * The chart's webhook, installed into a test cluster and served by the real webhook process on
 * this machine, with the API server calling it through the chart's own registration.
 *
 * How the API server reaches a process on 127.0.0.1: it resolves a webhook's `service` reference
 * itself. For a Service of type ExternalName it dials `<externalName>:<port>` (the port of the
 * registration, 443 here) and still verifies the certificate for `<service>.<namespace>.svc`,
 * the name the webhook's self-managed certificate carries. Endpoints on loopback addresses are
 * refused by the API server, so the chart's Service is switched to `ExternalName: localhost`,
 * the one change made to what the chart installs; the registration (service name, namespace,
 * path, port, selectors, failurePolicy, caBundle written by the webhook) is the chart's own.
 *
 * The process runs as the chart's pod would: the environment of the chart's Deployment, the
 * configuration of its ConfigMap as the mounted files, and the identity of its ServiceAccount
 * (a token from the TokenRequest API), so every call it makes is authorised by the chart's RBAC.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHART_DIR, helmIn } from '../helm.ts';
import { Agent } from 'node:https';
import { httpsCall, imageRuntime, launchWebhook, type LaunchedWebhook } from '../webhook-process.ts';
import { eventually } from './shared.ts';
import { kubeconfigYaml, type Cluster, type CommandResult } from './control-plane.ts';

/** The port of the chart's registration and Service: the API server dials localhost:443. */
export const REGISTRATION_PORT = 443;

export interface ChartWebhook {
  namespace: string;
  release: string;
  /** The MutatingWebhookConfiguration's name. */
  configuration: string;
  process: LaunchedWebhook;
  /** Stops the process (the registration stays: the API server then meets failurePolicy). */
  stopProcess(): void;
  /** Starts the process again as before; resolves once it is ready. */
  startProcess(): Promise<void>;
  /**
   * helm upgrade --reuse-values with more --set items. Helm 4 applies server-side, and the
   * Service's type now belongs to the switch to ExternalName: the upgrade forces it back to the
   * chart's, then the switch is made again.
   */
  upgrade(set: string[]): Promise<CommandResult>;
  /** Uninstalls the release and stops the process. */
  remove(): Promise<void>;
  /** The admission requests the process has answered, by outcome, from its own metrics. */
  answered(): Promise<Record<string, number>>;
}

/** The one change to what the chart installs: the API server dials localhost, not a pod it could never reach. */
async function useLocalhost(cluster: Cluster, namespace: string, service: string): Promise<void> {
  const patched = await cluster.request('PATCH', `/api/v1/namespaces/${namespace}/services/${service}`, {
    spec: { type: 'ExternalName', externalName: 'localhost', clusterIP: null, clusterIPs: null, selector: null, internalTrafficPolicy: null, ipFamilies: null, ipFamilyPolicy: null, sessionAffinity: null },
  }, { contentType: 'application/merge-patch+json' });
  if (patched.status !== 200) throw new Error(`switching ${service} to ExternalName: ${patched.status} ${JSON.stringify(patched.body)}`);
}

export async function installChartWebhook(cluster: Cluster, options: { namespace: string; release: string; set?: string[] }): Promise<ChartWebhook> {
  const { namespace, release } = options;
  const helm = (args: string[]) => helmIn(cluster, 'helm', args);
  const sets = ['webhook.enabled=true', ...(options.set ?? [])].flatMap((item) => ['--set', item]);
  const installed = await helm(['install', release, CHART_DIR, '--namespace', namespace, '--create-namespace', ...sets]);
  if (installed.code !== 0) throw new Error(`helm install failed: ${installed.stderr}`);

  const manifest = await cluster.kubectl(['get', '-n', namespace, 'deployments,services,configmaps,serviceaccounts', '-l', `app.kubernetes.io/instance=${release},app.kubernetes.io/component=webhook`, '-o', 'json']);
  if (manifest.code !== 0) throw new Error(`reading the webhook's objects: ${manifest.stderr}`);
  const items: any[] = JSON.parse(manifest.stdout).items;
  const of = (kind: string) => {
    const found = items.filter((item) => item.kind === kind);
    if (found.length !== 1) throw new Error(`expected one webhook ${kind} in ${namespace}, found ${found.length}`);
    return found[0];
  };
  const deployment = of('Deployment');
  const service = of('Service');
  const configMap = of('ConfigMap');
  const serviceAccount = of('ServiceAccount');
  const container = deployment.spec.template.spec.containers.find((c: any) => c.name === 'webhook');
  const mwcs = await cluster.request('GET', `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations?labelSelector=app.kubernetes.io/instance%3D${release}`);
  const configuration: string = mwcs.body.items?.[0]?.metadata?.name;
  if (!configuration) throw new Error(`the chart installed no MutatingWebhookConfiguration for ${release}`);
  const port = mwcs.body.items[0].webhooks[0].clientConfig.service.port;
  if (port !== REGISTRATION_PORT) throw new Error(`the registration's port is ${port}, the tests serve ${REGISTRATION_PORT}`);

  const serviceName: string = service.metadata.name;
  await useLocalhost(cluster, namespace, serviceName);

  // The pod's files: the ConfigMap as mounted, a kubeconfig holding the ServiceAccount's token.
  const dir = join(cluster.dir, `webhook-${namespace}`);
  mkdirSync(join(dir, 'config'), { recursive: true });
  for (const [file, text] of Object.entries(configMap.data as Record<string, string>)) writeFileSync(join(dir, 'config', file), text);
  const token = await cluster.request('POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount.metadata.name}/token`, {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: { expirationSeconds: 3600 },
  });
  if (token.status !== 201) throw new Error(`TokenRequest for ${serviceAccount.metadata.name}: ${token.status} ${JSON.stringify(token.body)}`);
  writeFileSync(join(dir, 'kubeconfig'), kubeconfigYaml(cluster.url, cluster.ca, token.body.status.token), { mode: 0o600 });

  // The Deployment's environment, with its downward-API fields filled in as the kubelet would.
  const env: Record<string, string> = {};
  const podName = `${deployment.metadata.name}-test`;
  for (const variable of container.env ?? []) {
    const field = variable.valueFrom?.fieldRef?.fieldPath;
    env[variable.name] = field === 'metadata.name' ? podName : field === 'metadata.namespace' ? namespace : String(variable.value ?? '');
  }
  Object.assign(env, { KUBECONFIG: join(dir, 'kubeconfig'), CONFIG_DIR: join(dir, 'config'), SHUTDOWN_DELAY_MS: '0', LOG_LEVEL: 'info' });

  const start = () => launchWebhook(imageRuntime(), REGISTRATION_PORT, env).catch((err: Error) => {
    throw new Error(`${err.message}\n(the tests serve the webhook on 127.0.0.1:${REGISTRATION_PORT}, the registration's port: this needs root, or net.ipv4.ip_unprivileged_port_start=443)`);
  });
  const webhook: ChartWebhook = {
    namespace,
    release,
    configuration,
    process: await start(),
    stopProcess: () => webhook.process.kill(),
    startProcess: async () => {
      webhook.process.kill();
      await webhook.process.exited;
      webhook.process = await start();
    },
    upgrade: async (set) => {
      const upgraded = await helm(['upgrade', release, CHART_DIR, '--namespace', namespace, '--reuse-values', '--force-conflicts', ...set.flatMap((item) => ['--set', item])]);
      if (upgraded.code === 0) await useLocalhost(cluster, namespace, serviceName);
      return upgraded;
    },
    remove: async () => {
      webhook.process.kill();
      await helm(['uninstall', release, '--namespace', namespace]);
    },
    answered: async () => {
      const agent = new Agent({ rejectUnauthorized: false });
      try {
        const { text } = await httpsCall(agent, REGISTRATION_PORT, '/metrics');
        return Object.fromEntries([...text.matchAll(/^supersonic_webhook_requests_total\{outcome="([^"]+)"\} (\d+)/gm)].map((match) => [match[1]!, Number(match[2])]));
      } finally {
        agent.destroy();
      }
    },
  };
  // With self-managed TLS the process writes the CA into the registration: until then the API server cannot call it.
  if (!mwcs.body.items[0].metadata.annotations?.['cert-manager.io/inject-ca-from']) {
    await eventually(
      () => cluster.request('GET', `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${configuration}`),
      (res) => Boolean(res.body.webhooks?.[0]?.clientConfig?.caBundle),
      'the webhook to write its caBundle',
    );
  }
  return webhook;
}
