import { stringify } from 'yaml';
import type { ValueKey } from '../schema/walk.ts';
import { yamlHeader } from './headers.ts';

/**
 * Chart.yaml from the root schema's `x-chart` map, in the order written there, with Artifact
 * Hub's `artifacthub.io/images` annotation listing every image the chart runs by default (each
 * `image` key's default), so a site that mirrors images for an air-gapped cluster has the list.
 */
export function renderChartYaml(chart: Record<string, unknown>, keys: ValueKey[]): string {
  const images = defaultImages(keys).map(({ name, image }) => ({ name, image }));
  const annotations = { ...(chart.annotations as Record<string, string> | undefined), 'artifacthub.io/images': stringify(images, { lineWidth: 0 }) };
  return yamlHeader + stringify({ ...chart, annotations }, { lineWidth: 0 });
}

/**
 * The images of the chart's defaults, one per distinct image, named after the first key that uses
 * it: an `image` string (`registry/repository:tag`), or an `image` object with `repository` and
 * `tag` strings, as the OpenTelemetry collector and Tempo keep SuperSONIC 0.3.1's subchart shape.
 */
export function defaultImages(keys: ValueKey[]): { name: string; image: string; key: string }[] {
  const seen = new Map<string, { name: string; image: string; key: string }>();
  const add = (image: string, path: string[], key: string) => {
    if (!seen.has(image)) seen.set(image, { name: path.join('-'), image, key });
  };
  for (const key of keys) {
    if (key.deprecated) continue;
    if (key.path.at(-1) === 'image' && typeof key.node.default === 'string') add(key.node.default, key.path.slice(0, -1), key.dotted);
    if (key.path.at(-1) === 'repository' && key.path.at(-2) === 'image' && typeof key.node.default === 'string') {
      const owner = key.path.slice(0, -2);
      const tag = keys.find((k) => k.path.length === key.path.length && k.path.at(-1) === 'tag' && k.path.slice(0, -1).join('.') === key.path.slice(0, -1).join('.'));
      if (typeof tag?.node.default === 'string') add(`${key.node.default}:${tag.node.default}`, owner, key.dotted.replace(/\.repository$/, ''));
    }
  }
  return [...seen.values()];
}
