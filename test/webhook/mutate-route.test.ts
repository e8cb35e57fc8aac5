/**
 * What the /mutate route adds to mutatePod's outcome: a pod that asks for nothing still gets the
 * warnings it earned (a typo under our prefix), and the injections metric counts only what a
 * patch really adds, so a reinvocation that changes nothing counts nothing.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fastJsonPatch from 'fast-json-patch';
import { buildTestApp, FIXTURES } from '../helpers/webhook.ts';

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

route.run();
