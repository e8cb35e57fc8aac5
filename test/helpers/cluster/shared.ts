/**
 * One real control plane per test run, shared by every test file that needs one (starting it
 * takes seconds), and a namespace of its own for each test. A test that needs a different cluster
 * (no optional CRDs, a restart of the API server) starts its own with startCluster().
 * test/run.ts stops the shared one when the run ends.
 */
import { startCluster, type Cluster } from './control-plane.ts';

let shared: Promise<Cluster> | undefined;

export function sharedCluster(): Promise<Cluster> {
  shared ??= startCluster();
  return shared;
}

/** Stops the shared cluster if one was started. */
export async function stopSharedCluster(): Promise<void> {
  if (!shared) return;
  const cluster = await shared.catch(() => undefined);
  shared = undefined;
  await cluster?.stop();
}

export interface TestNamespace {
  name: string;
  /**
   * Deletes the namespace (kube-controller-manager then deletes what is in it), and its pods at
   * once: a pod bound to a Node waits for its kubelet to confirm it stopped, and there is none.
   */
  remove(): Promise<void>;
}

/** A fresh namespace, `<prefix>-<random>`, with the given labels. */
export async function createNamespace(cluster: Cluster, prefix: string, labels: Record<string, string> = {}): Promise<TestNamespace> {
  const name = `${prefix}-${Math.random().toString(36).slice(2, 8)}`.slice(0, 63);
  const created = await cluster.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
  if (created.status !== 201) throw new Error(`creating namespace ${name}: ${created.status} ${JSON.stringify(created.body)}`);
  return {
    name,
    remove: async () => {
      const deleted = await cluster.request('DELETE', `/api/v1/namespaces/${name}`);
      if (deleted.status !== 200 && deleted.status !== 202 && deleted.status !== 404) throw new Error(`deleting namespace ${name}: ${deleted.status}`);
      // No new pod can be created in a terminating namespace, so one sweep is enough.
      await cluster.request('DELETE', `/api/v1/namespaces/${name}/pods?gracePeriodSeconds=0`);
    },
  };
}

/** Polls `read` until `done` says yes; fails with the last value seen. */
export async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await read();
    if (done(last)) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${JSON.stringify(last)?.slice(0, 2000)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
