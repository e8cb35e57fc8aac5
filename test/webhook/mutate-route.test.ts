/**
 * What the /mutate route adds to mutatePod's outcome: a pod that asks for nothing still gets the
 * warnings it earned (a typo under our prefix); the injections metric counts only what a patch
 * really adds, so a reinvocation that changes nothing counts nothing; and a failure of our own
 * is answered by the error policy.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fastJsonPatch from 'fast-json-patch';
import { buildApp } from '../../webhook/src/app.ts';
import { createWebhookMetrics } from '../../webhook/src/metrics.ts';
import { buildTestApp, FIXTURES, testConfig, testDeps } from '../helpers/webhook.ts';

const route = suite('webhook: the /mutate route');
const review = (name: string) => JSON.parse(readFileSync(join(FIXTURES, name, 'review.json'), 'utf8'));

async function post(app: ReturnType<typeof buildTestApp>['app'], body: unknown) {
  const reply = await app.inject({ method: 'POST', url: '/mutate', payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  assert.is(reply.statusCode, 200);
  return JSON.parse(reply.body).response;
}

route('a pod whose only annotation is a typo under our prefix is let through with the warning', async () => {
  const { app } = buildTestApp();
  const body = review('create-not-requested');
  body.request.object.metadata.annotations = { 'supersonic.fastmachinelearning.org/gpu-profil': '1g.10gb' };
  const response = await post(app, body);
  assert.is(response.allowed, true);
  assert.is(response.patch, undefined);
  assert.equal(response.warnings?.length, 1, JSON.stringify(response));
  assert.match(response.warnings[0], 'gpu-profil');
  assert.match(response.warnings[0], 'did you mean gpu-profile');
});

route('an injection is counted once: the reinvocation of an already mutated pod adds nothing and counts nothing', async () => {
  const { app, metrics } = buildTestApp();
  const first = review('create-cvmfs-auth');
  const answer = await post(app, first);
  assert.ok(answer.patch, 'the first pass injects');
  const counted = async () => (await metrics.injections.get()).values.reduce((sum, value) => sum + value.value, 0);
  const afterFirst = await counted();
  assert.ok(afterFirst > 0);
  // The API server sends the pod as our patch left it.
  const patched = fastJsonPatch.applyPatch(structuredClone(first.request.object), JSON.parse(Buffer.from(answer.patch, 'base64').toString())).newDocument;
  const again = await post(app, { ...first, request: { ...first.request, object: patched } });
  assert.is(again.patch, undefined, 'nothing to add');
  assert.is(await counted(), afterFirst);
});

route('a failure of our own is answered by the error policy: auto follows failurePolicy, deny and allow override it; each is counted', async () => {
  type Values = ReturnType<typeof testConfig>['values'];
  const failing = (errorPolicy: Values['errorPolicy'], failurePolicy: Values['failurePolicy']) => {
    const config = testConfig();
    config.values.errorPolicy = errorPolicy;
    config.values.failurePolicy = failurePolicy;
    const metrics = createWebhookMetrics();
    // The claim lookup failing stands for any unexpected error inside the mutation.
    const deps = { ...testDeps(config), claimExists: async () => { throw new Error('the API server said 500'); } };
    return { app: buildApp({ metrics, ready: () => true, deps }), metrics };
  };
  const cases = [['auto', 'Fail', false], ['auto', 'Ignore', true], ['deny', 'Ignore', false], ['allow', 'Fail', true]] as const;
  for (const [errorPolicy, failurePolicy, allowed] of cases) {
    const { app, metrics } = failing(errorPolicy, failurePolicy);
    const response = await post(app, review('create-cvmfs-auth'));
    const what = `errorPolicy ${errorPolicy}, failurePolicy ${failurePolicy}`;
    assert.is(response.allowed, allowed, what);
    assert.is(response.patch, undefined, `${what}: nothing half-done is sent`);
    if (allowed) assert.match(response.warnings[0], 'the SuperSONIC webhook failed on this pod: the API server said 500; created unchanged');
    else assert.match(response.status.message, 'the API server said 500');
    const counted = (await metrics.internalErrors.get()).values.map((v) => `${v.labels.answer}=${v.value}`);
    assert.equal(counted, [`${allowed ? 'allowed' : 'denied'}=1`], what);
  }
});

route.run();
