/**
 * The GPU metrics the collector serves: the six Triton exports per GPU (SuperSONIC 0.3.1's list,
 * and what perf_analyzer's --collect-metrics and genai-perf read), and the one PromQL query that
 * fetches them for this release.
 */

export interface MetricFamily {
  name: string;
  /** Triton's own HELP text, so the answer reads as Triton's /metrics does. */
  help: string;
  type: 'gauge' | 'counter';
}

export const GPU_METRICS: readonly MetricFamily[] = [
  { name: 'nv_gpu_utilization', help: 'GPU utilization rate [0.0 - 1.0)', type: 'gauge' },
  { name: 'nv_gpu_memory_total_bytes', help: 'GPU total memory, in bytes', type: 'gauge' },
  { name: 'nv_gpu_memory_used_bytes', help: 'GPU used memory, in bytes', type: 'gauge' },
  { name: 'nv_gpu_power_usage', help: 'GPU power usage in watts', type: 'gauge' },
  { name: 'nv_gpu_power_limit', help: 'GPU power management limit in watts', type: 'gauge' },
  { name: 'nv_energy_consumption', help: 'GPU energy consumption in joules since the Triton Server started', type: 'counter' },
];

/** The one label kept: perf_analyzer matches `name{gpu_uuid="..."} value` and nothing else. */
export const GPU_LABEL = 'gpu_uuid';

/**
 * One instant query for all six metrics of this release's Triton pods. `selector` is the
 * chart's own matcher list (supersonic.serverLoad.tritonSelector: the release's namespace and
 * its Triton pods), so the collector never sees another release's GPUs. Grouped by metric and
 * GPU: perf_analyzer reads exactly one label, gpu_uuid, and two pods sharing a GPU (MPS, or a
 * pod replaced within Prometheus's lookback window) report the same device, once.
 */
export function gpuQuery(selector: string): string {
  const names = GPU_METRICS.map((metric) => metric.name).join('|');
  const matchers = [`__name__=~"${names}"`, ...(selector.trim() ? [selector.trim()] : [])].join(', ');
  return `max by (__name__, ${GPU_LABEL}) ({${matchers}})`;
}
