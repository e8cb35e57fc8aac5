/**
 * The webhook's node view (NodeInventory) against the real API server: list, then a real watch
 * stream following Nodes created, relabelled and deleted, and a watch that expires (410 Gone).
 *
 * Forcing the 410: the inventory re-lists before every watch, so its watch starts from a fresh
 * resourceVersion and the API server's watch cache would serve it from memory. This cluster runs
 * with --watch-cache=false, so a watch reads etcd from the version it names; the test holds the
 * inventory's next watch request back, writes and compacts etcd past the version it listed, then
 * lets the request go: etcd has compacted what it asks for, and the API server answers 410.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { KubeConfig } from '@kubernetes/client-node';
import { NodeInventory } from '#core/gpu/inventory.ts';
import { startCluster, type Cluster } from '../../helpers/cluster/control-plane.ts';
import { deleteNode, putNode } from '../../helpers/cluster/nodes.ts';
import { eventually } from '../../helpers/cluster/shared.ts';

/** Client configuration whose watch requests wait at a gate while one is shut. */
class GatedKubeConfig extends KubeConfig {
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;
  /** Set when a watch request reached the shut gate. */
  held = false;

  shut(): void {
    this.held = false;
    this.gate = new Promise((resolve) => (this.open = resolve));
  }

  release(): void {
    this.open?.();
    this.gate = undefined;
  }

  override async applySecurityAuthentication(context: Parameters<KubeConfig['applySecurityAuthentication']>[0]): Promise<void> {
    if (this.gate && context.getUrl().includes('watch=true')) {
      this.held = true;
      await this.gate;
    }
    return super.applySecurityAuthentication(context);
  }
}

const GPU_LABELS = { 'nvidia.com/gpu.product': 'NVIDIA-L40', 'nvidia.com/gpu.count': '2', 'nvidia.com/gpu.memory': '46068', 'nvidia.com/mig.strategy': 'none' };
const names = (inventory: NodeInventory) => inventory.nodes().map((node) => node.name).sort();

interface Context {
  cluster: Cluster;
  kubeConfig: GatedKubeConfig;
  inventory: NodeInventory;
  errors: unknown[];
}

const real = suite<Context>('NodeInventory against the real API server', {} as Context);

real.before(async (context) => {
  context.cluster = await startCluster({ crds: [], controllers: false, apiServerArgs: ['--watch-cache=false'] });
  context.kubeConfig = new GatedKubeConfig();
  context.kubeConfig.loadFromFile(context.cluster.kubeconfig);
  context.errors = [];
  // Watches the server ends every 2 s, so the test meets a fresh list-then-watch soon.
  context.inventory = new NodeInventory({ initialBackoffMs: 50, maxBackoffMs: 200, watchTimeoutSeconds: 2, onError: (err) => context.errors.push(err) });
});

real.after(async (context) => {
  context.inventory?.stop();
  await context.cluster?.stop();
});

real('lists, then follows Nodes created, relabelled and deleted through the API', async ({ cluster, inventory, kubeConfig }) => {
  await putNode(cluster, { metadata: { name: 'l40-a', labels: GPU_LABELS }, status: { allocatable: { 'nvidia.com/gpu': '2' } } });
  await putNode(cluster, { metadata: { name: 'cpu-a' }, status: { allocatable: { cpu: '8' } } });
  await inventory.start(kubeConfig);
  assert.equal(names(inventory), ['l40-a'], 'the listed GPU node, not the CPU one');
  await eventually(async () => inventory.status().watching, Boolean, 'the watch to start');

  await putNode(cluster, { metadata: { name: 'l40-b', labels: GPU_LABELS }, status: { allocatable: { 'nvidia.com/gpu': '2' } } });
  await eventually(async () => names(inventory), (seen) => seen.includes('l40-b'), 'the created node');
  // Relabelled as a time-sliced GPU: still a GPU node, now offering shares instead of whole GPUs.
  await putNode(cluster, { metadata: { name: 'l40-b', labels: { ...GPU_LABELS, 'nvidia.com/gpu.sharing-strategy': 'time-slicing' } }, status: { allocatable: { 'nvidia.com/gpu': '2' } } });
  await eventually(async () => inventory.nodes().find((node) => node.name === 'l40-b')?.sharing, (sharing) => sharing === 'time-slicing', 'the relabelled node');
  await deleteNode(cluster, 'l40-b');
  await eventually(async () => names(inventory), (seen) => !seen.includes('l40-b'), 'the deleted node to go');
  assert.ok(inventory.status().events >= 3, `events: ${inventory.status().events}`);
});

real('a watch from a version etcd has compacted gets 410 Gone from the API server; the inventory re-lists and catches up', async ({ cluster, inventory, kubeConfig, errors }) => {
  const listsBefore = inventory.status().lists;
  kubeConfig.shut();
  // The server ends the current watch within 2 s; the inventory re-lists and asks for the next.
  await eventually(async () => kubeConfig.held, Boolean, 'the next watch request to reach the gate', 10_000);
  await putNode(cluster, { metadata: { name: 'l40-during-gap', labels: GPU_LABELS }, status: { allocatable: { 'nvidia.com/gpu': '2' } } });
  const compacted = await cluster.compactEtcd();
  assert.ok(compacted > 0);
  const errorsBefore = errors.length;
  kubeConfig.release();

  await eventually(async () => errors.slice(errorsBefore).map(String), (seen) => seen.some((text) => /410|too old|Expired/i.test(text)), 'the API server to refuse the watch with 410 Gone', 15_000);
  await eventually(async () => names(inventory), (seen) => seen.includes('l40-during-gap'), 'the re-list to find the node created during the gap', 15_000);
  assert.ok(inventory.status().lists > listsBefore + 1, 'it listed again after the 410');
  assert.ok(inventory.ready(), 'a 410 does not make it unready: it keeps its view while it re-lists');
});

real('after the API server restarts, the inventory watches again and follows new nodes', async ({ cluster, inventory }) => {
  await cluster.restartApiServer();
  await putNode(cluster, { metadata: { name: 'l40-after-restart', labels: GPU_LABELS }, status: { allocatable: { 'nvidia.com/gpu': '2' } } });
  await eventually(async () => names(inventory), (seen) => seen.includes('l40-after-restart'), 'the node created after the restart', 30_000);
  assert.ok(inventory.ready());
});

real.run();
