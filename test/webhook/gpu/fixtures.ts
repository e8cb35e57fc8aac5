/**
 * Node objects shaped like what the API server returns for GPU nodes labelled by GPU feature
 * discovery, one per MIG/sharing strategy, with only the labels the webhook reads, so each test
 * shows what it depends on. operator-nodes.ts has the full label sets the GPU Operator writes.
 * Not a test file: the .test.ts files import it.
 */
import type { NodeLike } from '#core/gpu/node-gpus.ts';

export function gpuNode(name: string, labels: Record<string, string>, allocatable: Record<string, string>, spec: NodeLike['spec'] = {}): NodeLike {
  return {
    metadata: { name, labels: { 'kubernetes.io/hostname': name, ...labels } },
    status: { allocatable: { cpu: '64', memory: '512Gi', pods: '110', ...allocatable } },
    spec,
  };
}

/** A100 80 GB ×2 under the mixed strategy: 7 × 1g.10gb on one GPU, 2 × 3g.40gb on the other, plus the media slice. */
export const mixedA100 = (name = 'mixed-1') =>
  gpuNode(
    name,
    { 'nvidia.com/gpu.product': 'NVIDIA-A100-SXM4-80GB', 'nvidia.com/gpu.memory': '81920', 'nvidia.com/mig.strategy': 'mixed' },
    { 'nvidia.com/gpu': '0', 'nvidia.com/mig-1g.10gb': '6', 'nvidia.com/mig-1g.10gb.me': '1', 'nvidia.com/mig-3g.40gb': '2' },
  );

/** H100 ×1 split into 2 × 3g.40gb under the single strategy: advertised as nvidia.com/gpu. */
export const singleH100 = (name = 'single-1') =>
  gpuNode(
    name,
    { 'nvidia.com/gpu.product': 'NVIDIA-H100-80GB-HBM3-MIG-3g.40gb', 'nvidia.com/gpu.memory': '40192', 'nvidia.com/mig.strategy': 'single', 'nvidia.com/gpu.count': '2' },
    { 'nvidia.com/gpu': '2' },
  );

/** A100 40 GB ×1 shared by MPS into 4, under its plain name. */
export const mpsNode = (name = 'mps-1') =>
  gpuNode(
    name,
    { 'nvidia.com/gpu.product': 'NVIDIA-A100-SXM4-40GB-SHARED', 'nvidia.com/gpu.memory': '40960', 'nvidia.com/gpu.sharing-strategy': 'mps', 'nvidia.com/gpu.replicas': '4' },
    { 'nvidia.com/gpu': '4' },
  );

/** The same with renameByDefault: nvidia.com/gpu.shared. */
export const mpsSharedNode = (name = 'mps-shared-1') =>
  gpuNode(
    name,
    { 'nvidia.com/gpu.product': 'NVIDIA-A100-SXM4-40GB-SHARED', 'nvidia.com/gpu.memory': '40960', 'nvidia.com/gpu.sharing-strategy': 'mps', 'nvidia.com/gpu.replicas': '4' },
    { 'nvidia.com/gpu.shared': '4' },
  );

/** T4 ×4 time-sliced 10 ways. */
export const timeSlicedT4 = (name = 'ts-1') =>
  gpuNode(
    name,
    { 'nvidia.com/gpu.product': 'Tesla-T4-SHARED', 'nvidia.com/gpu.memory': '15360', 'nvidia.com/gpu.sharing-strategy': 'time-slicing', 'nvidia.com/gpu.replicas': '10' },
    { 'nvidia.com/gpu': '40' },
  );

/** L40 ×count, plain (no MIG, no sharing); 49152 MiB so the summary reads 48 GiB. */
export const plainL40 = (name = 'l40-1', count = '4') =>
  gpuNode(name, { 'nvidia.com/gpu.product': 'NVIDIA-L40', 'nvidia.com/gpu.memory': '49152', 'nvidia.com/gpu.count': count }, { 'nvidia.com/gpu': count });

export const cpuOnly = (name = 'cpu-1') => gpuNode(name, {}, {});
