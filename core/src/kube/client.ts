/**
 * Kubernetes client set-up shared by the webhook and the dispatcher.
 */
import { KubeConfig } from '@kubernetes/client-node';

/**
 * In a pod, the service account's credentials; elsewhere, $KUBECONFIG or ~/.kube/config.
 * Tests pass `server` to talk to an in-process stand-in for the API server.
 */
export function loadKubeConfig(server?: string): KubeConfig {
  const config = new KubeConfig();
  if (server) {
    config.loadFromOptions({
      clusters: [{ name: 'stub', server, skipTLSVerify: true }],
      users: [{ name: 'stub' }],
      contexts: [{ name: 'stub', cluster: 'stub', user: 'stub' }],
      currentContext: 'stub',
    });
  } else if (process.env.KUBERNETES_SERVICE_HOST) {
    config.loadFromCluster();
  } else {
    config.loadFromDefault();
  }
  return config;
}
