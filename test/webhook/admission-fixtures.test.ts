/**
 * AdmissionReview fixtures shaped as the API server sends them (CREATE with generateName,
 * several containers, init containers, existing volumes and resources, dryRun, UPDATE), each
 * with its expected answer and, when mutated, the golden patched pod. For every fixture: the
 * answer is a valid AdmissionReview echoing the uid; the patch applied to the pod gives the
 * golden pod, which is a valid Pod; and a second pass over the patched pod yields no patch.
 * UPDATE_GOLDEN=1 rewrites expected.json and patched-pod.json after an intended change.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fastJsonPatch from 'fast-json-patch';
import { buildTestApp, FIXTURES } from '../helpers/webhook.ts';
import { validateManifests } from '../helpers/k8s/manifests.ts';

const UPDATE = process.env.UPDATE_GOLDEN === '1';
const fixtures = suite('webhook: AdmissionReview fixtures');
const { app } = buildTestApp();

async function post(review: unknown) {
  const reply = await app.inject({ method: 'POST', url: '/mutate', payload: JSON.stringify(review), headers: { 'content-type': 'application/json' } });
  assert.is(reply.statusCode, 200);
  assert.is(reply.headers['content-type'], 'application/json; charset=utf-8');
  return reply.json();
}

function readJson(path: string) {
  return JSON.parse(readFileSync(path, 'utf8'));
}
function writeJson(path: string, value: unknown) {
  writeFileSync(path, JSON.stringify(value, null, 2) + '\n');
}

for (const name of readdirSync(FIXTURES).sort()) {
  const dir = join(FIXTURES, name);
  fixtures(name, async () => {
    const review = readJson(join(dir, 'review.json'));
    const answer = await post(review);
    assert.is(answer.apiVersion, 'admission.k8s.io/v1');
    assert.is(answer.kind, 'AdmissionReview');
    assert.is(answer.response.uid, review.request.uid);

    const response = answer.response;
    const patch = response.patch ? JSON.parse(Buffer.from(response.patch, 'base64').toString()) : undefined;
    const patched = patch ? fastJsonPatch.applyPatch(structuredClone(review.request.object), patch, true, false).newDocument : undefined;
    const expected = { allowed: response.allowed, warnings: response.warnings ?? [], status: response.status ?? null, mutated: !!patch };
    if (UPDATE || !existsSync(join(dir, 'expected.json'))) {
      if (!UPDATE) assert.unreachable(`${name}/expected.json is missing: run UPDATE_GOLDEN=1 and review it`);
      writeJson(join(dir, 'expected.json'), expected);
      if (patched) writeJson(join(dir, 'patched-pod.json'), patched);
    }
    assert.equal(expected, readJson(join(dir, 'expected.json')));
    if (!patched) return;

    if (response.patchType !== 'JSONPatch') assert.unreachable('a patch without patchType JSONPatch');
    assert.equal(patched, readJson(join(dir, 'patched-pod.json')));
    assert.equal(await validateManifests([patched], { skipPodSecurity: true }), []);

    const again = await post({ ...review, request: { ...review.request, uid: `${review.request.uid}-again`, object: patched } });
    assert.is(again.response.allowed, true);
    assert.is(again.response.patch, undefined, `second pass patched: ${again.response.patch && Buffer.from(again.response.patch, 'base64')}`);
  });
}

fixtures.run();
