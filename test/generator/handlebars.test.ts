import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHandlebars, renderTemplate } from '../../generator/src/render/handlebars.ts';
import { goTemplateHeader } from '../../generator/src/render/headers.ts';

const hb = createHandlebars();
const render = (source: string, model: object = {}) => renderTemplate(hb, 'templates/x.yaml.hbs', source, model);

const handlebars = suite('render/handlebars: templates that emit Go templates and Markdown');

handlebars('renders fields of the model', () => {
  assert.is(render('name: {{chart.name}}\n', { chart: { name: 'supersonic' } }), 'name: supersonic\n');
});

handlebars('strict mode: a missing field throws, naming the template and the field', () => {
  assert.throws(() => render('name: {{chart.nmae}}\n', { chart: { name: 'supersonic' } }), /^templates\/x\.yaml\.hbs: .*"nmae" not defined/);
  assert.throws(() => render('{{#each sections}}{{titel}}{{/each}}', { sections: [{ title: 'General' }] }), /templates\/x\.yaml\.hbs: .*"titel" not defined/);
});

handlebars('a syntax error is reported with the template name too', () => {
  assert.throws(() => render('{{#if chart}}unclosed'), /^templates\/x\.yaml\.hbs: /);
});

handlebars('does not HTML-escape', () => {
  assert.is(render('v: {{text}}', { text: `"a" & <b>` }), `v: "a" & <b>`);
  assert.is(render("{{text}}", { text: "it's `x` = y" }), "it's `x` = y");
});

handlebars('raw blocks pass Go templates through untouched', () => {
  assert.is(render('{{{{raw}}}}{{ .Values.x }}{{{{/raw}}}}'), '{{ .Values.x }}');
  const go = '{{- if .Values.triton.enabled }}\nreplicas: {{ .Values.triton.replicas | default 1 }}\n{{- end }}\n';
  assert.is(render(`kind: {{kind}}\n{{{{raw}}}}${go}{{{{/raw}}}}`, { kind: 'Deployment' }), `kind: Deployment\n${go}`);
});

handlebars('a field outside a raw block is still rendered, and still strict', () => {
  assert.throws(() => render('{{{{raw}}}}{{ .Values.x }}{{{{/raw}}}}{{missing}}'), /"missing" not defined/);
});

handlebars('helpers: the notice headers and Markdown table cells', () => {
  assert.is(render('{{goTemplateHeader}}kind: x'), `${goTemplateHeader}kind: x`);
  assert.is(render('| {{cell text}} |', { text: 'a | b\nc' }), '| a \\| b c |');
});

handlebars.run();
