/** The answer's serialisation: fastify's schema-compiled serialiser must give what JSON.stringify gives. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fastJsonStringify from 'fast-json-stringify';
import { ADMISSION_REVIEW_OUT_SCHEMA, allow, deny } from '../../webhook/src/admission/review.ts';

const answers = suite('webhook: AdmissionReview answers');
const serialise = fastJsonStringify(ADMISSION_REVIEW_OUT_SCHEMA);

answers('every field of every kind of answer survives the response schema', () => {
  const patch = [{ op: 'add' as const, path: '/metadata/annotations/a~1b', value: { quoted: '"\\\n', unicode: 'é🙂' } }];
  const samples = [
    allow('uid-1'),
    allow('uid-2', ['GPU for container triton: "1g.10gb"', 'line\nbreak'], patch),
    deny('uid-3', 'refused: "quoted" and \\ back-slashed', 403),
    deny('', 'the webhook could not read the request', 400),
  ];
  // Every optional field of the response appears in at least one sample.
  const fields = new Set(samples.flatMap((answer) => Object.keys(answer.response)));
  assert.equal([...fields].sort(), ['allowed', 'patch', 'patchType', 'status', 'uid', 'warnings']);
  for (const answer of samples) assert.is(serialise(answer), JSON.stringify(answer));
});

answers.run();
