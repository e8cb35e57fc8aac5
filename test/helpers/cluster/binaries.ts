/**
 * The Kubernetes control plane's binaries, built from the Go module proxy by
 * test/tools/build-kube.sh (make tools) into a cache outside the clone, linked at .tools/kube.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../helm.ts';

export type KubeBinary = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'kubectl';

export const KUBE_BIN_DIR = join(REPO_ROOT, '.tools/kube/bin');

export function kubeBinary(name: KubeBinary): string {
  const path = join(KUBE_BIN_DIR, name);
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: run \`make tools\` (or bash test/tools/build-kube.sh) to build the Kubernetes control plane from the Go module proxy`);
  }
  return path;
}
