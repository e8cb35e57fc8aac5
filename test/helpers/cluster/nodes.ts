/**
 * Node objects in the test cluster, shaped as a kubelet and the NVIDIA GPU Operator leave them:
 * labels on the object, capacity and allocatable (GPU, MIG and MPS resources included) and a
 * Ready condition in its status, which only a kubelet would write and so is written here.
 */
import type { Cluster } from './control-plane.ts';

export interface NodeShape {
  metadata: { name: string; labels?: Record<string, string> };
  status?: { allocatable?: Record<string, string>; capacity?: Record<string, string> };
}

/** Creates the Node (or replaces its labels) and writes its status; returns the stored Node. */
export async function putNode(cluster: Cluster, node: NodeShape): Promise<any> {
  const name = node.metadata.name;
  const labels = { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', ...node.metadata.labels };
  const created = await cluster.request('POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name, labels } });
  if (created.status === 409) {
    const relabelled = await cluster.request('PATCH', `/api/v1/nodes/${name}`, { metadata: { labels } }, { contentType: 'application/merge-patch+json' });
    if (relabelled.status !== 200) throw new Error(`relabelling node ${name}: ${relabelled.status} ${JSON.stringify(relabelled.body)}`);
  } else if (created.status !== 201) {
    throw new Error(`creating node ${name}: ${created.status} ${JSON.stringify(created.body)}`);
  }
  const allocatable = { pods: '110', ...node.status?.allocatable };
  const status = {
    capacity: { ...allocatable, ...node.status?.capacity },
    allocatable,
    conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'written by the test harness in place of a kubelet', lastHeartbeatTime: new Date().toISOString() }],
  };
  const written = await cluster.request('PATCH', `/api/v1/nodes/${name}/status`, { status }, { contentType: 'application/merge-patch+json' });
  if (written.status !== 200) throw new Error(`writing the status of node ${name}: ${written.status} ${JSON.stringify(written.body)}`);
  return written.body;
}

export async function deleteNode(cluster: Cluster, name: string): Promise<void> {
  const deleted = await cluster.request('DELETE', `/api/v1/nodes/${name}`);
  if (deleted.status !== 200 && deleted.status !== 404) throw new Error(`deleting node ${name}: ${deleted.status}`);
}
