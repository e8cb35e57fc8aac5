/**
 * Pushes an image layout to a registry with the distribution API (what `docker push` and `crane`
 * do): each blob unless the registry has it, a monolithic upload, then the manifest under its
 * tag. `plainHttp` for a registry without TLS (the tests' one on 127.0.0.1). No auth here.
 */
import type { ImageLayout } from './oci-layout.ts';

export async function pushImage(layout: ImageLayout, reference: { registry: string; repository: string; tag: string; plainHttp?: boolean }): Promise<string> {
  const base = `${reference.plainHttp ? 'http' : 'https'}://${reference.registry}/v2/${reference.repository}`;
  const manifestDigest = layout.manifest.digest;
  for (const [digest, blob] of layout.blobs) {
    if (digest === manifestDigest) continue;
    const head = await fetch(`${base}/blobs/${digest}`, { method: 'HEAD' });
    if (head.status === 200) continue;
    const started = await fetch(`${base}/blobs/uploads/`, { method: 'POST' });
    if (started.status !== 202) throw new Error(`starting the upload of ${digest}: ${started.status} ${await started.text()}`);
    const location = new URL(started.headers.get('location') ?? '', base);
    location.searchParams.set('digest', digest);
    const put = await fetch(location, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: new Uint8Array(blob.data) });
    if (put.status !== 201) throw new Error(`uploading ${digest}: ${put.status} ${await put.text()}`);
  }
  const manifest = layout.blobs.get(manifestDigest)!;
  const put = await fetch(`${base}/manifests/${reference.tag}`, { method: 'PUT', headers: { 'content-type': manifest.mediaType }, body: new Uint8Array(manifest.data) });
  if (put.status !== 201) throw new Error(`putting the manifest: ${put.status} ${await put.text()}`);
  return put.headers.get('docker-content-digest') ?? manifestDigest;
}
