import Handlebars from 'handlebars';
import { goTemplateHeader, luaHeader, markdownHeader, yamlHeader } from './headers.ts';

/**
 * A Handlebars environment for templates that emit Go templates and Markdown. `noEscape`
 * because HTML escaping corrupts YAML; `strict` so a misspelt field throws instead of
 * rendering as an empty string. Go-template regions pass through `{{{{raw}}}}` blocks.
 */
export function createHandlebars(): typeof Handlebars {
  const hb = Handlebars.create();
  hb.registerHelper('raw', (options: Handlebars.HelperOptions) => options.fn(undefined));
  hb.registerHelper('goTemplateHeader', () => goTemplateHeader);
  hb.registerHelper('markdownHeader', () => markdownHeader);
  hb.registerHelper('yamlHeader', () => yamlHeader);
  hb.registerHelper('luaHeader', () => luaHeader);
  // Markdown table cells: a `|` would end the cell, a newline the row.
  hb.registerHelper('cell', (text: unknown) => String(text).replaceAll('|', '\\|').replaceAll('\n', ' '));
  return hb;
}

export function renderTemplate(hb: typeof Handlebars, name: string, source: string, model: object): string {
  try {
    return hb.compile(source, { noEscape: true, strict: true })(model);
  } catch (err) {
    throw new Error(`${name}: ${(err as Error).message}`);
  }
}
