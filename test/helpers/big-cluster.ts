/**
 * A cluster of any size for `make bench`: Node objects labelled as the GPU Operator labels them
 * (test/webhook/gpu/operator-nodes.ts, the kinds of operatorClusterNodes in turn), with the rest
 * of what the API server returns for a real node (kubelet status: capacity, conditions,
 * addresses, nodeInfo, the images it holds; metadata: uid, annotations, managedFields), so a
 * page of them weighs what a page of real GPU nodes weighs (about 10 kB of JSON each; real ones holding more images weigh more).
 *
 * And a stand-in API server for the webhook process that serves the nodes as the API server
 * does, in pages (`limit` and `continue`), holds the node watch open, answers the CVMFS claim
 * lookup, and 404s anything else. Listens on 127.0.0.1 only. Creating 5,000 nodes in the test
 * control plane's etcd would take minutes per run; the list path is the same.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NodeLike } from '#core/gpu/node-gpus.ts';
import { A100_SXM4_80GB, L40S, T4, operatorNode, type OperatorNode } from '../webhook/gpu/operator-nodes.ts';

/** The kinds of operatorClusterNodes, one after the other. */
const KINDS: Array<Omit<OperatorNode, 'name'>> = [
  { gpu: L40S, count: 4 },
  { gpu: A100_SXM4_80GB, count: 8 },
  { gpu: A100_SXM4_80GB, count: 8, setup: { kind: 'mig', devices: { '1g.10gb': 7 }, config: 'all-1g.10gb' } },
  { gpu: A100_SXM4_80GB, count: 2, migStrategy: 'mixed', pluginConfig: 'mig-mixed', setup: { kind: 'mig', devices: { '2g.20gb': 6 }, config: 'all-2g.20gb' } },
  { gpu: L40S, count: 2, setup: { kind: 'mps', replicas: 4 }, pluginConfig: 'mps-4' },
  { gpu: T4, count: 4, setup: { kind: 'time-slicing', replicas: 10 }, pluginConfig: 'time-slicing-10' },
  {},
];

const ZONES = ['ucsd', 'uchicago', 'purdue', 'mit'];

/** Node `index` of a big cluster, as the API server would return it. */
export function bigClusterNode(index: number): Record<string, any> {
  const name = `node-${String(index).padStart(5, '0')}`;
  const kind = KINDS[index % KINDS.length]!;
  const base = operatorNode({ name, ...kind, zone: ZONES[index % ZONES.length]! }) as NodeLike & { metadata: { labels: Record<string, string> } };
  const labels = base.metadata.labels;
  const allocatable = base.status!.allocatable!;
  const time = '2026-11-20T08:00:00Z';
  return {
    metadata: {
      name,
      uid: `6f0c1d2e-${String(index).padStart(4, '0')}-4a5b-9c8d-7e6f5a4b3c2d`,
      resourceVersion: String(100_000 + index),
      creationTimestamp: time,
      labels,
      annotations: {
        'node.alpha.kubernetes.io/ttl': '0',
        'volumes.kubernetes.io/controller-managed-attach-detach': 'true',
        'nfd.node.kubernetes.io/feature-labels': Object.keys(labels).filter((key) => key.startsWith('feature.node')).map((key) => key.slice('feature.node.kubernetes.io/'.length)).join(','),
        'nfd.node.kubernetes.io/extended-resources': '',
        'nvidia.com/gpu-driver-upgrade-enabled': 'true',
        'csi.volume.kubernetes.io/nodeid': JSON.stringify({ 'cvmfs.csi.cern.ch': name }),
      },
      managedFields: [
        managedField('kubelet', 'Update', time, { 'f:metadata': { 'f:annotations': { '.': {}, 'f:volumes.kubernetes.io/controller-managed-attach-detach': {} }, 'f:labels': fieldsOf(['beta.kubernetes.io/arch', 'beta.kubernetes.io/os', 'kubernetes.io/arch', 'kubernetes.io/hostname', 'kubernetes.io/os']) } }),
        managedField('nfd-master', 'Update', time, { 'f:metadata': { 'f:labels': fieldsOf(Object.keys(labels).filter((key) => key.startsWith('feature.node'))) } }),
        managedField('gpu-feature-discovery', 'Update', time, { 'f:metadata': { 'f:labels': fieldsOf(Object.keys(labels).filter((key) => key.startsWith('nvidia.com/'))) } }),
        managedField('kubelet', 'Update', time, { 'f:status': { 'f:allocatable': fieldsOf(Object.keys(allocatable)), 'f:capacity': fieldsOf(Object.keys(allocatable)), 'f:conditions': {}, 'f:images': {}, 'f:nodeInfo': {} } }, 'status'),
      ],
    },
    spec: { podCIDR: `10.${index >> 8 & 255}.${index & 255}.0/24`, podCIDRs: [`10.${index >> 8 & 255}.${index & 255}.0/24`], providerID: `baremetal://${name}` },
    status: {
      capacity: { ...allocatable, cpu: '64', memory: '527952872Ki' },
      allocatable,
      conditions: [
        condition('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
        condition('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
        condition('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
        condition('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'),
      ],
      addresses: [{ type: 'InternalIP', address: `192.168.${index >> 8 & 255}.${index & 255}` }, { type: 'Hostname', address: name }],
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      nodeInfo: {
        machineID: `${index.toString(16).padStart(32, '0')}`,
        systemUUID: `4c4c4544-0042-${String(index).padStart(4, '0')}-8048-b4c04f4e3533`,
        bootID: `b0a7f3c2-${String(index).padStart(4, '0')}-4e1d-9a6b-2c3d4e5f6a7b`,
        kernelVersion: '6.8.0-49-generic',
        osImage: 'Ubuntu 24.04.1 LTS',
        containerRuntimeVersion: 'containerd://1.7.24',
        kubeletVersion: 'v1.33.2',
        kubeProxyVersion: '',
        operatingSystem: 'linux',
        architecture: 'amd64',
      },
      images: IMAGES,
    },
  };
}

/** What a GPU node holds: the operator's images, CMS's Triton, and the usual daemons. */
const IMAGES = [
  ['nvcr.io/nvidia/tritonserver:24.11-py3', 7_312_000_000],
  ['nvcr.io/nvidia/gpu-operator:v25.3.2', 230_000_000],
  ['nvcr.io/nvidia/k8s-device-plugin:v0.17.2', 180_000_000],
  ['nvcr.io/nvidia/cloud-native/dcgm:4.2.3-1-ubuntu22.04', 1_100_000_000],
  ['nvcr.io/nvidia/k8s/dcgm-exporter:4.2.3-4.1.3-ubuntu22.04', 520_000_000],
  ['nvcr.io/nvidia/k8s/container-toolkit:v1.17.8-ubuntu20.04', 160_000_000],
  ['nvcr.io/nvidia/cloud-native/k8s-mig-manager:v0.12.2-ubuntu20.04', 150_000_000],
  ['nvcr.io/nvidia/cloud-native/gpu-operator-validator:v25.3.2', 120_000_000],
  ['registry.k8s.io/nfd/node-feature-discovery:v0.17.3', 70_000_000],
  ['registry.k8s.io/kube-proxy:v1.33.2', 30_000_000],
  ['docker.io/calico/node:v3.29.3', 140_000_000],
  ['docker.io/calico/cni:v3.29.3', 95_000_000],
  ['docker.io/envoyproxy/envoy:v1.34.1', 60_000_000],
  ['registry.cern.ch/cvmfs/cvmfs-csi:v2.5.0', 110_000_000],
  ['quay.io/prometheus/node-exporter:v1.9.1', 12_000_000],
  ['registry.k8s.io/pause:3.10', 320_000],
].map(([name, sizeBytes], i) => ({
  names: [`${String(name).replace(/:.*/, '')}@sha256:${(i + 1).toString(16).repeat(64).slice(0, 64)}`, String(name)],
  sizeBytes,
}));

function managedField(manager: string, operation: string, time: string, fieldsV1: object, subresource?: string): object {
  return { manager, operation, apiVersion: 'v1', time, fieldsType: 'FieldsV1', fieldsV1, ...(subresource ? { subresource } : {}) };
}

function fieldsOf(keys: string[]): Record<string, object> {
  return Object.fromEntries(keys.map((key) => [`f:${key}`, {}]));
}

function condition(type: string, status: string, reason: string, message: string): object {
  const time = '2026-12-01T10:00:00Z';
  return { type, status, reason, message, lastHeartbeatTime: time, lastTransitionTime: '2026-11-20T08:01:00Z' };
}

export interface NodeListServer {
  url: string;
  /** Every request received, as "METHOD path?query". */
  requests: string[];
  /** Makes every page of `limit` nodes now, ahead of the requests for them. */
  prepare(limit: number): void;
  close(): Promise<void>;
}

/**
 * Serves `count` big-cluster nodes at /api/v1/nodes in pages, as the API server does: `limit`
 * items, and a `continue` token while more remain; a watch stays open (no events). The PVC
 * cms/cvmfs exists, for the webhook's claim lookup.
 */
export async function startNodeListServer(count: number): Promise<NodeListServer> {
  const requests: string[] = [];
  const watches = new Set<ServerResponse>();
  const send = (res: ServerResponse, code: number, body: object) => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  // Pages are made once and kept, so the time the webhook takes to list is its own, not the
  // time this process takes to make 5,000 nodes (prepare() makes them before the webhook starts).
  const pages = new Map<string, Buffer>();
  const page = (from: number, limit: number): Buffer => {
    const key = `${from}:${limit}`;
    let body = pages.get(key);
    if (!body) {
      const to = Math.min(count, from + limit);
      const items = [];
      for (let i = from; i < to; i++) items.push(bigClusterNode(i));
      const metadata = { resourceVersion: '200000', ...(to < count ? { continue: String(to), remainingItemCount: count - to } : {}) };
      body = Buffer.from(JSON.stringify({ kind: 'NodeList', apiVersion: 'v1', metadata, items }));
      pages.set(key, body);
    }
    return body;
  };
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    requests.push(`${req.method} ${url.pathname}${url.search}`);
    if (req.method === 'GET' && url.pathname === '/api/v1/nodes') {
      if (url.searchParams.get('watch') === 'true') {
        res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
        res.flushHeaders();
        watches.add(res);
        req.on('close', () => watches.delete(res));
        return;
      }
      const limit = Number(url.searchParams.get('limit') ?? '0') || count;
      const from = Number(url.searchParams.get('continue') ?? '0');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(page(from, limit));
      return;
    }
    if (req.method === 'GET' && url.pathname === '/api/v1/namespaces/cms/persistentvolumeclaims/cvmfs') {
      return send(res, 200, { kind: 'PersistentVolumeClaim', apiVersion: 'v1', metadata: { name: 'cvmfs', namespace: 'cms' }, spec: { storageClassName: 'cvmfs' } });
    }
    send(res, 404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: `${url.pathname} not found` });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    prepare: (limit) => {
      for (let from = 0; from < count; from += limit) page(from, limit);
    },
    close: async () => {
      for (const res of watches) res.end();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
