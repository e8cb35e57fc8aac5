/**
 * One inference request, read into what the dispatcher needs: which model, what its container
 * gets as env (plain and secret apart), which labels, and what to send the model server.
 *
 * Two shapes are accepted (docs/dispatcher.md):
 *
 *  - SSIS-Dispatcher's body, on `POST /` (any path but the OpenAI ones):
 *      { token, par, env: { MODEL_ID, HF_TOKEN?, ... }, label?, payload?, subroute?, gpu_memory? }
 *    The model server gets `payload` if given, else TGI's `{ inputs: token, parameters: par }`,
 *    on the path `subroute` (default `/`, TGI's compat_generate).
 *  - OpenAI's `POST /v1/chat/completions` and `/v1/completions`: the model is the body's
 *    `model`, and the body goes to the same path unchanged (vLLM and TGI both serve these).
 *
 * Everything is checked here, before a GPU is spent on a model for a request that its server
 * would refuse anyway. Every refusal is a 400 whose message names the field and what is wrong,
 * and repeats the caller's values only through quote() (cut short), so nothing echoes megabytes.
 */
import { parseGpuValue } from '#core/gpu/resolve.ts';
import { clip, few, quote } from '#core/text/quote.ts';
import { closestName } from '#core/validate/closest-name.ts';

/** The part of the `dispatcher.env` configuration (schema/dispatcher.yaml) this reads. */
export interface EnvPolicy {
  /** Request env keys copied to a new model's container (MODEL_ID always is). */
  allowed?: readonly string[];
  /** Keys that are credentials: they go into a Secret, never into the Service. */
  secret?: readonly string[];
}

export interface UpstreamRequest {
  /** Path on the model server, always starting with '/', without query or fragment. */
  path: string;
  /** The JSON body to send: the caller's own bytes for OpenAI bodies when they came raw. */
  body: Buffer | string;
  /** Whether the answer is a stream of server-sent events. */
  stream: boolean;
  /** The Accept header to send the model server. */
  accept: string;
}

export interface DispatchRequest {
  /** Which body shape it came in. */
  kind: 'ssis' | 'openai';
  /** The model (MODEL_ID), e.g. `meta-llama/Llama-3.1-8B-Instruct`. */
  modelId: string;
  /** Plain env of the model's container, MODEL_ID included. */
  env: Record<string, string>;
  /** The credentials among the request's env (config `env.secret`), for the model's Secret. */
  secretEnv: Record<string, string>;
  /** Labels for the model's Service and pods (SSIS's `label`). */
  labels: Record<string, string>;
  /** The request's own GPU-memory need (SSIS body's `gpu_memory`, e.g. `20Gi`), if it gave one. */
  gpuMemory?: { text: string; bytes: number };
  upstream: UpstreamRequest;
}

export type ParseResult = { ok: true; request: DispatchRequest } | { ok: false; status: 400; error: string };

export interface IncomingRequest {
  /** The request's URL path (a query string is ignored). */
  path: string;
  /**
   * The body: best as the raw Buffer (or string), so OpenAI bodies are forwarded byte for
   * byte; an object already parsed by fastify is accepted too (and serialised again).
   */
  body: unknown;
}

/** The OpenAI-style routes, by path, and the field each needs besides `model`. */
const OPENAI_ROUTES = new Map<string, 'messages' | 'prompt'>([
  ['/v1/chat/completions', 'messages'],
  ['/v1/completions', 'prompt'],
]);

/** The SSIS body's fields (gpu_memory is ours: a request's own memory need). */
const SSIS_FIELDS = ['token', 'par', 'env', 'label', 'payload', 'subroute', 'gpu_memory'];

/**
 * MODEL_ID goes into an env var, an annotation and log lines. Hugging Face ids are at most
 * 96 + 1 + 96 characters; a Triton model-repository path may be longer, but not this long.
 */
const MODEL_ID_MAX = 256;

/** At most this many labels per request: each lands on the Service, its revisions and pods. */
const LABELS_MAX = 32;

/**
 * Label prefixes the caller may not set: Kubernetes' and Knative's own (Knative refuses or
 * overwrites them), and ours, which the dispatcher uses to find and clean up its Services.
 */
const RESERVED_LABEL_DOMAINS = ['kubernetes.io', 'k8s.io', 'knative.dev', 'supersonic.fastmachinelearning.org'];

export function parseRequest(incoming: IncomingRequest, policy: EnvPolicy): ParseResult {
  try {
    const path = incoming.path.split(/[?#]/, 1)[0] ?? '/';
    const body = readJson(incoming.body);
    if ('error' in body) return refuse(body.error);
    const needs = OPENAI_ROUTES.get(path);
    return needs ? parseOpenAi(path, needs, body.value, incoming.body) : parseSsis(body.value, policy);
  } catch (err) {
    // Nothing in here should throw; if it does, the caller still gets an answer, not a 500.
    return refuse(`request could not be read: ${clip(err instanceof Error ? err.message : err, 200)}`);
  }
}

function refuse(error: string): ParseResult {
  return { ok: false, status: 400, error };
}

type JsonObject = Record<string, unknown>;

function readJson(raw: unknown): { value: JsonObject } | { error: string } {
  let value: unknown = raw;
  if (Buffer.isBuffer(raw) || typeof raw === 'string') {
    const text = raw.toString();
    if (text.trim() === '') return { error: 'body is empty: send a JSON object' };
    try {
      value = JSON.parse(text);
    } catch (err) {
      return { error: `body is not JSON: ${clip((err as Error).message, 200)}` };
    }
  }
  if (value === undefined || value === null) return { error: 'body is empty: send a JSON object' };
  if (typeof value !== 'object' || Array.isArray(value)) return { error: `body must be a JSON object, not ${kindOf(value)}` };
  return { value: value as JsonObject };
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// ---------------------------------------------------------------------------------------------
// OpenAI-style bodies

function parseOpenAi(path: string, needs: 'messages' | 'prompt', body: JsonObject, raw: unknown): ParseResult {
  const model = readModelId(body.model, 'model');
  if (typeof model !== 'string') return refuse(model.problem);
  if (body.stream !== undefined && typeof body.stream !== 'boolean') return refuse(`stream must be true or false, not ${kindOf(body.stream)}`);
  if (needs === 'messages' && (!Array.isArray(body.messages) || body.messages.length === 0)) {
    return refuse(`messages must be a non-empty array of chat messages for ${path}`);
  }
  if (needs === 'prompt' && body.prompt === undefined) return refuse(`prompt is required for ${path}`);
  const stream = body.stream === true;
  return {
    ok: true,
    request: {
      kind: 'openai',
      modelId: model,
      env: { MODEL_ID: model },
      secretEnv: {},
      labels: {},
      upstream: {
        path,
        // Verbatim when the bytes came raw: fields this does not know reach the server as sent.
        body: Buffer.isBuffer(raw) || typeof raw === 'string' ? raw : JSON.stringify(body),
        stream,
        accept: stream ? 'text/event-stream' : 'application/json',
      },
    },
  };
}

// ---------------------------------------------------------------------------------------------
// SSIS bodies

function parseSsis(body: JsonObject, policy: EnvPolicy): ParseResult {
  const unknown = Object.keys(body).filter((key) => !SSIS_FIELDS.includes(key));
  if (unknown.length > 0) {
    // The likeliest mistake: an OpenAI body sent to / instead of its own route.
    if ('model' in body && ('messages' in body || 'prompt' in body)) {
      return refuse(`this looks like an OpenAI body: send it to ${'messages' in body ? '/v1/chat/completions' : '/v1/completions'}; POST / takes SSIS's { token, par, env: { MODEL_ID }, ... }`);
    }
    const hint = unknown.length === 1 ? closestName(unknown[0]!, SSIS_FIELDS) : undefined;
    return refuse(`unknown field${unknown.length > 1 ? 's' : ''} ${few(unknown.map((key) => quote(key)))}${hint ? ` (did you mean ${hint}?)` : ''}; known: ${SSIS_FIELDS.join(', ')}`);
  }

  const env = readEnv(body.env, policy);
  if ('problem' in env) return refuse(env.problem);
  const labels = readLabels(body.label);
  if ('problem' in labels) return refuse(labels.problem);
  const path = readSubroute(body.subroute);
  if (typeof path !== 'string') return refuse(path.problem);

  let gpuMemory: DispatchRequest['gpuMemory'];
  if (body.gpu_memory !== undefined) {
    if (typeof body.gpu_memory !== 'string') return refuse(`gpu_memory must be a string such as "20Gi", not ${kindOf(body.gpu_memory)}`);
    const parsed = parseGpuValue('gpu-memory', body.gpu_memory);
    if ('problem' in parsed) return refuse(`gpu_memory: ${parsed.problem}`);
    if (parsed.request.kind !== 'memory') return refuse(`gpu_memory: ${quote(body.gpu_memory)} is not an amount of GPU memory`);
    gpuMemory = { text: body.gpu_memory.trim(), bytes: parsed.request.bytes };
  }

  let upstreamBody: unknown;
  if (body.payload !== undefined) {
    // SSIS: a payload is sent as it is, instead of { inputs, parameters }.
    if (!isObject(body.payload)) return refuse(`payload must be a JSON object (the model server's own request body), not ${kindOf(body.payload)}`);
    upstreamBody = body.payload;
  } else {
    if (typeof body.token !== 'string') {
      return refuse(body.token === undefined ? 'token is required (the prompt), unless payload gives the whole body' : `token must be a string (the prompt), not ${kindOf(body.token)}`);
    }
    if (body.par !== undefined && body.par !== null && !isObject(body.par)) return refuse(`par must be a JSON object of generation parameters, not ${kindOf(body.par)}`);
    upstreamBody = isObject(body.par) ? { inputs: body.token, parameters: tgiParameters(body.par) } : { inputs: body.token };
  }

  // TGI streams on /generate_stream; its other routes and OpenAI's stream when asked to.
  const stream = path === '/generate_stream' || (isObject(upstreamBody) && upstreamBody.stream === true);
  return {
    ok: true,
    request: {
      kind: 'ssis',
      modelId: env.modelId,
      env: env.plain,
      secretEnv: env.secret,
      labels,
      ...(gpuMemory ? { gpuMemory } : {}),
      upstream: { path, body: JSON.stringify(upstreamBody), stream, accept: stream ? 'text/event-stream' : 'application/json' },
    },
  };
}

/** A model id, or what is wrong with it (`where` names the field: `model` or `env.MODEL_ID`). */
function readModelId(value: unknown, where: string): string | { problem: string } {
  if (value === undefined) return { problem: `${where} is required` };
  if (typeof value !== 'string' || value.trim() === '') return { problem: `${where} must be a non-empty string` };
  if (value.length > MODEL_ID_MAX) return { problem: `${where} ${quote(value)} is ${value.length} characters long; at most ${MODEL_ID_MAX}` };
  // Whitespace and control characters are in no model id, and would break logs and annotations.
  if (/[\s\p{Cc}]/u.test(value)) return { problem: `${where} ${quote(value)} must not contain spaces or control characters` };
  return value;
}

function readEnv(value: unknown, policy: EnvPolicy): { modelId: string; plain: Record<string, string>; secret: Record<string, string> } | { problem: string } {
  if (value === undefined) return { problem: 'env.MODEL_ID is required (env is missing)' };
  if (!isObject(value)) return { problem: `env must be a JSON object of strings, not ${kindOf(value)}` };
  const secretKeys = new Set(policy.secret ?? []);
  const allowed = ['MODEL_ID', ...(policy.secret ?? []), ...(policy.allowed ?? [])];
  const refused = Object.keys(value).filter((key) => !allowed.includes(key));
  if (refused.length > 0) {
    const hint = refused.length === 1 ? closestName(refused[0]!, allowed) : undefined;
    const names = few(refused.map((key) => quote(key)));
    return {
      problem: `env key${refused.length > 1 ? 's' : ''} ${names} not allowed${hint ? ` (did you mean ${hint}?)` : ''}; allowed: ${[...new Set(allowed)].join(', ')} (the site sets these in dispatcher.env)`,
    };
  }
  const modelId = readModelId(value.MODEL_ID, 'env.MODEL_ID');
  if (typeof modelId !== 'string') return modelId;
  const plain: Record<string, string> = {};
  const secret: Record<string, string> = {};
  for (const [key, text] of Object.entries(value)) {
    // Keys are checked above against the allow-list, so none is __proto__ or the like.
    if (typeof text !== 'string') {
      const written = typeof text === 'number' || typeof text === 'boolean' ? ` (write ${quote(String(text))})` : '';
      return { problem: `env.${key} must be a string, not ${kindOf(text)}${written}` };
    }
    if (text.includes('\0')) return { problem: `env.${key} must not contain NUL characters` };
    if (key !== 'MODEL_ID' && secretKeys.has(key)) {
      // SSIS's own example sends "HF_TOKEN": "" for "no token": an empty credential is none.
      if (text !== '') secret[key] = text;
    } else {
      plain[key] = text;
    }
  }
  return { modelId, plain, secret };
}

// Kubernetes' label syntax (k8s.io/apimachinery/pkg/util/validation: IsQualifiedName, IsValidLabelValue).
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** What is wrong with `key` as a label key, or undefined. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : '';
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (slash >= 0) {
    if (prefix.length === 0 || prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix)) {
      return 'its prefix must be a DNS subdomain (lower-case letters, digits, - and ., at most 253)';
    }
    if (RESERVED_LABEL_DOMAINS.some((domain) => prefix === domain || prefix.endsWith(`.${domain}`))) {
      return `its prefix ${prefix} is reserved for Kubernetes, Knative or the dispatcher`;
    }
  }
  if (name.length === 0 || name.length > 63 || !LABEL_NAME.test(name)) {
    return 'its name must be 1 to 63 letters, digits, -, _ or ., beginning and ending with a letter or digit';
  }
  return undefined;
}

/** What is wrong with `value` as a label value, or undefined. */
export function labelValueProblem(value: string): string | undefined {
  if (value === '') return undefined;
  if (value.length > 63 || !LABEL_NAME.test(value)) return 'a label value is at most 63 letters, digits, -, _ or ., beginning and ending with a letter or digit';
  return undefined;
}

function readLabels(value: unknown): Record<string, string> | { problem: string } {
  if (value === undefined || value === null) return {};
  if (!isObject(value)) return { problem: `label must be a JSON object of strings, not ${kindOf(value)}` };
  const entries = Object.entries(value);
  if (entries.length > LABELS_MAX) return { problem: `label has ${entries.length} keys; at most ${LABELS_MAX}` };
  const labels: Record<string, string> = {};
  for (const [key, text] of entries) {
    const keyProblem = labelKeyProblem(key);
    if (keyProblem) return { problem: `label key ${quote(key)} is not a valid Kubernetes label key: ${keyProblem}` };
    if (typeof text !== 'string') return { problem: `label ${quote(key)} must be a string, not ${kindOf(text)}` };
    const valueProblem = labelValueProblem(text);
    if (valueProblem) return { problem: `label ${quote(key)}: ${quote(text)} is not a valid Kubernetes label value: ${valueProblem}` };
    labels[key] = text;
  }
  return labels;
}

/**
 * The path on the model server. Only plain path segments: no `..` or `.` (which a proxy or
 * server might resolve out of the intended route), no `?` or `#` (a query slipped into the
 * path), no `//` at the start (read as another host by URL parsers), no `%` escapes (which
 * could spell any of those), no backslashes or spaces.
 */
function readSubroute(value: unknown): string | { problem: string } {
  if (value === undefined || value === null || value === '') return '/';
  if (typeof value !== 'string') return { problem: `subroute must be a string such as "/generate_stream", not ${kindOf(value)}` };
  if (value.length > 256) return { problem: `subroute ${quote(value)} is ${value.length} characters long; at most 256` };
  if (!value.startsWith('/')) return { problem: `subroute ${quote(value)} must start with '/' (e.g. "/generate_stream")` };
  if (!/^(\/[A-Za-z0-9._~:-]*)+$/.test(value)) {
    return { problem: `subroute ${quote(value)} must be a plain path: letters, digits and - . _ ~ : between slashes, no query (?), fragment (#), % escapes, backslashes or spaces` };
  }
  const segments = value.split('/').slice(1);
  if (segments.some((segment) => segment === '.' || segment === '..')) return { problem: `subroute ${quote(value)} must not contain . or .. segments` };
  if (value.startsWith('//')) return { problem: `subroute ${quote(value)} must not start with //` };
  return value;
}

// TGI's typed generation parameters (GenerateParameters in TGI's router): SSIS's example sends
// "max_new_tokens": "20", which TGI refuses (422). Numbers and booleans written as strings are
// turned into what TGI expects; every other value, and every other key, passes untouched.
const TGI_NUMBERS = new Set([
  'best_of', 'temperature', 'repetition_penalty', 'frequency_penalty', 'top_k', 'top_p', 'typical_p',
  'max_new_tokens', 'truncate', 'seed', 'top_n_tokens',
]);
const TGI_BOOLEANS = new Set(['do_sample', 'return_full_text', 'watermark', 'details', 'decoder_input_details']);

function tgiParameters(par: JsonObject): JsonObject {
  // fromEntries defines own properties, so a "__proto__" key stays a key (and TGI refuses it).
  return Object.fromEntries(Object.entries(par).map(([key, value]) => {
    if (typeof value !== 'string') return [key, value];
    if (TGI_NUMBERS.has(key) && /^-?\d+(\.\d+)?$/.test(value.trim())) return [key, Number(value)];
    if (TGI_BOOLEANS.has(key) && (value === 'true' || value === 'false')) return [key, value === 'true'];
    return [key, value];
  }));
}
