/** The answer's serialisation: serializeReview must give what JSON.stringify gives, field for field. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { allow, deny, serializeReview } from '../../webhook/src/admission/review.ts';

const answers = suite('webhook: AdmissionReview answers');

answers('every field of every kind of answer survives serializeReview', () => {
  const patch = [{ op: 'add' as const, path: '/metadata/annotations/a~1b', value: { quoted: '"\\\n', unicode: 'é🙂' } }];
  const samples = [
    allow('uid-1'),
    allow('uid-2', ['GPU for container triton: "1g.10gb"', 'line\nbreak'], patch),
    allow('uid-3', [], patch),
    deny('uid-4', 'refused: "quoted" and \\ back-slashed', 403),
    deny('', 'the webhook could not read the request', 400),
  ];
  // Every optional field of the response appears in at least one sample.
  const fields = new Set(samples.flatMap((answer) => Object.keys(answer.response)));
  assert.equal([...fields].sort(), ['allowed', 'patch', 'patchType', 'status', 'uid', 'warnings']);
  for (const answer of samples) {
    const text = serializeReview(answer);
    assert.equal(JSON.parse(text), answer);
    assert.is(text.length, JSON.stringify(answer).length, 'no field written twice or dropped');
  }
});

answers('the patch is written as base64, which needs no escaping', () => {
  const patch = [{ op: 'add' as const, path: '/x', value: 'ÿ\u0000"\\'.repeat(200) }];
  const answer = allow('uid', [], patch);
  assert.match(answer.response.patch!, /^[A-Za-z0-9+/]+=*$/);
  assert.equal(JSON.parse(Buffer.from(JSON.parse(serializeReview(answer)).response.patch, 'base64').toString()), patch);
});

answers.run();
