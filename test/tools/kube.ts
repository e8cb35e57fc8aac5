/**
 * `make kube`: the tests' control plane (test/helpers/cluster) in the foreground, with the CRDs of
 * ../shared/crds installed, for trying the chart, the webhook and the dispatcher by hand. It
 * prints the KUBECONFIG to use and runs until Ctrl-C (or SIGTERM), then stops every process and
 * removes its files. No kubelet: pods are stored and scheduled onto Node objects, never run.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/helm.ts';
import { KUBE_BIN_DIR } from '../helpers/cluster/binaries.ts';
import { startCluster } from '../helpers/cluster/control-plane.ts';

const cluster = await startCluster();
// A copy outside the cluster's folder, which stop() removes, so a shell that sourced it sees it go stale rather than vanish mid-command.
const kubeconfig = join(REPO_ROOT, '.out/kube/kubeconfig');
mkdirSync(join(REPO_ROOT, '.out/kube'), { recursive: true });
copyFileSync(cluster.kubeconfig, kubeconfig);

console.log(`kube-apiserver ${(await cluster.request('GET', '/version')).body.gitVersion} at ${cluster.url}, ready in ${(cluster.startMs / 1000).toFixed(1)} s, with the CRDs of ../shared/crds.

  export KUBECONFIG=${kubeconfig}
  export PATH=${KUBE_BIN_DIR}:$PATH     # the kubectl built with the server
  kubectl get nodes,crds
  helm install supersonic chart/supersonic -n cms --create-namespace

No kubelet runs: pods are stored, mutated by admission webhooks and bound to Node objects by the
scheduler, but never started. Ctrl-C stops the control plane and removes its files.`);

let stopping = false;
const stop = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: stopping the control plane`);
  await cluster.stop();
  console.log('stopped');
  process.exit(0);
};
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));
// The cluster's processes are unref'd (test/helpers/cluster/control-plane.ts); keep this one alive.
setInterval(() => undefined, 1 << 30);
