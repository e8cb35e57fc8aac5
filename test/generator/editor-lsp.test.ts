/**
 * Editor support, checked with the real yaml-language-server (what VS Code's YAML extension and
 * Neovim's yamlls run) on real override files that name the editor schema with the `$schema`
 * modeline the chart's values.yaml carries: a valid file shows no warning at all, a broken one
 * shows exactly its real error, on its line. The same file against Helm's schema (with
 * `required`) shows the "missing property" noise the editor schema exists to avoid.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { editorSchema } from '../../generator/src/render/values-schema.ts';
import { REPO_ROOT } from '../helpers/helm.ts';
import { COMPAT_DIR } from '../helpers/compat.ts';
import { startYamlLanguageServer, type YamlLanguageServer } from '../helpers/yaml-language-server.ts';

interface Context { server: YamlLanguageServer; dir: string; editor: string; helm: string }
const lsp = suite<Context>('yaml-language-server with the editor schema', {} as Context);

lsp.before(async (context) => {
  context.dir = mkdtempSync(join(tmpdir(), 'supersonic-lsp-'));
  const helmSchema = JSON.parse(readFileSync(join(REPO_ROOT, 'chart/supersonic/values.schema.json'), 'utf8'));
  context.editor = join(context.dir, 'supersonic.editor.schema.json');
  context.helm = join(context.dir, 'supersonic.values.schema.json');
  writeFileSync(context.editor, JSON.stringify(editorSchema(helmSchema)));
  writeFileSync(context.helm, JSON.stringify(helmSchema));
  context.server = await startYamlLanguageServer(context.dir);
});

lsp.after(async ({ server }) => {
  await server?.stop();
});

/** An override file as a user keeps it: the modeline naming a schema, then their keys. */
function overrideFile(schemaPath: string, body: string): string {
  return `# yaml-language-server: $schema=${pathToFileURL(schemaPath).href}\n${body}`;
}

const OVERRIDES = [
  join(REPO_ROOT, 'docs/examples/values-cms-cvmfs.yaml'),
  join(COMPAT_DIR, 'values-anvil-cms.yaml'),
];

for (const path of OVERRIDES) {
  const name = path.slice(path.lastIndexOf('/') + 1);
  lsp(`${name}: no diagnostic at all with the editor schema`, async ({ server, dir, editor }) => {
    const diagnostics = await server.diagnostics(join(dir, `valid-${name}`), overrideFile(editor, readFileSync(path, 'utf8')));
    assert.equal(diagnostics.map((d) => `${d.range.start.line + 1}: ${d.message}`), []);
  });
}

lsp('with Helm\'s schema (required keys) the same valid file is buried in "missing property" warnings', async ({ server, dir, helm }) => {
  const text = overrideFile(helm, readFileSync(OVERRIDES[0]!, 'utf8'));
  const diagnostics = await server.diagnostics(join(dir, 'helm-schema.yaml'), text);
  const missing = diagnostics.filter((d) => /Missing property/i.test(d.message));
  assert.ok(missing.length >= 5, `expected the noise the editor schema avoids, got ${JSON.stringify(diagnostics.map((d) => d.message))}`);
});

lsp('a misspelt key gives exactly one diagnostic, on its line, naming the key', async ({ server, dir, editor }) => {
  const body = readFileSync(OVERRIDES[0]!, 'utf8').replace(/^triton:\n/m, 'triton:\n  replica: 2\n');
  const text = overrideFile(editor, body);
  const line = text.split('\n').indexOf('  replica: 2');
  assert.ok(line > 0, 'the typo was inserted');
  const diagnostics = await server.diagnostics(join(dir, 'typo.yaml'), text);
  assert.is(diagnostics.length, 1, JSON.stringify(diagnostics.map((d) => `${d.range.start.line + 1}: ${d.message}`)));
  assert.is(diagnostics[0]!.range.start.line, line);
  assert.match(diagnostics[0]!.message, /replica/);
});

lsp('a value outside an enum gives one diagnostic that lists the allowed values', async ({ server, dir, editor }) => {
  const body = readFileSync(OVERRIDES[0]!, 'utf8').replace(/storageType: cvmfs-pvc/, 'storageType: cvmfs-csi');
  const text = overrideFile(editor, body);
  const line = text.split('\n').findIndex((l) => l.includes('storageType: cvmfs-csi'));
  const diagnostics = await server.diagnostics(join(dir, 'enum.yaml'), text);
  assert.is(diagnostics.length, 1, JSON.stringify(diagnostics.map((d) => d.message)));
  assert.is(diagnostics[0]!.range.start.line, line);
  assert.match(diagnostics[0]!.message, /cvmfs-pvc/);
});

lsp.run();
