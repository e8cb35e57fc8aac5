/**
 * An OCI image layout (https://github.com/opencontainers/image-spec/blob/main/image-layout.md)
 * written from layers and a config: blobs by sha256, a manifest, and index.json naming it with a
 * tag. gzip runs at a fixed level with Node's zlib, whose header carries no time or file name,
 * so the same tars give the same blobs.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { sha256 } from './debian.ts';

export const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';
export const CONFIG_TYPE = 'application/vnd.oci.image.config.v1+json';
export const LAYER_TYPE = 'application/vnd.oci.image.layer.v1.tar+gzip';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export interface ImageLayout {
  dir: string;
  manifest: Descriptor;
  /** Every blob, by digest: what a push uploads. */
  blobs: Map<string, { mediaType: string; data: Buffer }>;
}

export interface ImageRuntime {
  user: string;
  env: string[];
  entrypoint: string[];
  cmd: string[];
  workingDir: string;
  exposedPorts: string[];
}

export function writeImageLayout(dir: string, layers: { name: string; tar: Buffer }[], runtime: ImageRuntime, created: string, tag: string): ImageLayout {
  const blobs = new Map<string, { mediaType: string; data: Buffer }>();
  const add = (mediaType: string, data: Buffer): Descriptor => {
    const digest = `sha256:${sha256(data)}`;
    blobs.set(digest, { mediaType, data });
    return { mediaType, digest, size: data.length };
  };
  const layerDescriptors = layers.map(({ tar }) => add(LAYER_TYPE, gzipSync(tar, { level: 9 })));
  const config = {
    created,
    architecture: 'amd64',
    os: 'linux',
    config: {
      User: runtime.user,
      Env: runtime.env,
      Entrypoint: runtime.entrypoint,
      Cmd: runtime.cmd,
      WorkingDir: runtime.workingDir,
      ExposedPorts: Object.fromEntries(runtime.exposedPorts.map((port) => [port, {}])),
    },
    rootfs: { type: 'layers', diff_ids: layers.map(({ tar }) => `sha256:${sha256(tar)}`) },
    history: layers.map(({ name }) => ({ created, created_by: `webhook/image/build-image.ts: ${name}` })),
  };
  const configDescriptor = add(CONFIG_TYPE, Buffer.from(JSON.stringify(config)));
  const manifest = add(MANIFEST_TYPE, Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MANIFEST_TYPE, config: configDescriptor, layers: layerDescriptors })));

  mkdirSync(join(dir, 'blobs/sha256'), { recursive: true });
  for (const [digest, { data }] of blobs) writeFileSync(join(dir, 'blobs/sha256', digest.slice('sha256:'.length)), data);
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const tagged = { ...manifest, annotations: { 'org.opencontainers.image.ref.name': tag } };
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [tagged] }));
  return { dir, manifest, blobs };
}
