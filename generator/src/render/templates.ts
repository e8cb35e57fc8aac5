import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { createHandlebars, renderTemplate } from './handlebars.ts';
import type { TemplateModel } from './model.ts';

/**
 * Renders every `*.hbs` file under `templatesDir`, keeping its relative path without `.hbs`
 * (so `chart/templates/triton-deployment.yaml.hbs` becomes `chart/templates/triton-deployment.yaml`).
 */
export function renderTemplateTree(templatesDir: string, model: TemplateModel): Map<string, string> {
  const hb = createHandlebars();
  const out = new Map<string, string>();
  for (const file of listFiles(templatesDir).filter((f) => f.endsWith('.hbs'))) {
    const name = relative(templatesDir, file);
    out.set(name.slice(0, -'.hbs'.length), renderTemplate(hb, name, readFileSync(file, 'utf8'), model));
  }
  return out;
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
