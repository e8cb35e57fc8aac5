/**
 * Node objects labelled as the NVIDIA GPU Operator labels them, one kind per MIG and sharing
 * strategy. The label set is the one the labellers write, copied from their source, not a
 * subset chosen to suit the webhook: that is how a whole-GPU node under the operator's default
 * `mig.strategy: single` came to be refused (the strategy label is on every GPU node).
 *
 * - GPU feature discovery (NVIDIA/k8s-device-plugin, internal/lm/): nvml.go writes the CUDA and
 *   driver versions, `mig.capable` (true on an A100 whether MIG is on or off), `mps.capable` and
 *   `gpu.mode`; resource.go writes `<resource>.product|count|replicas|sharing-strategy|memory`
 *   plus `family` and `compute.*`, appends `-MIG-<profile>` for MIG devices and `-SHARED` when a
 *   sharing config replicates a resource without renaming it, and writes `replicas=0` for GPUs
 *   with MIG enabled; mig-strategy.go writes `mig.strategy` whenever the strategy is not `none`,
 *   even on a node where no GPU has MIG enabled (the single labeller then adds nothing), lets the
 *   single strategy's MIG labels override `nvidia.com/gpu.*`, and writes
 *   `nvidia.com/mig-<profile>.*` under mixed; timestamp.go, machine-type.go and vgpu.go the rest.
 *   Its tests/expected-output-mig-{none,single,mixed}.txt list the same keys.
 * - The operator (NVIDIA/gpu-operator, controllers/state_manager.go): `gpu.present` and the
 *   `gpu.deploy.*` state labels on every GPU node; on MIG-capable ones `gpu.deploy.mig-manager`
 *   and, under the ClusterPolicy default, `mig.config=all-disabled`; mig-manager then writes
 *   `mig.config.state`. Node Feature Discovery's `pci-10de.present` is how it finds GPU nodes.
 *
 * The MIG device figures (memory per slice, multiprocessors, engines) are those GFD reports for
 * an A100 80 GB, matching `nvidia-smi mig -lgip` on that GPU.
 */
import type { NodeLike } from '#core/gpu/node-gpus.ts';

export interface GpuModel {
  /** As GFD writes it: nvidia-smi's name with spaces as dashes. */
  product: string;
  memoryMiB: number;
  family: string;
  compute: [major: number, minor: number];
  migCapable: boolean;
}

export const A100_SXM4_80GB: GpuModel = { product: 'NVIDIA-A100-SXM4-80GB', memoryMiB: 81920, family: 'ampere', compute: [8, 0], migCapable: true };
export const L40S: GpuModel = { product: 'NVIDIA-L40S', memoryMiB: 46068, family: 'ada-lovelace', compute: [8, 9], migCapable: false };
export const L40: GpuModel = { product: 'NVIDIA-L40', memoryMiB: 46068, family: 'ada-lovelace', compute: [8, 9], migCapable: false };
export const T4: GpuModel = { product: 'Tesla-T4', memoryMiB: 15360, family: 'turing', compute: [7, 5], migCapable: false };

interface MigDevice {
  memoryMiB: number;
  multiprocessors: number;
  /** GPU-instance and compute-instance slices. */
  slices: number;
  engines: { copy: number; decoder: number; encoder: number; jpeg: number; ofa: number };
}

const A100_80GB_MIG: Record<string, MigDevice> = {
  '1g.10gb': { memoryMiB: 9728, multiprocessors: 14, slices: 1, engines: { copy: 1, decoder: 0, encoder: 0, jpeg: 0, ofa: 0 } },
  '1g.20gb': { memoryMiB: 19968, multiprocessors: 14, slices: 1, engines: { copy: 1, decoder: 1, encoder: 0, jpeg: 0, ofa: 0 } },
  '2g.20gb': { memoryMiB: 19968, multiprocessors: 28, slices: 2, engines: { copy: 2, decoder: 1, encoder: 0, jpeg: 0, ofa: 0 } },
  '3g.40gb': { memoryMiB: 40192, multiprocessors: 42, slices: 3, engines: { copy: 3, decoder: 2, encoder: 0, jpeg: 0, ofa: 0 } },
  '7g.80gb': { memoryMiB: 80896, multiprocessors: 98, slices: 7, engines: { copy: 7, decoder: 5, encoder: 0, jpeg: 1, ofa: 1 } },
};

/** How the node's GPUs are set up (by mig-manager and the device plugin's per-node config). */
export type Setup =
  /** MIG off (or not capable), no sharing: whole GPUs. */
  | { kind: 'whole' }
  /** Every GPU split the same way; advertised as nvidia.com/gpu. `config` is the mig-parted layout. */
  | { kind: 'mig'; devices: Record<string, number>; config: string }
  /** The device plugin's sharing config: each GPU advertised `replicas` times on nvidia.com/gpu. */
  | { kind: 'mps' | 'time-slicing'; replicas: number };

export interface OperatorNode {
  name: string;
  gpu?: GpuModel;
  /** Physical GPUs. */
  count?: number;
  setup?: Setup;
  /** The ClusterPolicy's (or the node's device-plugin config's) MIG strategy; the operator's default is single. */
  migStrategy?: 'none' | 'single' | 'mixed';
  /** The node's own device-plugin config (`nvidia.com/device-plugin.config`), for sharing or a strategy of its own. */
  pluginConfig?: string;
  zone?: string;
}

const CPU_AND_MEMORY = { cpu: '63500m', memory: '515407012Ki', 'ephemeral-storage': '1846172012Ki', 'hugepages-1Gi': '0', 'hugepages-2Mi': '0', pods: '110' };

export function operatorNode({ name, gpu, count = 0, setup = { kind: 'whole' }, migStrategy = 'single', pluginConfig, zone = 'ucsd' }: OperatorNode): NodeLike {
  const labels: Record<string, string> = {
    'beta.kubernetes.io/arch': 'amd64',
    'beta.kubernetes.io/os': 'linux',
    'kubernetes.io/arch': 'amd64',
    'kubernetes.io/hostname': name,
    'kubernetes.io/os': 'linux',
    'topology.kubernetes.io/zone': zone,
    'feature.node.kubernetes.io/system-os_release.ID': 'ubuntu',
    'feature.node.kubernetes.io/system-os_release.VERSION_ID': '24.04',
  };
  const allocatable: Record<string, string> = { ...CPU_AND_MEMORY };
  if (gpu && count > 0) {
    Object.assign(labels, operatorLabels(gpu), discoveryLabels(gpu, count, setup, migStrategy));
    if (setup.kind === 'mig') labels['nvidia.com/mig.config'] = setup.config;
    if (pluginConfig) labels['nvidia.com/device-plugin.config'] = pluginConfig;
    Object.assign(allocatable, gpuResources(count, setup, migStrategy));
  }
  return { metadata: { name, labels: sorted(labels) }, status: { allocatable } };
}

/** What the operator itself writes (state_manager.go), and mig-manager's state. */
function operatorLabels(gpu: GpuModel): Record<string, string> {
  const labels: Record<string, string> = {
    'feature.node.kubernetes.io/pci-10de.present': 'true',
    'nvidia.com/gpu.present': 'true',
    'nvidia.com/gpu.deploy.container-toolkit': 'true',
    'nvidia.com/gpu.deploy.dcgm': 'true',
    'nvidia.com/gpu.deploy.dcgm-exporter': 'true',
    'nvidia.com/gpu.deploy.device-plugin': 'true',
    'nvidia.com/gpu.deploy.driver': 'true',
    'nvidia.com/gpu.deploy.gpu-feature-discovery': 'true',
    'nvidia.com/gpu.deploy.node-status-exporter': 'true',
    'nvidia.com/gpu.deploy.operator-validator': 'true',
  };
  if (gpu.migCapable) {
    labels['nvidia.com/gpu.deploy.mig-manager'] = 'true';
    labels['nvidia.com/mig.config'] = 'all-disabled';
    labels['nvidia.com/mig.config.state'] = 'success';
  }
  return labels;
}

/** What GPU feature discovery writes (internal/lm/). */
function discoveryLabels(gpu: GpuModel, count: number, setup: Setup, migStrategy: 'none' | 'single' | 'mixed'): Record<string, string> {
  const migOn = setup.kind === 'mig';
  const shared = setup.kind === 'mps' || setup.kind === 'time-slicing';
  const labels: Record<string, string> = {
    'nvidia.com/cuda.driver.major': '570',
    'nvidia.com/cuda.driver.minor': '172',
    'nvidia.com/cuda.driver.rev': '08',
    'nvidia.com/cuda.driver-version.major': '570',
    'nvidia.com/cuda.driver-version.minor': '172',
    'nvidia.com/cuda.driver-version.revision': '08',
    'nvidia.com/cuda.driver-version.full': '570.172.08',
    'nvidia.com/cuda.runtime.major': '12',
    'nvidia.com/cuda.runtime.minor': '8',
    'nvidia.com/cuda.runtime-version.major': '12',
    'nvidia.com/cuda.runtime-version.minor': '8',
    'nvidia.com/cuda.runtime-version.full': '12.8',
    'nvidia.com/gfd.timestamp': '1763856000',
    'nvidia.com/gpu.machine': 'PowerEdge-XE8640',
    'nvidia.com/gpu.mode': 'compute',
    'nvidia.com/mig.capable': String(gpu.migCapable),
    'nvidia.com/mps.capable': String(setup.kind === 'mps'),
    'nvidia.com/vgpu.present': 'false',
    // The full-GPU labeller; for MIG-enabled GPUs it runs without sharing (replicas 0).
    'nvidia.com/gpu.product': shared ? `${gpu.product}-SHARED` : gpu.product,
    'nvidia.com/gpu.count': String(count),
    'nvidia.com/gpu.replicas': migOn ? '0' : shared ? String(setup.replicas) : '1',
    'nvidia.com/gpu.sharing-strategy': shared ? setup.kind : 'none',
    'nvidia.com/gpu.memory': String(gpu.memoryMiB),
    'nvidia.com/gpu.family': gpu.family,
    'nvidia.com/gpu.compute.major': String(gpu.compute[0]),
    'nvidia.com/gpu.compute.minor': String(gpu.compute[1]),
  };
  if (migStrategy !== 'none') labels['nvidia.com/mig.strategy'] = migStrategy;
  if (setup.kind !== 'mig') return labels;
  const devices = Object.entries(setup.devices);
  if (migStrategy === 'single') {
    // One profile on every GPU: its labels replace the full GPU's under nvidia.com/gpu.
    const [profile, perGpu] = devices[0]!;
    Object.assign(labels, migDeviceLabels('nvidia.com/gpu', gpu, profile, perGpu * count));
  } else if (migStrategy === 'mixed') {
    for (const [profile, total] of devices) Object.assign(labels, migDeviceLabels(`nvidia.com/mig-${profile}`, gpu, profile, total));
  }
  return labels;
}

function migDeviceLabels(resource: string, gpu: GpuModel, profile: string, count: number): Record<string, string> {
  const device = A100_80GB_MIG[profile];
  if (!device) throw new Error(`no MIG device figures for ${profile}`);
  return {
    [`${resource}.product`]: `${gpu.product}-MIG-${profile}`,
    [`${resource}.count`]: String(count),
    [`${resource}.replicas`]: '1',
    [`${resource}.sharing-strategy`]: 'none',
    [`${resource}.memory`]: String(device.memoryMiB),
    [`${resource}.multiprocessors`]: String(device.multiprocessors),
    [`${resource}.slices.gi`]: String(device.slices),
    [`${resource}.slices.ci`]: String(device.slices),
    [`${resource}.engines.copy`]: String(device.engines.copy),
    [`${resource}.engines.decoder`]: String(device.engines.decoder),
    [`${resource}.engines.encoder`]: String(device.engines.encoder),
    [`${resource}.engines.jpeg`]: String(device.engines.jpeg),
    [`${resource}.engines.ofa`]: String(device.engines.ofa),
  };
}

/** What the device plugin advertises: devices per MIG device type (mixed) or on nvidia.com/gpu. */
function gpuResources(count: number, setup: Setup, migStrategy: 'none' | 'single' | 'mixed'): Record<string, string> {
  if (setup.kind === 'whole') return { 'nvidia.com/gpu': String(count) };
  if (setup.kind !== 'mig') return { 'nvidia.com/gpu': String(count * setup.replicas) };
  const devices = Object.entries(setup.devices);
  if (migStrategy === 'single') return { 'nvidia.com/gpu': String(devices[0]![1] * count) };
  return Object.fromEntries(devices.map(([profile, total]) => [`nvidia.com/mig-${profile}`, String(total)]));
}

function sorted(labels: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * The cluster of test/fixtures/nodes.json (the webhook's fixtures and the API-server tests):
 * one node per strategy, under the operator's default `mig.strategy: single` except the mixed
 * node (a device-plugin config of its own). Zones let fixtures pin pods with a nodeSelector.
 */
export function webhookClusterNodes(): NodeLike[] {
  return [
    operatorNode({
      name: 'gpu-a100-mixed',
      gpu: A100_SXM4_80GB,
      count: 1,
      migStrategy: 'mixed',
      pluginConfig: 'mig-mixed',
      setup: { kind: 'mig', devices: { '1g.10gb': 3, '3g.40gb': 1 }, config: 'custom-3x1g.10gb-1x3g.40gb' },
    }),
    operatorNode({ name: 'gpu-a100-single', gpu: A100_SXM4_80GB, count: 1, setup: { kind: 'mig', devices: { '1g.20gb': 4 }, config: 'all-1g.20gb' }, zone: 'uchicago' }),
    operatorNode({ name: 'gpu-l40-mps', gpu: L40, count: 1, setup: { kind: 'mps', replicas: 8 }, pluginConfig: 'mps-8', zone: 'uchicago' }),
    operatorNode({ name: 'gpu-l40-whole', gpu: L40, count: 2 }),
    operatorNode({ name: 'gpu-t4-time-sliced', gpu: T4, count: 4, setup: { kind: 'time-slicing', replicas: 10 }, pluginConfig: 'time-slicing-10', zone: 'uchicago' }),
    operatorNode({ name: 'cpu-only', zone: 'uchicago' }),
  ];
}

/**
 * A larger cluster under the operator's default ClusterPolicy, with the whole-GPU nodes that
 * carry `mig.strategy=single` all the same: L40S ×4 (not MIG-capable) and A100 ×8 with MIG off
 * (`mig.capable=true`, `mig.config=all-disabled`).
 */
export function operatorClusterNodes(): NodeLike[] {
  return [
    operatorNode({ name: 'l40s-whole', gpu: L40S, count: 4 }),
    operatorNode({ name: 'a100-mig-off', gpu: A100_SXM4_80GB, count: 8 }),
    operatorNode({ name: 'a100-mig-single', gpu: A100_SXM4_80GB, count: 8, setup: { kind: 'mig', devices: { '1g.10gb': 7 }, config: 'all-1g.10gb' } }),
    operatorNode({ name: 'a100-mig-mixed', gpu: A100_SXM4_80GB, count: 2, migStrategy: 'mixed', pluginConfig: 'mig-mixed', setup: { kind: 'mig', devices: { '2g.20gb': 6 }, config: 'all-2g.20gb' } }),
    operatorNode({ name: 'l40s-mps', gpu: L40S, count: 2, setup: { kind: 'mps', replicas: 4 }, pluginConfig: 'mps-4' }),
    operatorNode({ name: 't4-time-sliced', gpu: T4, count: 4, setup: { kind: 'time-slicing', replicas: 10 }, pluginConfig: 'time-slicing-10' }),
    operatorNode({ name: 'cpu-1' }),
  ];
}
