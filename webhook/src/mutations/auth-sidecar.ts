/**
 * The auth sidecar (`auth: enabled`): Envoy as a native sidecar (an init container with
 * `restartPolicy: Always`, Kubernetes 1.29+), so it starts before the app and stops after it.
 * It listens on `listenPort` and forwards requests carrying a valid JWT to the app on
 * localhost. Its configuration is the chart-rendered bootstrap, passed inline with
 * `--config-yaml`, since a ConfigMap of the webhook's namespace cannot be mounted elsewhere.
 */
import { ANNOTATIONS, PREFIX } from '../annotations.ts';
import { nothing, type MutationContext, type MutationResult } from './context.ts';

export const AUTH_SIDECAR = 'supersonic-auth';

export function injectAuthSidecar(pod: Record<string, any>, ctx: MutationContext): MutationResult {
  const asked = ctx.asks[ANNOTATIONS.auth];
  if (asked === undefined || asked === 'disabled') return nothing;
  if (asked !== 'enabled') return { ...nothing, denied: `annotation ${PREFIX}${ANNOTATIONS.auth}: "${asked}" must be "enabled" or "disabled"` };
  const settings = ctx.config.values.injection.auth;
  const bootstrap = ctx.config.authSidecarBootstrap;
  if (!settings.issuer || !settings.jwksUri || !bootstrap) {
    return { ...nothing, denied: 'the auth sidecar was asked for, but the webhook has no token issuer configured (webhook.injection.auth.issuer and jwksUri)' };
  }
  pod.spec.initContainers ??= [];
  // Per-item check: one sidecar, whoever added it.
  if (pod.spec.initContainers.some((c: any) => c?.name === AUTH_SIDECAR)) return { injected: true, warnings: [] };
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
    resources: settings.resources,
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
        return `the auth sidecar listens on port ${port} (name "auth"), which container ${container.name} already declares; change webhook.injection.auth.listenPort or the container's port`;
      }
    }
  }
  return undefined;
}
