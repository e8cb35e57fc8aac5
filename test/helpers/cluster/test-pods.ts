/** Pods as the end-to-end tests create them through the API, and what of a stored pod they check. */

/** An inference pod asking with `annotations`: one Triton container with CPU and memory requests (the scheduler weighs them). */
export function inferencePod(name: string, annotations: Record<string, string> = {}, labels: Record<string, string> = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, annotations, labels },
    spec: { containers: [{ name: 'triton', image: 'nvcr.io/nvidia/tritonserver:26.04-py3', resources: { requests: { cpu: '1', memory: '1Gi' } } }] },
  };
}

/** The NVIDIA resources the first container of a stored pod requests. */
export function gpuRequests(stored: any): Record<string, string> {
  return Object.fromEntries(Object.entries(stored.spec.containers[0].resources?.requests ?? {}).filter(([name]) => name.startsWith('nvidia.com/'))) as Record<string, string>;
}
