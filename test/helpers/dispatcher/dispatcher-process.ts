/**
 * The dispatcher as the image runs it: its bundle (dispatcher/dist/server.mjs, built by
 * webhook/bundle.ts) on Node 24, with the image's environment, the chart's environment
 * variables and a ConfigMap folder, against the test control plane. Stopped by its PID.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { DispatcherValues } from '../../../dispatcher/src/config.ts';
import { REPO_ROOT } from '../helm.ts';
import { startBundleProcess, type BundleProcess } from '../bundle-process.ts';

export interface DispatcherProcess extends BundleProcess {
  /** Writes a new dispatcher.yaml into the ConfigMap folder (the kubelet's update). */
  writeConfig(text: string): void;
}

export async function startDispatcherProcess(options: { kubeconfig: string; namespace: string; instance: string; values: DispatcherValues; shutdownDelayMs?: number }): Promise<DispatcherProcess> {
  const configDir = mkdtempSync(join(tmpdir(), 'dispatcher-config-'));
  const writeConfig = (text: string) => writeFileSync(join(configDir, 'dispatcher.yaml'), text);
  writeConfig(stringify(options.values));
  // Ready: the configuration read, and the nodes, pods and Services listed.
  const running = await startBundleProcess('dispatcher', {
    env: {
      KUBECONFIG: options.kubeconfig,
      POD_NAMESPACE: options.namespace,
      RELEASE_NAME: options.instance,
      SERVICE_NAMESPACE: options.namespace,
      CONFIG_DIR: configDir,
      SCHEMA_FILE: join(REPO_ROOT, 'chart/supersonic/values.schema.json'),
      SHUTDOWN_DELAY_MS: String(options.shutdownDelayMs ?? 200),
      LOG_LEVEL: 'info',
    },
    cleanup: () => rmSync(configDir, { recursive: true, force: true }),
  });
  return { ...running, writeConfig };
}
