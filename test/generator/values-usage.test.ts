import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { checkValuesUsage, collectReads } from '../../generator/src/check/values-usage.ts';
import { walkValues } from '../../generator/src/schema/walk.ts';
import type { SchemaNode } from '../../generator/src/schema/types.ts';
import { validSchema } from '../helpers/schema-fixtures.ts';

/** The fixture schema, with `global` exempted the way the project schema exempts it. */
function schema(): SchemaNode {
  const root = validSchema();
  root.properties!.global!['x-unread'] = 'Helm injects it when the chart is a subchart.';
  return root;
}

/** Templates that read every key of `schema()`, each problem test breaks one thing. */
const deployment = [
  'replicas: {{ .Values.replicas }}',
  'image: {{ .Values.app.image | quote }}',
  'labels: {{- toYaml .Values.app.labels | nindent 2 }}',
  'cpu: {{ .Values.app.cpu }}',
].join('\n');

function check(templates: Record<string, string>, root = schema()): string[] {
  return checkValuesUsage(walkValues(root), new Map(Object.entries(templates)), root);
}

const usage = suite('check/values-usage: schema keys and template reads agree');

usage('templates that read every key, and only declared keys, have no problems', () => {
  assert.equal(check({ 'templates/deployment.yaml': deployment }), []);
});

usage('a key that no template reads is reported, naming the key', () => {
  const withoutImage = deployment.replace('{{ .Values.app.image | quote }}', '"nginx"');
  assert.equal(check({ 'templates/deployment.yaml': withoutImage }), [
    'app.image: declared in the schema but read by no template (read it, remove it, or explain with x-unread)',
  ]);
});

usage('a key read in any one of several templates counts as read', () => {
  const withoutImage = deployment.replace('{{ .Values.app.image | quote }}', '"nginx"');
  assert.equal(check({ 'templates/deployment.yaml': withoutImage, 'templates/job.yaml': 'image: {{ .Values.app.image }}' }), []);
});

usage('a key with x-unread is exempt; without it the same key is reported', () => {
  assert.equal(check({ 'templates/deployment.yaml': deployment }), []);
  const root = schema();
  delete root.properties!.global!['x-unread'];
  assert.equal(check({ 'templates/deployment.yaml': deployment }, root), [
    'global: declared in the schema but read by no template (read it, remove it, or explain with x-unread)',
  ]);
});

usage('a template reading a path the schema lacks is reported, naming the file and the path', () => {
  const templates = { 'templates/deployment.yaml': deployment, 'templates/service.yaml': 'port: {{ .Values.app.port }}' };
  assert.equal(check(templates), ['templates/service.yaml: reads .Values.app.port, which the schema does not declare']);
});

usage('an undeclared path read by several templates is reported once, naming all of them', () => {
  const templates = {
    'templates/deployment.yaml': `${deployment}\n{{ .Values.nope.deep }}`,
    'templates/service.yaml': '{{ if .Values.nope.deep }}x{{ end }}',
  };
  assert.equal(check(templates), ['templates/deployment.yaml, templates/service.yaml: reads .Values.nope.deep, which the schema does not declare']);
});

usage('a path inside a free-form leaf is accepted, and counts as reading the leaf', () => {
  const labelsByKey = deployment.replace('toYaml .Values.app.labels', 'toYaml .Values.app.labels.team');
  assert.equal(check({ 'templates/deployment.yaml': labelsByKey }), []);
});

usage('below a group, only declared keys are accepted', () => {
  const templates = { 'templates/deployment.yaml': `${deployment}\n{{ .Values.app.imageTag }}{{ .Values.app.labels.team }}` };
  assert.equal(check(templates), ['templates/deployment.yaml: reads .Values.app.imageTag, which the schema does not declare']);
});

usage('below a leaf, a path must fit the leaf: nothing under a scalar, only declared names in a closed object', () => {
  const root = schema();
  root.properties!.app!.properties!.resources = {
    type: 'object', additionalProperties: false, default: {}, description: 'Resources.',
    properties: { limits: { type: 'object', additionalProperties: { type: 'string' }, description: 'Limits.' } },
  };
  const reads = `${deployment}\n{{ .Values.app.resources.limits.cpu }}`;
  assert.equal(check({ 't.yaml': reads }, root), []);
  assert.equal(check({ 't.yaml': `${reads}\n{{ .Values.app.resources.limit }}` }, root), [
    't.yaml: reads .Values.app.resources.limit, which the schema does not declare',
  ]);
  assert.equal(check({ 't.yaml': `${deployment}\n{{ .Values.replicas.max }}` }), [
    't.yaml: reads .Values.replicas.max, which the schema does not declare',
  ]);
});

usage('keys inside a deprecated group need no reader of their own; the group itself does', () => {
  const root = schema();
  root.properties!.legacy = {
    type: 'object', additionalProperties: false, deprecated: true, description: 'Deprecated: use app.',
    properties: { image: { type: 'string', description: 'Old image.' } },
  };
  assert.equal(check({ 't.yaml': `${deployment}\n{{ if .Values.legacy }}warn{{ end }}` }, root), []);
});

usage('$.Values and .root.Values count as reads', () => {
  const viaRoot = deployment
    .replace('{{ .Values.replicas }}', '{{ $.Values.replicas }}')
    .replace('{{ .Values.app.image | quote }}', '{{ .root.Values.app.image | quote }}');
  assert.equal(check({ 'templates/deployment.yaml': viaRoot }), []);
  const reads = collectReads(new Map([['t.yaml', viaRoot]]));
  assert.equal(reads.get('replicas'), ['t.yaml']);
  assert.equal(reads.get('app.image'), ['t.yaml']);
});

usage('index .Values with a variable, or toYaml .Values, is reported as a read the check cannot see', () => {
  const problem = (file: string) =>
    `${file}: reads .Values without a full key path; spell out .Values.<key>.<key> (or index .Values "<key>" with literal keys)`;
  assert.equal(check({ 'templates/deployment.yaml': deployment, 'templates/a.yaml': '{{ index .Values $key }}' }), [problem('templates/a.yaml')]);
  assert.equal(check({ 'templates/deployment.yaml': deployment, 'templates/b.yaml': 'values: {{- toYaml .Values | nindent 2 }}' }), [problem('templates/b.yaml')]);
  assert.equal(check({ 'templates/deployment.yaml': deployment, 'templates/c.yaml': '{{ toYaml .Values}}' }), [problem('templates/c.yaml')]);
});

usage('index .Values with literal keys is a read, so keys that are not identifiers can be read', () => {
  const root = schema();
  root.properties!['open-telemetry'] = { type: 'object', additionalProperties: true, default: {}, description: 'A key with a dash.' };
  assert.equal(check({ 't.yaml': `${deployment}\n{{ if (index .Values "open-telemetry") }}on{{ end }}` }, root), []);
  assert.equal(check({ 't.yaml': `${deployment}\n{{ index $.Values "open-telemetry" }}{{ index $.Values "app" "nope" }}` }, root), [
    't.yaml: reads .Values.app.nope, which the schema does not declare',
  ]);
});

usage('a key mentioned only in a comment is not read', () => {
  const withoutImage = deployment.replace('{{ .Values.app.image | quote }}', '"nginx"');
  const problem = ['app.image: declared in the schema but read by no template (read it, remove it, or explain with x-unread)'];
  assert.equal(check({ 't.yaml': `${withoutImage}\n{{- /* see .Values.app.image */}}` }), problem);
  assert.equal(check({ 't.yaml': `${withoutImage}\n# image comes from .Values.app.image` }), problem);
});

usage('reading a group alone does not count as reading its keys', () => {
  const groupOnly = ['replicas: {{ .Values.replicas }}', '{{- if .Values.app }}app: true{{ end }}'].join('\n');
  const problems = check({ 'templates/deployment.yaml': groupOnly });
  assert.equal(problems, [
    'app.image: declared in the schema but read by no template (read it, remove it, or explain with x-unread)',
    'app.labels: declared in the schema but read by no template (read it, remove it, or explain with x-unread)',
    'app.cpu: declared in the schema but read by no template (read it, remove it, or explain with x-unread)',
  ]);
});

usage('a key whose name is a prefix of another read key is not counted as read', () => {
  const root = schema();
  root.properties!.app!.properties!.imageTag = { type: 'string', default: '1', description: 'Tag.' };
  const tagOnly = deployment.replace('.Values.app.image |', '.Values.app.imageTag |');
  assert.equal(check({ 'templates/deployment.yaml': tagOnly }, root), [
    'app.image: declared in the schema but read by no template (read it, remove it, or explain with x-unread)',
  ]);
});

usage('a map handed whole to a helper (include "x" .Values.a) counts as a read of all of it, a dict argument does not', () => {
  const reads = collectReads(new Map([
    ['templates/a.yaml', '{{ include "supersonic.ingressHosts" .Values.grafana.ingress | fromYamlArray }}'],
    ['templates/b.yaml', '{{ include "supersonic.labels" (dict "root" . "extra" .Values.app.labels) }}'],
  ]));
  assert.equal(reads.get('grafana.ingress.*'), ['templates/a.yaml']);
  assert.is(reads.get('app.labels.*'), undefined);
  assert.equal(reads.get('app.labels'), ['templates/b.yaml']);
});

usage.run();
