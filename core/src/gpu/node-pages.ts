/**
 * One page of GET /api/v1/nodes as plain JSON. client-node's typed listNode copies every parsed
 * node into its model classes field by field (ObjectSerializer.deserialize): with 5,000 nodes
 * that copy took as long as the parse and doubled the garbage, for objects the node view drops
 * at once (it keeps a few facts of each, node-gpus.ts). The request is made as client-node makes
 * it (the same authentication and TLS settings from the KubeConfig); a failure is client-node's
 * ApiException with the status code and body, as api-errors.ts reads it.
 */
import { ApiException, HttpMethod, IsomorphicFetchHttpLibrary, RequestContext, type KubeConfig } from '@kubernetes/client-node';
import type { ListPage } from '../kube/list-watch.ts';
import type { NodeLike } from './node-gpus.ts';

const http = new IsomorphicFetchHttpLibrary();

export async function listNodePage(kubeConfig: KubeConfig, page: { limit: number; _continue?: string }): Promise<ListPage<NodeLike>> {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error('no current cluster in the KubeConfig');
  const url = new URL(`${cluster.server.replace(/\/$/, '')}/api/v1/nodes`);
  url.searchParams.set('limit', String(page.limit));
  if (page._continue) url.searchParams.set('continue', page._continue);
  const request = new RequestContext(url.toString(), HttpMethod.GET);
  request.setHeaderParam('Accept', 'application/json');
  await kubeConfig.applySecurityAuthentication(request);
  const response = await http.send(request).toPromise();
  const text = await response.body.text();
  if (response.httpStatusCode !== 200) throw new ApiException(response.httpStatusCode, `listing nodes: HTTP ${response.httpStatusCode}`, text, response.headers);
  const list = JSON.parse(text) as { items?: unknown; metadata?: { resourceVersion?: string; continue?: string } };
  if (!Array.isArray(list?.items)) throw new Error('listing nodes: the answer has no items');
  return { items: list.items as NodeLike[], metadata: { resourceVersion: list.metadata?.resourceVersion, _continue: list.metadata?.continue } };
}
