/**
 * The auth sidecar (`auth: enabled`): Envoy as a native sidecar (an init container with
 * `restartPolicy: Always`, Kubernetes 1.29+), so it starts before the app and stops after it.
 * It listens on `listenPort` and forwards requests carrying a valid JWT to the app on
 * localhost. Its configuration is the chart-rendered bootstrap, passed inline with
 * `--config-yaml`, since a ConfigMap of the webhook's namespace cannot be mounted elsewhere.
 *
 * Refused, with the reason: a pod with hostNetwork (the sidecar would listen on the node, and
 * the app's own port would be open on the node's addresses anyway), and a pod that already has
 * a container of the sidecar's name, or its port or port name, for something else.
 */
import { ANNOTATIONS, PREFIX } from '../annotations.ts';
import { clip, quote } from '#core/text/quote.ts';
import type { V1ResourceRequirements } from '@kubernetes/client-node';
import { nothing, type MutablePod, type Mutation, type MutationContext, type MutationResult } from './context.ts';

export const AUTH_SIDECAR = 'supersonic-auth';

/**
 * What is wrong with an `auth` value, or undefined (a sentence that does not name the
 * annotation, for the pod's path and the start-up check of namespace defaults alike).
 */
export function authValueProblem(value: string): string | undefined {
  return value === 'enabled' || value === 'disabled' ? undefined : `${quote(value)} must be "enabled" or "disabled"`;
}

/**
 * The sidecar this mutation wrote (on a previous pass, or in the pod a mutated one was copied
 * from): its name, as a native sidecar running Envoy with an inline configuration. The API
 * server fills in defaults (imagePullPolicy and the like) between passes, and the image may
 * have changed since with the chart, so it is recognised by these fields, not compared whole.
 */
export function isAuthSidecar(container: unknown): boolean {
  const c = container as Record<string, any> | null;
  return (
    c?.name === AUTH_SIDECAR &&
    c.restartPolicy === 'Always' &&
    Array.isArray(c.command) &&
    c.command[0] === 'envoy' &&
    Array.isArray(c.args) &&
    c.args.includes('--config-yaml')
  );
}

export const authSidecarMutation: Mutation = { name: 'auth', apply: injectAuthSidecar };

function injectAuthSidecar(pod: MutablePod, ctx: MutationContext): MutationResult {
  const asked = ctx.asks[ANNOTATIONS.auth];
  if (asked === undefined || asked === 'disabled') return nothing;
  const problem = authValueProblem(asked);
  if (problem) return { ...nothing, denied: `annotation ${PREFIX}${ANNOTATIONS.auth}: ${problem}` };
  const settings = ctx.config.values.injection.auth;
  const bootstrap = ctx.config.authSidecarBootstrap;
  if (!settings.issuer || !settings.jwksUri || !bootstrap) {
    return { ...nothing, denied: 'the auth sidecar was asked for, but the webhook has no token issuer configured (webhook.injection.auth.issuer and jwksUri)' };
  }
  if (ctx.original.spec?.hostNetwork === true) {
    return {
      ...nothing,
      denied:
        `auth: the pod uses hostNetwork, so the sidecar would listen on port ${settings.listenPort} of the node, and the app's own port ` +
        `would be open on the node's addresses without a token; run the pod without hostNetwork, or set ${PREFIX}${ANNOTATIONS.auth}: disabled`,
    };
  }
  pod.spec.initContainers ??= [];
  // Per-item check: one sidecar, ours; a container of the pod's own by that name is refused.
  const named = [...pod.spec.containers, ...pod.spec.initContainers].find((c: any) => c?.name === AUTH_SIDECAR);
  if (named !== undefined) {
    if (pod.spec.initContainers.includes(named) && isAuthSidecar(named)) return { injected: true, warnings: [] };
    return { ...nothing, denied: `auth: the pod already has a container named ${AUTH_SIDECAR}, which is not the webhook's sidecar; rename it (the webhook adds the sidecar under that name)` };
  }
  const clash = portClash(pod, settings.listenPort);
  if (clash) return { ...nothing, denied: clash };
  pod.spec.initContainers.push({
    name: AUTH_SIDECAR,
    image: settings.image,
    restartPolicy: 'Always',
    command: ['envoy'],
    args: ['--config-yaml', bootstrap, '--concurrency', '1'],
    ports: [{ name: 'auth', containerPort: settings.listenPort, protocol: 'TCP' }],
    readinessProbe: { tcpSocket: { port: settings.listenPort }, periodSeconds: 5 },
    // The values may write a quantity as a number (cpu: 1), which the API accepts as JSON.
    resources: settings.resources as V1ResourceRequirements,
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      runAsUser: 101,
      seccompProfile: { type: 'RuntimeDefault' },
    },
  });
  return { injected: true, warnings: [`auth sidecar: requests to port ${settings.listenPort} need a token from ${settings.issuer}`] };
}

/** The sidecar shares the pod's network: its port (and port name) must be free. */
function portClash(pod: Record<string, any>, port: number): string | undefined {
  const containers = [...(pod.spec.containers ?? []), ...(pod.spec.initContainers ?? [])];
  for (const container of containers) {
    for (const declared of Array.isArray(container?.ports) ? container.ports : []) {
      if (declared?.containerPort === port || declared?.name === 'auth') {
        return `the auth sidecar listens on port ${port} (name "auth"), which container ${clip(container.name)} already declares; change webhook.injection.auth.listenPort or the container's port`;
      }
    }
  }
  return undefined;
}
