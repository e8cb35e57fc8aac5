/**
 * Runs the shipped load-shedder filter (chart/supersonic/files/envoy-load-shedder.lua, the
 * generated file) under LuaJIT, the runtime Envoy embeds, through lua-harness.lua: a stand-in
 * for Envoy's stream-handle API that plays one worker through a scenario of requests.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../helm.ts';

export const LUA_FILTER = join(REPO_ROOT, 'chart/supersonic/files/envoy-load-shedder.lua');
export const LUA_FILTER_SOURCE = join(REPO_ROOT, 'generator/templates/chart/files/envoy-load-shedder.lua');
const HARNESS = join(REPO_ROOT, 'test/helpers/envoy/lua-harness.lua');

/** The reply the harness gives to the filter's Prometheus httpCall for one request. */
export type PrometheusReply =
  | { status?: string; body?: string | null; headers?: Record<string, string> }
  /** A reset or unreachable host: Envoy hands the script a synthetic 503 "upstream failure". */
  | { fail: true }
  /** The call's timeout: the router answers 504 "upstream request timeout". */
  | { timeout: true }
  /** Leave the call pending until a later `{ release: id }` step. */
  | { hold: true };

export interface RequestStep {
  id?: string;
  /** What os.time() returns while this step runs; defaults to the previous step's. */
  time?: number;
  path: string;
  /** Defaults to application/grpc; null sends no content-type. */
  contentType?: string | null;
  method?: string;
  /** This request's route metadata; null for a route without any. Defaults to the scenario's. */
  metadata?: Record<string, unknown> | null;
  prometheus?: PrometheusReply;
  /** The upstream answer envoy_on_response sees (default: 200, grpc, body "upstream-answer", trailers grpc-status 0). */
  upstream?: { headers?: Record<string, string>; body?: string; trailers?: Record<string, string> | null };
}

export interface ReleaseStep {
  release: string;
  time?: number;
  prometheus: PrometheusReply;
}

export interface Scenario {
  metadata?: Record<string, unknown> | null;
  /** Clusters Envoy knows; an httpCall to another raises, as in Envoy. Default ["prometheus"]. */
  clusters?: string[];
  steps: Array<RequestStep | ReleaseStep>;
}

export interface LogLine {
  level: 'trace' | 'debug' | 'info' | 'warn' | 'err' | 'critical';
  message: string;
}

export interface HttpCallRecord {
  cluster: string;
  headers: Record<string, string>;
  body: string | null;
  timeoutMs: number;
}

export interface RequestResult {
  id: string;
  time: number;
  /** Reached the upstream (no respond()). */
  passed: boolean;
  /** The :status the client sees: respond()'s, or the upstream's after envoy_on_response. */
  status?: string;
  /** Set when the filter answered itself with respond(). */
  refused?: { headers: Record<string, string>; body: string | null };
  /** Set when the request passed: the upstream answer after envoy_on_response. */
  response?: { headers: Record<string, string>; body: string; trailers: Record<string, string> | null };
  /** Dynamic metadata envoy.filters.http.lua/overloaded was set to true. */
  marked: boolean;
  /** httpCalls made by every request of the scenario so far. */
  httpCalls: number;
  /** httpCalls made by this request. */
  calls: HttpCallRecord[];
  logs: LogLine[];
  /** A Lua error raised by envoy_on_request / envoy_on_response, with its traceback. */
  error: string | null;
  responseError?: string | null;
}

export interface Summary {
  summary: true;
  /** Globals the filter left behind (only envoy_on_request and envoy_on_response are expected). */
  globals: string[];
  httpCalls: number;
  /** Requests whose held httpCall was never released. */
  pending: string[];
}

export interface ScenarioResult {
  results: RequestResult[];
  byId: Record<string, RequestResult>;
  summary: Summary;
}

const MISSING = 'luajit is missing: run make setup (apt-get install luajit)';

/** Throws with the install hint unless `luajit` runs (`env` lets a test hide it). */
export function requireLuajit(env: NodeJS.ProcessEnv = process.env): void {
  const probe = spawnSync('luajit', ['-v'], { encoding: 'utf8', env });
  if (probe.error || probe.status !== 0) throw new Error(MISSING);
}

/** `luajit -bl <file>`: compiles the file to bytecode (and lists it), so syntax errors fail. */
export function luajitCompile(file: string): Promise<{ code: number; stderr: string }> {
  requireLuajit();
  return new Promise((resolve) => {
    execFile('luajit', ['-bl', file], { maxBuffer: 64 * 1024 * 1024 }, (err, _stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stderr });
    });
  });
}

/**
 * Plays a scenario through the filter. Throws if the harness itself fails, or, unless
 * `allowLuaErrors`, if the filter raised a Lua error anywhere: a raising filter must fail
 * every test that meets it, whatever that test asserts.
 */
export async function runScenario(scenario: Scenario, options: { filter?: string; allowLuaErrors?: boolean } = {}): Promise<ScenarioResult> {
  requireLuajit();
  const { stdout, stderr, code } = await new Promise<{ stdout: string; stderr: string; code: number | null }>((resolve, reject) => {
    const child = spawn('luajit', [HARNESS, options.filter ?? LUA_FILTER], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.on('error', reject);
    child.on('close', (exitCode) => resolve({ stdout: out, stderr: err, code: exitCode }));
    child.stdin.end(JSON.stringify(scenario));
  });
  const lines = stdout.split('\n').filter((line) => line.trim() !== '').map((line) => JSON.parse(line) as Record<string, unknown>);
  if (code !== 0 || lines.length === 0) {
    throw new Error(`lua-harness exited with ${code}:\n${stderr}\n${stdout}`);
  }
  const summary = lines.at(-1) as unknown as Summary;
  if (!summary.summary) throw new Error(`lua-harness printed no summary:\n${stdout}`);
  const results = lines.slice(0, -1) as unknown as RequestResult[];
  if (!options.allowLuaErrors) {
    for (const result of results) {
      if (result.error) throw new Error(`the filter raised a Lua error in envoy_on_request (request ${result.id}):\n${result.error}`);
      if (result.responseError) throw new Error(`the filter raised a Lua error in envoy_on_response (request ${result.id}):\n${result.responseError}`);
    }
  }
  const byId: Record<string, RequestResult> = {};
  for (const result of results) byId[result.id] = result;
  return { results, byId, summary };
}

/** The one result with this id; throws if the scenario never finished it. */
export function resultOf(run: ScenarioResult, id: string): RequestResult {
  const result = run.byId[id];
  if (!result) throw new Error(`no result for request ${id}; finished: ${Object.keys(run.byId).join(', ')}`);
  return result;
}
