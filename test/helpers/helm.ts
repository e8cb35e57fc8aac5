/**
 * Runs the real Helm binaries installed by test/tools/install-tools.sh: `helm` (Helm 4) and
 * `helm3` (Helm 3.18). Async on purpose: a synchronous spawn would block in-process servers
 * (chart repositories, registries) that later tests start.
 *
 * Offline by default (renders, lint, package): KUBECONFIG is /dev/null, so no command can reach
 * a real cluster by accident. helmIn() points Helm at one cluster, the test control plane.
 */
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand, type CommandResult } from './run-command.ts';
import { stringify } from 'yaml';

export const REPO_ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
export const CHART_DIR = join(REPO_ROOT, 'chart/supersonic');
export const HELM_VERSIONS = ['helm', 'helm3'] as const;
export type HelmBinary = (typeof HELM_VERSIONS)[number];

export type HelmResult = CommandResult;

/**
 * Helm state lives in a throwaway folder, and no kubeconfig can reach a real cluster. The
 * discovery cache (KUBECACHEDIR, otherwise ~/.kube/cache) too: clusters of earlier runs may
 * have had the same port and other APIs.
 */
const helmHome = mkdtempSync(join(tmpdir(), 'supersonic-helm-'));
const helmEnv = {
  ...process.env,
  HELM_CACHE_HOME: join(helmHome, 'cache'),
  HELM_CONFIG_HOME: join(helmHome, 'config'),
  HELM_DATA_HOME: join(helmHome, 'data'),
  KUBECACHEDIR: join(helmHome, 'kube-cache'),
  KUBECONFIG: '/dev/null',
};

export function helmPath(binary: HelmBinary): string {
  const path = join(REPO_ROOT, '.tools/bin', binary);
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: run \`make setup\` (or bash test/tools/install-tools.sh) to install Helm 4 and Helm 3`);
  }
  return path;
}

export interface HelmOptions {
  /** A kubeconfig Helm may use; without it, Helm sees none (KUBECONFIG=/dev/null). */
  kubeconfig?: string;
}

export function helm(binary: HelmBinary, args: string[], options: HelmOptions = {}): Promise<HelmResult> {
  const env = options.kubeconfig ? { ...helmEnv, KUBECONFIG: options.kubeconfig } : helmEnv;
  return runCommand(helmPath(binary), args, { env });
}

/** Helm against a real cluster (the test control plane: anything with an admin kubeconfig). */
export function helmIn(cluster: { kubeconfig: string }, binary: HelmBinary, args: string[]): Promise<HelmResult> {
  return helm(binary, args, { kubeconfig: cluster.kubeconfig });
}

export interface RenderOptions {
  release?: string;
  namespace?: string;
  /** Values as an object (written to a temporary file) or paths of values files. */
  values?: Record<string, unknown>;
  valuesFiles?: string[];
  set?: string[];
  /** APIs the pretend cluster serves (`--api-versions`), e.g. cert-manager.io/v1. */
  apiVersions?: string[];
}

/** Writes values to a temporary file and returns its path. */
export function writeValuesFile(values: Record<string, unknown>): string {
  const dir = join(helmHome, 'values');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `values-${process.pid}-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, stringify(values));
  return file;
}

function renderArgs(options: RenderOptions): string[] {
  const args = ['--namespace', options.namespace ?? 'cms'];
  for (const file of options.valuesFiles ?? []) args.push('-f', file);
  if (options.values) args.push('-f', writeValuesFile(options.values));
  for (const item of options.set ?? []) args.push('--set', item);
  for (const apiVersion of options.apiVersions ?? []) args.push('--api-versions', apiVersion);
  return args;
}

/** `helm template` of our chart; resolves with Helm's output whether it succeeded or not. */
export function template(binary: HelmBinary, options: RenderOptions = {}): Promise<HelmResult> {
  return helm(binary, ['template', options.release ?? 'supersonic', CHART_DIR, ...renderArgs(options)]);
}

/** `helm install --dry-run=client`, which also renders NOTES.txt. */
export function dryRunInstall(binary: HelmBinary, options: RenderOptions = {}): Promise<HelmResult> {
  return helm(binary, ['install', options.release ?? 'supersonic', CHART_DIR, '--dry-run=client', ...renderArgs(options)]);
}

/** Like `template`, but fails loudly with Helm's own message when rendering fails. */
export async function templateOrThrow(binary: HelmBinary, options: RenderOptions = {}): Promise<string> {
  const result = await template(binary, options);
  if (result.code !== 0) throw new Error(`${binary} template failed (exit ${result.code}):\n${result.stderr}`);
  return result.stdout;
}
