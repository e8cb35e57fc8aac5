/**
 * The dispatcher against the real API server of the test harness, with Knative Serving's real
 * CRDs: every Service it creates passes their schema (with strict field validation), and a
 * stand-in plays Knative's controller (test/helpers/dispatcher/knative-stand-in.ts says what it
 * leaves out). Requests go over real HTTP; model servers are local stand-ins on 127.0.0.1.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { counterValue, dispatcherValues, startDispatcher, type DispatcherUnderTest } from '../helpers/dispatcher/dispatcher-under-test.ts';
import { dispatcherTestBed, TEST_BED_RESOURCES, type TestBed } from '../helpers/dispatcher/test-bed.ts';
import { isValidDns1035, serviceNameFor } from '../../dispatcher/src/knative/model-name.ts';
import { MODEL_ID_ANNOTATION } from '../../dispatcher/src/knative/service-spec.ts';

interface Context extends TestBed {
  dispatchers: DispatcherUnderTest[];
}

const LLAMA = 'meta-llama/Llama-3.1-8B-Instruct';
const MIG_RESOURCES = TEST_BED_RESOURCES;

const e2e = suite<Context>('dispatcher: against the real API server', {} as Context);

e2e.before(async (context) => {
  Object.assign(context, await dispatcherTestBed('dispatcher', { chunks: 3, intervalMs: 5 }));
  context.dispatchers = [];
});

e2e.after(async (context) => {
  await Promise.all((context.dispatchers ?? []).map((d) => d.stop()));
  await context.remove?.();
});

async function dispatcher(context: Context, instance = 'release-a', overrides: Record<string, unknown> = {}): Promise<DispatcherUnderTest> {
  const values = dispatcherValues({ gpuResources: MIG_RESOURCES, readyTimeoutSeconds: 10, ...overrides });
  const started = await startDispatcher({ kubeconfig: context.cluster.kubeconfig, namespace: context.namespace.name, instance, values });
  context.dispatchers.push(started);
  return started;
}

function chat(url: string, model: string, extra: Record<string, unknown> = {}) {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hello' }], ...extra }),
  });
}

async function services(context: Context): Promise<any[]> {
  const res = await context.cluster.request('GET', `/apis/serving.knative.dev/v1/namespaces/${context.namespace.name}/services`);
  assert.is(res.status, 200);
  return res.body.items;
}

e2e('100 concurrent requests to a cold model are all answered, and exactly one Service is created', async (context) => {
  const d = await dispatcher(context);
  const answers = await Promise.all(Array.from({ length: 100 }, () => chat(d.url, LLAMA).then(async (res) => ({ status: res.status, body: await res.json() as any }))));
  assert.equal([...new Set(answers.map((a) => a.status))], [200], JSON.stringify(answers.find((a) => a.status !== 200)));
  assert.ok(answers.every((a) => a.body.object === 'chat.completion' && a.body.model === LLAMA), 'the model server\'s own answer reaches the caller');
  const created = await services(context);
  assert.equal(created.map((s) => s.metadata.name), [serviceNameFor(LLAMA)]);
  assert.is(await counterValue(d.metrics, 'supersonic_dispatcher_services_created_total'), 1);
  // The Service as the CRD stored it: a valid name, the full id in an annotation, the GPU share
  // chosen from what is free (8B parameters in bfloat16 need about 19 GB: the 3g.40gb slice).
  const [service] = created;
  assert.ok(isValidDns1035(service.metadata.name));
  assert.is(service.metadata.annotations[MODEL_ID_ANNOTATION], LLAMA);
  const container = service.spec.template.spec.containers[0];
  assert.is(container.resources.limits['nvidia.com/mig-3g.40gb'], '1');
  assert.ok(container.env.some((e: any) => e.name === 'MODEL_ID' && e.value === LLAMA));
  assert.is(service.metadata.labels['networking.knative.dev/visibility'], 'cluster-local');
});

e2e('two dispatcher replicas, one cold model: every request answered, one Service (the loser\'s create is a 409)', async (context) => {
  const [a, b] = [await dispatcher(context, 'release-b'), await dispatcher(context, 'release-b')];
  const model = 'Qwen/Qwen2.5-0.5B-Instruct';
  const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => chat(i % 2 ? a.url : b.url, model).then((res) => res.status)));
  assert.equal([...new Set(answers)], [200]);
  const ours = (await services(context)).filter((s) => s.metadata.annotations[MODEL_ID_ANNOTATION] === model);
  assert.is(ours.length, 1);
  const created = (await counterValue(a.metrics, 'supersonic_dispatcher_services_created_total')) + (await counterValue(b.metrics, 'supersonic_dispatcher_services_created_total'));
  assert.is(created, 1, 'exactly one replica created it');
});

e2e('a revision that fails gives a clear 502, not a wait', async (context) => {
  const d = await dispatcher(context, 'release-c');
  const model = 'broken-org/Broken-1B';
  context.verdicts.set(model, { ready: false, reason: 'RevisionFailed', message: 'Revision "broken-1b-00001" failed with message: Back-off pulling image.' });
  const res = await chat(d.url, model);
  assert.is(res.status, 502);
  const body = (await res.json()) as any;
  assert.match(body.error, /failed to start: RevisionFailed: Revision "broken-1b-00001" failed with message: Back-off pulling image/);
  assert.is(body.model, model);
  assert.ok(body.requestId);
});

e2e('a model no free share can hold gets 503 with what is free, and no Service', async (context) => {
  const d = await dispatcher(context, 'release-d');
  const model = 'big-org/Huge-70B';
  const res = await chat(d.url, model);
  assert.is(res.status, 503);
  const body = (await res.json()) as any;
  assert.match(body.error, /no free GPU share has/);
  assert.match(body.error, /mig-1g\.10gb/);
  assert.not.ok((await services(context)).some((s) => s.metadata.annotations[MODEL_ID_ANNOTATION] === model));
});

e2e('beyond maxQueuedPerModel, waiting for a cold model is refused at once with 503 and Retry-After', async (context) => {
  const model = 'queue-org/Queued-1B';
  context.verdicts.set(model, 'pending');
  const d = await dispatcher(context, 'release-g', { limits: { maxQueuedPerModel: 5 } });
  const waiting = Array.from({ length: 5 }, () => chat(d.url, model));
  // The five wait for the Service; the sixth finds the queue full.
  const name = serviceNameFor(model);
  // Five queued, and their Service created (the create runs beside the queueing).
  while ((await counterValue(d.metrics, 'supersonic_dispatcher_queue_depth', { model: name })) < 5 || (await counterValue(d.metrics, 'supersonic_dispatcher_services_created_total')) < 1) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const refused = await chat(d.url, model);
  assert.is(refused.status, 503);
  assert.ok(refused.headers.get('retry-after'));
  assert.match(((await refused.json()) as any).error, /already wait for/);
  await context.knative.settle(name, { ready: true, url: context.model.url });
  assert.equal((await Promise.all(waiting)).map((r) => r.status), [200, 200, 200, 200, 200], 'the waiting ones are answered once it is Ready');
});

e2e('a bad body is a 400 that says what is wrong', async (context) => {
  const d = await dispatcher(context, 'release-e');
  const res = await fetch(`${d.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"messages": []}' });
  assert.is(res.status, 400);
  assert.match(((await res.json()) as any).error, /model/);
});

e2e('a streamed answer passes through chunk by chunk', async (context) => {
  const d = await dispatcher(context, 'release-a');
  const res = await chat(d.url, LLAMA, { stream: true });
  assert.is(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
  const text = await res.text();
  const events = text.split('\n\n').filter(Boolean);
  assert.ok(events.length >= 4, text);
  assert.is(events.at(-1), 'data: [DONE]');
});

e2e('with the gateway\'s token settings, a caller without a valid token is refused 401 before any GPU is spent', async (context) => {
  const { exportJWK, generateKeyPair, SignJWT } = await import('jose');
  const { JwtVerifier } = await import('../../dispatcher/src/auth/jwt-verifier.ts');
  const keys = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(keys.publicKey)), kid: 'k1', alg: 'ES256' };
  const issuer = 'https://keycloak.example.org/realms/cms';
  const verifier = new JwtVerifier({ issuer, jwksUri: 'https://keycloak.example.org/realms/cms/certs', audiences: ['supersonic'] }, { fetchKeys: async () => ({ keys: [jwk] }) });
  const d = await startDispatcher({ kubeconfig: context.cluster.kubeconfig, namespace: context.namespace.name, instance: 'release-h', values: dispatcherValues({ gpuResources: MIG_RESOURCES, readyTimeoutSeconds: 10 }), verifier });
  context.dispatchers.push(d);
  const model = 'auth-org/Private-1B';
  const refused = await chat(d.url, model);
  assert.is(refused.status, 401);
  assert.is(refused.headers.get('www-authenticate'), 'Bearer');
  assert.match(((await refused.json()) as any).error, /bearer token is required/);
  assert.not.ok((await services(context)).some((s) => s.metadata.annotations[MODEL_ID_ANNOTATION] === model), 'no Service for an anonymous caller');
  const token = await new SignJWT({ aud: 'supersonic', sub: 'alice' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(issuer).setExpirationTime('5m').sign(keys.privateKey);
  const allowed = await fetch(`${d.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }) });
  assert.is(allowed.status, 200);
});

e2e('a caller\'s HF_TOKEN goes into a Secret the container references, never inline, and a second caller\'s never replaces it', async (context) => {
  const d = await dispatcher(context, 'release-i');
  const model = 'secret-org/Gated-1B';
  const ssis = (token: string) =>
    fetch(`${d.url}/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: 'hi', par: { max_new_tokens: 5 }, env: { MODEL_ID: model, HF_TOKEN: token } }) });
  assert.ok((await ssis('hf_first')).status < 500);
  const name = serviceNameFor(model);
  const secret = await context.cluster.request('GET', `/api/v1/namespaces/${context.namespace.name}/secrets/${name}-env`);
  assert.is(secret.status, 200);
  assert.is(Buffer.from(secret.body.data.HF_TOKEN, 'base64').toString(), 'hf_first');
  const service = (await services(context)).find((s) => s.metadata.name === name);
  const env = service.spec.template.spec.containers[0].env;
  assert.equal(env.find((e: any) => e.name === 'HF_TOKEN'), { name: 'HF_TOKEN', valueFrom: { secretKeyRef: { name: `${name}-env`, key: 'HF_TOKEN', optional: false } } });
  assert.not.ok(JSON.stringify(service).includes('hf_first'), 'the token is nowhere in the Service');
  assert.ok((await ssis('hf_second')).status < 500);
  const after = await context.cluster.request('GET', `/api/v1/namespaces/${context.namespace.name}/secrets/${name}-env`);
  assert.is(Buffer.from(after.body.data.HF_TOKEN, 'base64').toString(), 'hf_first', 'the shared Service keeps its token');
});

e2e('models unused for idleDeleteAfterMinutes lose their Service and Secret; others stay', async (context) => {
  const { sweepIdleModels } = await import('../../dispatcher/src/knative/idle-sweep.ts');
  const d = await dispatcher(context, 'release-i');
  const name = serviceNameFor('secret-org/Gated-1B');
  while (!d.services.states().some((s) => s.name === name)) await new Promise((r) => setTimeout(r, 20));
  const lastUsed = d.services.states().find((s) => s.name === name)!.lastUsed!;
  assert.equal(await sweepIdleModels(d.services, 60 * 60_000, lastUsed + 60_000), [], 'used a minute ago: kept');
  assert.equal(await sweepIdleModels(d.services, 0, lastUsed + 10 * 3600_000), [], '0 never removes');
  assert.equal(await sweepIdleModels(d.services, 60 * 60_000, lastUsed + 2 * 3600_000), [name]);
  assert.is((await context.cluster.request('GET', `/apis/serving.knative.dev/v1/namespaces/${context.namespace.name}/services/${name}`)).status, 404);
  assert.is((await context.cluster.request('GET', `/api/v1/namespaces/${context.namespace.name}/secrets/${name}-env`)).status, 404);
  assert.ok((await services(context)).some((s) => s.metadata.name === serviceNameFor(LLAMA)), 'another release\'s models are not touched');
});

e2e('with the API server unreachable the dispatcher answers 503 and stays up', async (context) => {
  // A kubeconfig whose server refuses connections: the watch loops retry, requests are refused cleanly.
  const { writeFileSync, mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'dispatcher-kube-'));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]\nusers: [{name: u, user: {token: x}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n`);
  const d = await startDispatcher({ kubeconfig, namespace: context.namespace.name, instance: 'release-f', values: dispatcherValues({ readyTimeoutSeconds: 5 }), waitReady: false });
  context.dispatchers.push(d);
  for (let i = 0; i < 3; i++) {
    const res = await chat(d.url, LLAMA);
    assert.is(res.status, 503);
    assert.ok(res.headers.get('retry-after'), 'Retry-After is set');
  }
  const health = await fetch(`${d.url}/healthz`);
  assert.is(health.status, 200, 'the process still answers');
  assert.is((await fetch(`${d.url}/readyz`)).status, 503, 'and says it is not ready');
});

e2e.run();
