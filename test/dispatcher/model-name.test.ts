/**
 * Knative Service names of models (dispatcher/src/knative/model-name.ts): distinct for
 * distinct ids (SSIS-Dispatcher gave `org-a/Llama-3` and `org-b/llama3` one name), stable for
 * one id, always a DNS-1035 label short enough for Knative's derived names.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { isValidDns1035, secretNameFor, serviceNameFor, SERVICE_NAME_MAX } from '../../dispatcher/src/knative/model-name.ts';

const names = suite('dispatcher model names');

function valid(id: string): string {
  const name = serviceNameFor(id);
  assert.ok(isValidDns1035(name), `${JSON.stringify(name)} (from ${JSON.stringify(id.slice(0, 40))}) is not DNS-1035`);
  assert.ok(name.length <= SERVICE_NAME_MAX, `${name} is ${name.length} characters`);
  return name;
}

names('the cap leaves room for Knative\'s longest derived name, <name>-00001-deployment', () => {
  assert.is(SERVICE_NAME_MAX, 46);
  assert.is(`${'a'.repeat(SERVICE_NAME_MAX)}-00001-deployment`.length, 63);
});

names('readable tail plus 8 hex of sha256 of the whole id', () => {
  const id = 'meta-llama/Meta-Llama-3.1-8B';
  const hash = createHash('sha256').update(id).digest('hex').slice(0, 8);
  assert.is(valid(id), `meta-llama-3-1-8b-${hash}`);
});

names("SSIS's collisions are distinct names; one id is always one name", () => {
  const a = valid('org-a/Llama-3');
  const b = valid('org-b/llama3');
  assert.is.not(a, b);
  assert.is.not(valid('org-a/Llama-3'), valid('org-b/Llama-3'));
  assert.is(serviceNameFor('org-a/Llama-3'), a);
});

names('ids starting with digits, symbols only, empty tails, 300 characters, unicode: all valid', () => {
  const ids = [
    '3b-model', 'org/7B', '0', '---', '/', 'org/', '🦙/🦙🦙', 'Modèle/Über-Größe', 'ｆｕｌｌｗｉｄｔｈ', '中文模型/千问-7B',
    'x'.repeat(300), `org/${'A'.repeat(296)}`, `${'9'.repeat(300)}`, `a${'-'.repeat(299)}b`, '/models/triton/resnet50',
    'a'.repeat(37) + '-' + 'b'.repeat(10), '\u0000\u0001', 'MiXeD_Case.Name',
  ];
  const seen = new Set<string>();
  for (const id of ids) {
    const name = valid(id);
    assert.ok(!seen.has(name), `${name} given twice`);
    seen.add(name);
  }
  assert.match(serviceNameFor('3b-model'), /^m-3b-model-[0-9a-f]{8}$/);
  assert.match(serviceNameFor('---'), /^model-[0-9a-f]{8}$/);
  assert.match(serviceNameFor('Modèle/Über-Größe'), /^uber-gro-e-[0-9a-f]{8}$/);
  assert.match(serviceNameFor('org/'), /^org-[0-9a-f]{8}$/);
  assert.is(serviceNameFor('x'.repeat(300)).length, SERVICE_NAME_MAX);
});

names('a long tail is cut without leaving a dash before the hash', () => {
  const name = valid(`${'a'.repeat(36)}-bbbb`);
  assert.match(name, /^a{36}-[0-9a-f]{8}$/);
});

names('isValidDns1035 as Knative checks a Service name', () => {
  for (const good of ['a', 'model', 'a-1', 'a'.repeat(63)]) assert.ok(isValidDns1035(good), good);
  for (const bad of ['', '1a', '-a', 'a-', 'A', 'a_b', 'a.b', 'a'.repeat(64), 'é']) assert.not.ok(isValidDns1035(bad), bad);
});

names('the Secret of a model is <service-name>-env', () => {
  assert.is(secretNameFor('org-a/Llama-3'), `${serviceNameFor('org-a/Llama-3')}-env`);
});

names.run();
