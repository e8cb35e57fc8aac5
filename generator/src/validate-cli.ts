/**
 * `supersonic validate -f values.yaml [-f more.yaml] [--chart <dir|tgz>] [--no-helm]`
 *
 * Checks values files as `helm install` would, and says better what is wrong and where:
 *   1. each file, merged over the chart's defaults, against the chart's values.schema.json
 *      (core/src/validate/values-validator.ts, the module the servers and the values
 *      editor page use): `file:line:column: key: message`, with a fix where there is one;
 *   2. the chart's cross-field checks (the `fail` calls of its templates), by running
 *      `helm template` on the chart with the files, schema validation skipped (step 1 did it,
 *      better), each failure mapped to the key it names in the file.
 * Step 2 needs Helm (`helm` on PATH, or HELM=<path>); without it the command says it skipped it.
 *
 * Exit 0: valid (warnings, for deprecated keys, allowed); 1: a problem; 2: a file cannot be read
 * or is not YAML (the message gives the line), or the command line is wrong.
 *
 * Run from a checkout (`node generator/src/validate-cli.ts`), or the bundle `make package`
 * writes (dist/supersonic-validate.mjs, the schema, defaults and chart archive embedded).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LineCounter, parse, parseDocument } from 'yaml';
import { formatProblem, locateKey, validateValuesText, type Problem } from '#core/validate/values-validator.ts';

/** Set by the bundle (generator/src/package-chart.ts): the chart's schema, defaults and archive. */
declare const __SUPERSONIC_EMBEDDED__: { schema: string; defaults: string; chartTgz: string; version: string } | undefined;

export interface ChartInputs {
  schema: Record<string, any>;
  defaultsText: string;
  /** A chart directory or archive for `helm template`. */
  chart: string;
  cleanup?: () => void;
}

function chartInputs(chartOption: string | undefined): ChartInputs {
  if (typeof __SUPERSONIC_EMBEDDED__ !== 'undefined' && !chartOption) {
    const embedded = __SUPERSONIC_EMBEDDED__;
    const dir = mkdtempSync(join(tmpdir(), 'supersonic-validate-'));
    const chart = join(dir, `supersonic-${embedded.version}.tgz`);
    writeFileSync(chart, Buffer.from(embedded.chartTgz, 'base64'));
    return { schema: JSON.parse(embedded.schema), defaultsText: embedded.defaults, chart, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  }
  const chart = chartOption ? resolve(chartOption) : resolve(fileURLToPath(import.meta.url), '../../../chart/supersonic');
  if (chart.endsWith('.tgz')) {
    const dir = mkdtempSync(join(tmpdir(), 'supersonic-validate-'));
    execFileSync('tar', ['-xzf', chart, '-C', dir]);
    const unpacked = join(dir, 'supersonic');
    return {
      schema: JSON.parse(readFileSync(join(unpacked, 'values.schema.json'), 'utf8')),
      defaultsText: readFileSync(join(unpacked, 'values.yaml'), 'utf8'),
      chart,
      cleanup: () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  return { schema: JSON.parse(readFileSync(join(chart, 'values.schema.json'), 'utf8')), defaultsText: readFileSync(join(chart, 'values.yaml'), 'utf8'), chart };
}

function findHelm(): string | undefined {
  if (process.env.HELM) return process.env.HELM;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) if (dir && existsSync(join(dir, 'helm'))) return join(dir, 'helm');
  return undefined;
}

/** Capabilities the chart's checks depend on are all offered, so every check that could fail on some cluster runs. */
const API_VERSIONS = ['cert-manager.io/v1', 'keda.sh/v1alpha1', 'monitoring.coreos.com/v1'];

/** The `fail` message of a `helm template` run, or undefined when it rendered. */
export function helmFailure(helm: string, chart: string, files: string[]): string | undefined {
  const args = ['template', 'supersonic', chart, '--skip-schema-validation', ...API_VERSIONS.flatMap((v) => ['--api-versions', v]), ...files.flatMap((f) => ['-f', f])];
  const run = spawnSync(helm, args, { encoding: 'utf8', env: { ...process.env, KUBECONFIG: '/dev/null' }, maxBuffer: 64 * 2 ** 20 });
  if (run.status === 0) return undefined;
  const text = (run.stderr || run.stdout || run.error?.message || '').trim();
  // Helm 3 and 4: "Error: execution error at (supersonic/templates/x.yaml:1:4): <message>"
  const failed = text.match(/execution error at \([^)]*\): ([\s\S]*)$/)?.[1];
  return (failed ?? text.replace(/^Error: /, '')).split('\n')[0]!.trim();
}

/** The values keys a `fail` message names (`envoy.auth.enabled needs ...`), in order. */
export function keysInMessage(message: string, rootKeys: string[]): string[] {
  return [...message.matchAll(/(?<![\w./-])([A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)+)/g)].map((m) => m[1]!).filter((k) => rootKeys.includes(k.split('.')[0]!));
}

export interface FileResult {
  file: string;
  /** 2: unreadable or not YAML. */
  fatal?: string;
  problems: Problem[];
}

export function validateFiles(files: string[], inputs: ChartInputs, helm: string | undefined): { results: FileResult[]; notes: string[] } {
  const defaults = parse(inputs.defaultsText);
  const results: FileResult[] = [];
  const notes: string[] = [];
  const texts = new Map<string, string>();
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      results.push({ file, fatal: `${file}: cannot read: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`, problems: [] });
      continue;
    }
    const result = validateValuesText(inputs.schema, text, { defaults });
    if (result.parseError) {
      results.push({ file, fatal: formatProblem(file, result.parseError), problems: [] });
      continue;
    }
    texts.set(file, text);
    results.push({ file, problems: result.problems });
  }
  const schemaClean = results.every((r) => !r.fatal && r.problems.every((p) => p.severity === 'warning'));
  if (!schemaClean) return { results, notes };
  if (!helm) {
    notes.push('helm not found (put it on PATH or set HELM): the chart\'s cross-field checks were skipped');
    return { results, notes };
  }
  const message = helmFailure(helm, inputs.chart, files);
  if (message) {
    const keys = keysInMessage(message, Object.keys(inputs.schema.properties ?? {}));
    // The last file that sets the first key named wins, as the last -f wins in Helm.
    let target: { result: FileResult; line: number; column: number } | undefined;
    for (const key of keys) {
      for (const result of [...results].reverse()) {
        const lineCounter = new LineCounter();
        const where = locateKey({ doc: parseDocument(texts.get(result.file)!, { lineCounter }), lineCounter, prefix: [] }, key);
        if (where.exact || (!target && where.line > 1)) target = { result, ...where };
        if (where.exact) break;
      }
      if (target) break;
    }
    const result = target?.result ?? results[results.length - 1]!;
    result.problems.push({ line: target?.line ?? 1, column: target?.column ?? 1, key: keys[0] ?? '', message: `${keys[0] && message.startsWith(`${keys[0]}: `) ? message.slice(keys[0].length + 2) : message} (the chart's check, as helm install runs it)`, severity: 'error' });
  }
  return { results, notes };
}

const USAGE = 'usage: supersonic validate -f <values.yaml> [-f <more.yaml>] [--chart <dir|tgz>] [--no-helm]';

export function main(argv: string[]): number {
  const args = argv[0] === 'validate' ? argv.slice(1) : argv;
  const files: string[] = [];
  let chart: string | undefined;
  let useHelm = true;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '-f' || arg === '--values') files.push(args[++i] ?? '');
    else if (arg.startsWith('--values=')) files.push(arg.slice('--values='.length));
    else if (arg === '--chart') chart = args[++i];
    else if (arg === '--no-helm') useHelm = false;
    else if (arg === '-h' || arg === '--help') {
      console.log(USAGE);
      return 0;
    } else if (!arg.startsWith('-')) files.push(arg);
    else {
      console.error(`supersonic validate: unknown option ${arg}\n${USAGE}`);
      return 2;
    }
  }
  if (files.length === 0 || files.some((f) => !f)) {
    console.error(USAGE);
    return 2;
  }
  const inputs = chartInputs(chart);
  try {
    const { results, notes } = validateFiles(files, inputs, useHelm ? findHelm() : undefined);
    let code = 0;
    for (const result of results) {
      if (result.fatal) {
        console.error(result.fatal);
        code = 2;
      }
      for (const p of result.problems) {
        console.log(formatProblem(result.file, p));
        if (p.severity === 'error' && code === 0) code = 1;
      }
    }
    for (const note of notes) console.error(`note: ${note}`);
    if (code === 0) console.log(`${files.join(', ')}: valid`);
    return code;
  } finally {
    inputs.cleanup?.();
  }
}

const entry = process.argv[1] ? resolve(process.argv[1]) : '';
if (entry === fileURLToPath(import.meta.url) || (typeof __SUPERSONIC_EMBEDDED__ !== 'undefined' && entry)) process.exitCode = main(process.argv.slice(2));
