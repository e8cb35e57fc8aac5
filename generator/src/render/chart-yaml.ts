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

/** The images of the chart's defaults, one per distinct image, named after the first key that uses it. */
export function defaultImages(keys: ValueKey[]): { name: string; image: string; key: string }[] {
  const seen = new Map<string, { name: string; image: string; key: string }>();
  for (const key of keys) {
    if (key.path.at(-1) !== 'image' || typeof key.node.default !== 'string' || key.deprecated) continue;
    const image = key.node.default;
    if (!seen.has(image)) seen.set(image, { name: key.path.slice(0, -1).join('-'), image, key: key.dotted });
  }
  return [...seen.values()];
}
