/**
 * Golden cases: `test/golden/<case>/values.yaml` rendered with `helm template` is committed as
 * `output.yaml` beside it, so a reviewer reads a chart change as a diff of manifests.
 * `case.yaml` says how to render it (release, namespace) and which documented exceptions to
 * the restricted Pod Security Standard the case needs, and `focus`: the components whose objects
 * output.yaml keeps (template file prefixes such as `envoy`), so a change to one component
 * rewrites the defaults and that component's cases, not every case. Only `defaults` is kept
 * whole; every test but the snapshot still reads the whole render.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT } from './helm.ts';

export const GOLDEN_DIR = join(REPO_ROOT, 'test/golden');
/** Set UPDATE_GOLDEN=1 to rewrite output.yaml files after an intended chart change. */
export const UPDATE_GOLDEN = process.env.UPDATE_GOLDEN === '1';

export interface GoldenCase {
  name: string;
  dir: string;
  description: string;
  release: string;
  namespace: string;
  allowHostPath: boolean;
  allowNfs: boolean;
  /** APIs the pretend cluster serves, for objects gated on CRDs (cert-manager, prometheus-operator). */
  apiVersions: string[];
  /** Template file prefixes whose documents output.yaml keeps; empty keeps the whole render. */
  focus: string[];
  valuesFile: string;
  outputFile: string;
}

export function loadGoldenCases(): GoldenCase[] {
  return readdirSync(GOLDEN_DIR, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort()
    .map((name) => {
      const dir = join(GOLDEN_DIR, name);
      const spec = parse(readFileSync(join(dir, 'case.yaml'), 'utf8')) ?? {};
      return {
        name,
        dir,
        description: String(spec.description ?? ''),
        release: String(spec.release ?? 'supersonic'),
        namespace: String(spec.namespace ?? 'cms'),
        allowHostPath: spec.allowHostPath === true,
        allowNfs: spec.allowNfs === true,
        apiVersions: Array.isArray(spec.apiVersions) ? spec.apiVersions.map(String) : [],
        focus: Array.isArray(spec.focus) ? spec.focus.map(String) : [],
        valuesFile: join(dir, 'values.yaml'),
        outputFile: join(dir, 'output.yaml'),
      };
    });
}

/** Compares a render with the committed output, or rewrites it under UPDATE_GOLDEN=1. */
export function matchGolden(goldenCase: GoldenCase, fullRender: string): { expected: string; actual: string } {
  const rendered = focusedRender(fullRender, goldenCase.focus);
  if (UPDATE_GOLDEN || !existsSync(goldenCase.outputFile)) {
    if (!UPDATE_GOLDEN) throw new Error(`${goldenCase.outputFile} is missing: run UPDATE_GOLDEN=1 make unit and review it`);
    writeFileSync(goldenCase.outputFile, rendered);
  }
  return { expected: readFileSync(goldenCase.outputFile, 'utf8'), actual: rendered };
}

/**
 * The documents of a `helm template` output that come from the templates of the given
 * components (`# Source: <chart>/templates/<component>-*.yaml`), in their order.
 */
export function focusedRender(rendered: string, focus: string[]): string {
  if (focus.length === 0) return rendered;
  const documents = rendered.split(/^(?=---\n)/m);
  const kept = documents.filter((doc) => {
    const file = /^# Source: [^/]+\/templates\/(\S+)$/m.exec(doc)?.[1];
    return file !== undefined && focus.some((component) => file.startsWith(`${component}-`));
  });
  if (kept.length === 0) throw new Error(`no rendered document comes from a template of ${focus.join(', ')}: check the case's focus`);
  return kept.join('');
}
