/**
 * Reading a request (dispatcher/src/request/parse-request.ts): SSIS-Dispatcher's body on any
 * path, OpenAI's chat and completion bodies on theirs, and a 400 naming the field for each
 * thing wrong, with the caller's values cut short.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseRequest, type DispatchRequest, type EnvPolicy, type ParseResult } from '../../dispatcher/src/request/parse-request.ts';

const POLICY: EnvPolicy = { allowed: ['MAX_INPUT_LENGTH', 'MAX_TOTAL_TOKENS'], secret: ['HF_TOKEN'] };

function parse(body: unknown, path = '/', policy: EnvPolicy = POLICY): ParseResult {
  const raw = typeof body === 'string' || Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
  return parseRequest({ path, body: raw }, policy);
}

function ok(result: ParseResult): DispatchRequest {
  if (!result.ok) throw new assert.Assertion({ message: `refused: ${result.error}`, generated: false, operator: 'ok', actual: result, expects: 'ok' });
  return result.request;
}

function refused(result: ParseResult, ...expected: Array<string | RegExp>): string {
  assert.is(result.ok, false, 'expected a refusal');
  if (result.ok) return '';
  assert.is(result.status, 400);
  for (const part of expected) assert.match(result.error, part);
  return result.error;
}

const ssis = suite('dispatcher parse-request: SSIS body');

ssis("SSIS's own example: TGI's { inputs, parameters } on /, HF_TOKEN kept apart as a secret", () => {
  const request = ok(parse({
    token: 'What is Deep Learning?',
    par: { max_new_tokens: '20' },
    env: { MODEL_ID: 'openai-community/gpt2', HF_TOKEN: 'hf_secret' },
  }, '/anything/at/all'));
  assert.is(request.kind, 'ssis');
  assert.is(request.modelId, 'openai-community/gpt2');
  assert.equal(request.env, { MODEL_ID: 'openai-community/gpt2' });
  assert.equal(request.secretEnv, { HF_TOKEN: 'hf_secret' });
  assert.equal(request.labels, {});
  assert.is(request.upstream.path, '/');
  assert.is(request.upstream.stream, false);
  assert.is(request.upstream.accept, 'application/json');
  // "20" as a string is what SSIS's example sends and TGI refuses: TGI gets the number.
  assert.equal(JSON.parse(String(request.upstream.body)), { inputs: 'What is Deep Learning?', parameters: { max_new_tokens: 20 } });
});

ssis('par: only TGI\'s typed parameters written as strings are converted; the rest pass untouched', () => {
  const request = ok(parse({ token: 'x', par: { temperature: '0.5', do_sample: 'true', stop: ['\n'], top_k: 'many', custom: '7' }, env: { MODEL_ID: 'm' } }));
  assert.equal(JSON.parse(String(request.upstream.body)).parameters, { temperature: 0.5, do_sample: true, stop: ['\n'], top_k: 'many', custom: '7' });
  // Without par, TGI gets no parameters at all (it takes its defaults).
  assert.equal(JSON.parse(String(ok(parse({ token: 'x', env: { MODEL_ID: 'm' } })).upstream.body)), { inputs: 'x' });
});

ssis('an empty HF_TOKEN (as in SSIS\'s example) is no token; allowed plain keys stay plain', () => {
  const request = ok(parse({ token: 'x', env: { MODEL_ID: 'm', HF_TOKEN: '', MAX_INPUT_LENGTH: '1024' } }));
  assert.equal(request.secretEnv, {});
  assert.equal(request.env, { MODEL_ID: 'm', MAX_INPUT_LENGTH: '1024' });
});

ssis('a key both allowed and secret is secret: it never lands in the Service', () => {
  const request = ok(parse({ token: 'x', env: { MODEL_ID: 'm', API_KEY: 'k' } }, '/', { allowed: ['API_KEY'], secret: ['API_KEY'] }));
  assert.equal(request.secretEnv, { API_KEY: 'k' });
  assert.equal(request.env, { MODEL_ID: 'm' });
});

ssis('payload is sent as it is, on subroute; /generate_stream and stream: true are streamed', () => {
  const payload = { inputs: 'hi', parameters: { max_new_tokens: 5 }, extra: [1, 2] };
  const plain = ok(parse({ env: { MODEL_ID: 'm' }, payload, subroute: '/generate' }));
  assert.is(plain.upstream.path, '/generate');
  assert.equal(JSON.parse(String(plain.upstream.body)), payload);
  assert.is(plain.upstream.stream, false);

  const streamed = ok(parse({ token: 'hi', env: { MODEL_ID: 'm' }, subroute: '/generate_stream' }));
  assert.is(streamed.upstream.stream, true);
  assert.is(streamed.upstream.accept, 'text/event-stream');

  const chat = ok(parse({ env: { MODEL_ID: 'm' }, subroute: '/v1/chat/completions', payload: { model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true } }));
  assert.is(chat.upstream.path, '/v1/chat/completions');
  assert.is(chat.upstream.stream, true);
});

ssis('labels: valid Kubernetes label keys and values are kept', () => {
  const request = ok(parse({ token: 'x', env: { MODEL_ID: 'm' }, label: { slo: '0.012', 'example.org/team': 'cms', empty: '' } }));
  assert.equal(request.labels, { slo: '0.012', 'example.org/team': 'cms', empty: '' });
});

ssis('gpu_memory: a Kubernetes quantity, read into bytes; a wrong spelling gets the right one', () => {
  const request = ok(parse({ token: 'x', env: { MODEL_ID: 'm' }, gpu_memory: '20Gi' }));
  assert.equal(request.gpuMemory, { text: '20Gi', bytes: 20 * 2 ** 30 });
  refused(parse({ token: 'x', env: { MODEL_ID: 'm' }, gpu_memory: '20GB' }), /^gpu_memory: /, /20G or 20Gi/);
  refused(parse({ token: 'x', env: { MODEL_ID: 'm' }, gpu_memory: 20 }), 'gpu_memory must be a string');
});

const refusals = suite('dispatcher parse-request: refusals');

refusals('the body: empty, not JSON, not an object', () => {
  refused(parse(''), 'body is empty');
  refused(parse('{"token": '), /^body is not JSON: /);
  refused(parse('[1, 2]'), 'body must be a JSON object, not an array');
  refused(parse('"text"'), 'body must be a JSON object, not a string');
  refused(parse('null'), 'body is empty');
});

refusals('env.MODEL_ID: required, a non-empty string without spaces, not megabytes', () => {
  refused(parse({ token: 'x' }), 'env.MODEL_ID is required');
  refused(parse({ token: 'x', env: {} }), /^env\.MODEL_ID is required$/);
  refused(parse({ token: 'x', env: { MODEL_ID: '' } }), 'env.MODEL_ID must be a non-empty string');
  refused(parse({ token: 'x', env: { MODEL_ID: 42 } }), 'env.MODEL_ID must be a non-empty string');
  refused(parse({ token: 'x', env: { MODEL_ID: 'a model' } }), 'must not contain spaces');
  const error = refused(parse({ token: 'x', env: { MODEL_ID: 'x'.repeat(100_000) } }), 'is 100000 characters long; at most 256');
  assert.ok(error.length < 200, `the message repeats too much: ${error.length} characters`);
});

refusals('env: values must be strings; keys outside the allow-list are named with the allowed ones', () => {
  refused(parse({ token: 'x', env: { MODEL_ID: 'm', MAX_INPUT_LENGTH: 1024 } }), 'env.MAX_INPUT_LENGTH must be a string, not a number (write "1024")');
  refused(parse({ token: 'x', env: 'MODEL_ID=m' }), 'env must be a JSON object of strings, not a string');
  const error = refused(parse({ token: 'x', env: { MODEL_ID: 'm', LD_PRELOAD: '/evil.so' } }), 'env key "LD_PRELOAD" not allowed', 'allowed: MODEL_ID, HF_TOKEN, MAX_INPUT_LENGTH, MAX_TOTAL_TOKENS');
  assert.not.match(error, '/evil.so');
  refused(parse({ token: 'x', env: { MODEL_ID: 'm', HF_TOKN: 't' } }), 'did you mean HF_TOKEN?');
  refused(parse({ token: 'x', env: { MODEL_ID: 'm', A: '1', B: '2', C: '3', D: '4', E: '5' } }), 'env keys "A", "B", "C" and 2 more not allowed');
  // A megabyte key is cut short in the message.
  const long = refused(parse({ token: 'x', env: { MODEL_ID: 'm', ['K'.repeat(1_000_000)]: 'v' } }), 'not allowed');
  assert.ok(long.length < 400, `the message repeats too much: ${long.length} characters`);
});

refusals('token, par, payload: the wrong kinds', () => {
  refused(parse({ env: { MODEL_ID: 'm' } }), 'token is required (the prompt), unless payload gives the whole body');
  refused(parse({ token: 3, env: { MODEL_ID: 'm' } }), 'token must be a string (the prompt), not a number');
  refused(parse({ token: 'x', par: [1], env: { MODEL_ID: 'm' } }), 'par must be a JSON object of generation parameters, not an array');
  refused(parse({ payload: 'text', env: { MODEL_ID: 'm' } }), 'payload must be a JSON object');
});

refusals('subroute: a plain path only', () => {
  const bad: Array<[unknown, string]> = [
    ['generate', "must start with '/'"],
    ['/../admin', 'must not contain . or .. segments'],
    ['/a/./b', 'must not contain . or .. segments'],
    ['/generate?x=1', 'must be a plain path'],
    ['/generate#frag', 'must be a plain path'],
    ['/%2e%2e/admin', 'must be a plain path'],
    ['/a\\b', 'must be a plain path'],
    ['/a b', 'must be a plain path'],
    ['//evil.example/x', 'must not start with //'],
    [5, 'subroute must be a string'],
    [`/${'a'.repeat(10_000)}`, 'characters long; at most 256'],
  ];
  for (const [subroute, expected] of bad) {
    const error = refused(parse({ token: 'x', env: { MODEL_ID: 'm' }, subroute }), expected);
    assert.ok(error.length < 400, `${error.length} characters`);
  }
  assert.is(ok(parse({ token: 'x', env: { MODEL_ID: 'm' }, subroute: '' })).upstream.path, '/');
});

refusals('labels: invalid Kubernetes keys and values, reserved prefixes, too many', () => {
  const env = { MODEL_ID: 'm' };
  refused(parse({ token: 'x', env, label: { '-bad': 'v' } }), 'label key "-bad" is not a valid Kubernetes label key');
  refused(parse({ token: 'x', env, label: { ['a'.repeat(64)]: 'v' } }), 'is not a valid Kubernetes label key');
  refused(parse({ token: 'x', env, label: { 'Bad_Prefix/x': 'v' } }), 'its prefix must be a DNS subdomain');
  refused(parse({ token: 'x', env, label: { 'serving.knative.dev/service': 'v' } }), 'is reserved');
  refused(parse({ token: 'x', env, label: { 'app.kubernetes.io/managed-by': 'me' } }), 'is reserved');
  refused(parse({ token: 'x', env, label: { slo: 'not valid!' } }), 'label "slo": "not valid!" is not a valid Kubernetes label value');
  refused(parse({ token: 'x', env, label: { slo: 'v'.repeat(64) } }), 'is not a valid Kubernetes label value');
  refused(parse({ token: 'x', env, label: { slo: 0.012 } }), 'label "slo" must be a string, not a number');
  refused(parse({ token: 'x', env, label: ['slo'] }), 'label must be a JSON object');
  const many = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v']));
  refused(parse({ token: 'x', env, label: many }), 'label has 33 keys; at most 32');
});

refusals('unknown fields: a typo gets the field meant; an OpenAI body on / is sent to its route', () => {
  refused(parse({ token: 'x', env: { MODEL_ID: 'm' }, lable: {} }), 'unknown field "lable" (did you mean label?)');
  refused(parse({ model: 'm', messages: [] }), 'send it to /v1/chat/completions');
  refused(parse({ model: 'm', prompt: 'hi' }), 'send it to /v1/completions');
});

refusals('__proto__ in the body pollutes nothing', () => {
  const request = ok(parse('{"token":"x","env":{"MODEL_ID":"m"},"par":{"__proto__":{"polluted":true}}}'));
  assert.is(({} as Record<string, unknown>).polluted, undefined);
  assert.match(String(request.upstream.body), '"__proto__"');
  refused(parse('{"token":"x","env":{"MODEL_ID":"m"},"label":{"__proto__":"x"}}'), 'is not a valid Kubernetes label key');
});

const openai = suite('dispatcher parse-request: OpenAI bodies');

openai('chat: routed by model, forwarded byte for byte to the same path', () => {
  const raw = Buffer.from('{ "model": "meta-llama/Llama-3.1-8B-Instruct", "messages": [{"role":"user","content":"hi"}], "unknown_field": 1 }');
  const request = ok(parseRequest({ path: '/v1/chat/completions', body: raw }, POLICY));
  assert.is(request.kind, 'openai');
  assert.is(request.modelId, 'meta-llama/Llama-3.1-8B-Instruct');
  assert.equal(request.env, { MODEL_ID: 'meta-llama/Llama-3.1-8B-Instruct' });
  assert.equal(request.secretEnv, {});
  assert.is(request.upstream.path, '/v1/chat/completions');
  assert.is(request.upstream.body, raw);
  assert.is(request.upstream.stream, false);
  assert.is(request.upstream.accept, 'application/json');
});

openai('completions with stream: true are streamed; a query string is not part of the path', () => {
  const request = ok(parse({ model: 'm', prompt: 'hi', stream: true }, '/v1/completions?x=1'));
  assert.is(request.upstream.path, '/v1/completions');
  assert.is(request.upstream.stream, true);
  assert.is(request.upstream.accept, 'text/event-stream');
});

openai('a body fastify already parsed is serialised again', () => {
  const request = ok(parseRequest({ path: '/v1/completions', body: { model: 'm', prompt: 'hi' } }, POLICY));
  assert.equal(JSON.parse(String(request.upstream.body)), { model: 'm', prompt: 'hi' });
});

openai('refusals: model, stream, messages, prompt', () => {
  refused(parse({ messages: [{}] }, '/v1/chat/completions'), /^model is required$/);
  refused(parse({ model: '', messages: [{}] }, '/v1/chat/completions'), 'model must be a non-empty string');
  refused(parse({ model: 7, messages: [{}] }, '/v1/chat/completions'), 'model must be a non-empty string');
  refused(parse({ model: 'm', messages: [{}], stream: 'yes' }, '/v1/chat/completions'), 'stream must be true or false, not a string');
  refused(parse({ model: 'm', messages: [] }, '/v1/chat/completions'), 'messages must be a non-empty array');
  refused(parse({ model: 'm' }, '/v1/completions'), 'prompt is required for /v1/completions');
  refused(parse('{"model": "m", ', '/v1/chat/completions'), /^body is not JSON: /);
});

ssis.run();
refusals.run();
openai.run();
