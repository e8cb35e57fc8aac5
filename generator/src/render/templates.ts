import { readdirSync, readFileSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import { createHandlebars, renderTemplate } from './handlebars.ts';
import { goTemplateHeader, luaHeader, markdownHeader, yamlHeader } from './headers.ts';
import type { TemplateModel } from './model.ts';

/**
 * Renders the tree under `templatesDir`, keeping each file's relative path:
 * - a `*.hbs` file is a Handlebars template the generator fills in from the schema, written
 *   without `.hbs` (`chart/templates/NOTES.txt.hbs` becomes `chart/templates/NOTES.txt`);
 * - any other file is copied as it is, after the "generated" notice in its comment syntax, so a
 *   Helm template reads as the plain Go template it is, with no Handlebars around it.
 */
export function renderTemplateTree(templatesDir: string, model: TemplateModel): Map<string, string> {
  const hb = createHandlebars();
  const out = new Map<string, string>();
  for (const file of listFiles(templatesDir)) {
    const name = relative(templatesDir, file);
    const source = readFileSync(file, 'utf8');
    if (name.endsWith('.hbs')) out.set(name.slice(0, -'.hbs'.length), renderTemplate(hb, name, source, model));
    else out.set(name, noticeFor(name) + source);
  }
  return out;
}

/**
 * The notice for a copied file. Everything under a chart's `templates/` is read by Helm's
 * template engine, so it gets a Go template comment that renders to nothing; other files get
 * their own language's comment.
 */
function noticeFor(name: string): string {
  if (name.split('/').includes('templates')) return goTemplateHeader;
  const byExtension: Record<string, string> = { '.lua': luaHeader, '.yaml': yamlHeader, '.md': markdownHeader };
  const header = byExtension[extname(name)];
  if (header === undefined) throw new Error(`${name}: no "generated" notice is known for ${extname(name) || 'files without an extension'}; add one in generator/src/render/templates.ts`);
  return header;
}

/** Files under a folder, recursively, sorted so output order never depends on the file system. */
export function listFiles(dir: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...listFiles(path));
    else files.push(path);
  }
  return files.sort();
}
