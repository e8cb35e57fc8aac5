/**
 * 10,000+ random and malformed bodies to /mutate: the webhook never crashes, and every answer is
 * HTTP 200 with a valid AdmissionReview that echoes the request's uid when it had a readable one.
 * The inputs come from a seeded generator, so a failure reproduces.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pick, random } from '../helpers/random.ts';
import { buildTestApp, FIXTURES } from '../helpers/webhook.ts';

const fuzz = suite('webhook: fuzzing /mutate');
const ROUNDS = 10_500;
const seeds = readdirSync(FIXTURES).map((name) => JSON.parse(readFileSync(join(FIXTURES, name, 'review.json'), 'utf8')));

const ODD_VALUES = [null, 0, -1, 1e308, '', 'x'.repeat(1000), true, [], {}, [null], { '': '' }, '\u0000', NaN, '🙂', '../../etc/passwd'];

function randomValue(next: () => number, depth = 0): unknown {
  const kind = Math.floor(next() * 8);
  if (depth > 3 || kind < 3) return pick(next, ODD_VALUES);
  if (kind < 5) return Array.from({ length: Math.floor(next() * 4) }, () => randomValue(next, depth + 1));
  return Object.fromEntries(Array.from({ length: Math.floor(next() * 4) }, (_, i) => [`k${i}`, randomValue(next, depth + 1)]));
}

/**
 * Replaces or deletes random nodes in a copy of a real review: anywhere, or (`inPod`) only
 * inside the pod, so that most inputs get past the envelope and reach the mutations.
 */
function mutateReview(next: () => number, inPod = false): unknown {
  const review = structuredClone(pick(next, seeds));
  const steps = 1 + Math.floor(next() * 3);
  for (let s = 0; s < steps; s++) {
    let node: any = inPod ? review.request.object : review;
    for (let depth = 0; depth < 8; depth++) {
      const keys = node && typeof node === 'object' ? Object.keys(node) : [];
      if (!keys.length) break;
      const key = pick(next, keys);
      const child = node[key];
      if (!child || typeof child !== 'object' || next() < 0.3) {
        if (next() < 0.5) delete node[key];
        else node[key] = randomValue(next);
        break;
      }
      node = child;
    }
  }
  return review;
}

function randomBody(next: () => number): { payload: string | Buffer; contentType: string } {
  const kind = Math.floor(next() * 8); // 5, 6 and 7: the pod is damaged, the envelope is intact
  if (kind === 0) return { payload: Buffer.from(Array.from({ length: Math.floor(next() * 200) }, () => Math.floor(next() * 256))), contentType: 'application/json' };
  if (kind === 1) return { payload: JSON.stringify(randomValue(next)), contentType: 'application/json' };
  if (kind === 2) return { payload: JSON.stringify(mutateReview(next)).slice(0, Math.floor(next() * 4000)), contentType: 'application/json' };
  if (kind >= 5) return { payload: JSON.stringify(mutateReview(next, true)), contentType: 'application/json' };
  if (kind === 3) return { payload: JSON.stringify(mutateReview(next)), contentType: next() < 0.5 ? 'text/plain' : 'application/x-www-form-urlencoded' };
  return { payload: JSON.stringify(mutateReview(next)), contentType: 'application/json' };
}

function uidOf(payload: string | Buffer): string {
  try {
    const uid = JSON.parse(payload.toString()).request.uid;
    return typeof uid === 'string' ? uid : '';
  } catch {
    return '';
  }
}

fuzz(`${ROUNDS} random and malformed bodies get a valid AdmissionReview each`, async () => {
  const { app } = buildTestApp();
  const next = random(20261125);
  const outcomes = new Map<string, number>();
  for (let i = 0; i < ROUNDS; i++) {
    const { payload, contentType } = randomBody(next);
    const reply = await app.inject({ method: 'POST', url: '/mutate', payload, headers: { 'content-type': contentType } });
    assert.is(reply.statusCode, 200, `round ${i}: HTTP ${reply.statusCode}`);
    assert.is(reply.headers['content-type'], 'application/json; charset=utf-8', `round ${i}`);
    const answer = reply.json();
    assert.is(answer.apiVersion, 'admission.k8s.io/v1', `round ${i}`);
    assert.is(answer.kind, 'AdmissionReview', `round ${i}`);
    assert.type(answer.response.allowed, 'boolean', `round ${i}`);
    const uid = uidOf(payload);
    if (uid) assert.is(answer.response.uid, uid, `round ${i}: uid not echoed`);
    if (answer.response.patch) JSON.parse(Buffer.from(answer.response.patch, 'base64').toString());
    const outcome = answer.response.allowed ? (answer.response.patch ? 'patched' : 'allowed') : `denied-${answer.response.status?.code}`;
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  }
  // The generator reaches every kind of answer, so the loop exercised the real paths too.
  for (const outcome of ['patched', 'allowed', 'denied-400', 'denied-403']) assert.ok(outcomes.get(outcome), `no ${outcome} answer in ${JSON.stringify([...outcomes])}`);
  // An internal error (500) is a bug of ours, not a valid answer to bad input.
  assert.is(outcomes.get('denied-500'), undefined, `internal errors: ${JSON.stringify([...outcomes])}`);
  console.log(`    fuzz outcomes: ${JSON.stringify(Object.fromEntries(outcomes))}`);
  await app.close();
});

fuzz('a body over the 8 MiB limit and an empty body get AdmissionReview refusals', async () => {
  const { app } = buildTestApp();
  const big = await app.inject({ method: 'POST', url: '/mutate', payload: 'x'.repeat(9 * 1024 * 1024), headers: { 'content-type': 'application/json' } });
  assert.is(big.statusCode, 200);
  assert.is(big.json().response.allowed, false);
  assert.match(big.json().response.status.message, /could not read the request/);
  const empty = await app.inject({ method: 'POST', url: '/mutate' });
  assert.is(empty.statusCode, 200);
  assert.is(empty.json().response.allowed, false);
  await app.close();
});

fuzz.run();
