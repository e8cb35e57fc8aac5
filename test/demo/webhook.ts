/**
 * `make demo`, webhook part: the webhook app, with a sample cluster (test/fixtures/nodes.json),
 * answers an AdmissionReview as the API server would send it, and the answer is shown decoded.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildTestApp, FIXTURES } from '../helpers/webhook.ts';

const fixture = process.argv[2] ?? 'create-several-containers';
const review = JSON.parse(readFileSync(join(FIXTURES, fixture, 'review.json'), 'utf8'));
const { app } = buildTestApp();
const reply = await app.inject({ method: 'POST', url: '/mutate', payload: review, headers: { 'content-type': 'application/json' } });
const { response } = reply.json();
const pod = review.request.object;
console.log(`Pod ${review.request.namespace}/${pod.metadata.generateName}… asks for:`);
for (const [key, value] of Object.entries(pod.metadata.annotations ?? {})) console.log(`  ${key}: ${value}`);
console.log(`\nAnswer: allowed=${response.allowed}${response.status ? ` (${response.status.message})` : ''}`);
for (const warning of response.warnings ?? []) console.log(`  Warning: ${warning}`);
if (response.patch) {
  console.log('\nJSON Patch:');
  for (const op of JSON.parse(Buffer.from(response.patch, 'base64').toString())) console.log(`  ${op.op} ${op.path} ${JSON.stringify(op.value)}`);
}
await app.close();
