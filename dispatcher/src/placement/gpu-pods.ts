/**
 * The scheduled pods that hold GPU shares, kept current by the shared list-watch loop over
 * /api/v1/pods (non-terminal phases only): what is free on a node is its allocatable minus what
 * these pods request. Only the small part placement needs is kept, and only for pods that ask
 * for an nvidia.com resource, so memory stays flat on a cluster of many CPU pods.
 */
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { ListWatchLoop, type ListPage } from '#core/kube/list-watch.ts';

/** The parts of a pod the free-share count needs. */
export interface GpuPod {
  metadata: { name: string; namespace?: string };
  spec: {
    nodeName?: string;
    containers: Array<{ resources?: { requests?: Record<string, string>; limits?: Record<string, string> } }>;
    initContainers?: Array<{ resources?: { requests?: Record<string, string>; limits?: Record<string, string> } }>;
  };
  status: { phase?: string };
}

interface PodLike {
  metadata?: { name?: string; namespace?: string; uid?: string };
  spec?: { nodeName?: string; containers?: GpuPod['spec']['containers']; initContainers?: GpuPod['spec']['initContainers'] };
  status?: { phase?: string };
}

const TERMINAL = 'status.phase!=Succeeded,status.phase!=Failed';

export class GpuPods {
  private readonly pods = new Map<string, GpuPod>();
  private snapshot: GpuPod[] | undefined;
  private readonly loop: ListWatchLoop<PodLike>;
  private readonly kubeConfig: KubeConfig;

  constructor(kubeConfig: KubeConfig, onError?: (err: unknown) => void) {
    this.kubeConfig = kubeConfig;
    const api = kubeConfig.makeApiClient(CoreV1Api);
    this.loop = new ListWatchLoop<PodLike>({
      path: '/api/v1/pods',
      fieldSelector: TERMINAL,
      list: (page) => api.listPodForAllNamespaces({ fieldSelector: TERMINAL, ...page }) as Promise<ListPage<PodLike>>,
      onList: (items) => {
        this.pods.clear();
        for (const pod of items) this.upsert(pod);
        this.snapshot = undefined;
      },
      onEvent: (type, pod) => {
        if (type === 'DELETED') this.pods.delete(keyOf(pod));
        else this.upsert(pod);
        this.snapshot = undefined;
      },
      onError,
    });
  }

  start(): Promise<void> {
    return this.loop.start(this.kubeConfig);
  }

  stop(): void {
    this.loop.stop();
  }

  ready(): boolean {
    return this.loop.status().ready;
  }

  list(): GpuPod[] {
    this.snapshot ??= [...this.pods.values()];
    return this.snapshot;
  }

  private upsert(pod: PodLike): void {
    const key = keyOf(pod);
    const phase = pod.status?.phase;
    const containers = pod.spec?.containers ?? [];
    const init = pod.spec?.initContainers ?? [];
    const asksGpu = [...containers, ...init].some((c) => Object.keys({ ...c.resources?.requests, ...c.resources?.limits }).some((r) => r.startsWith('nvidia.com/')));
    if (!asksGpu || phase === 'Succeeded' || phase === 'Failed') {
      this.pods.delete(key);
      return;
    }
    const gpuOnly = (list: GpuPod['spec']['containers']) =>
      list.map((c) => ({ resources: { requests: nvidiaOnly(c.resources?.requests), limits: nvidiaOnly(c.resources?.limits) } }));
    this.pods.set(key, {
      metadata: { name: pod.metadata?.name ?? '', namespace: pod.metadata?.namespace },
      spec: { nodeName: pod.spec?.nodeName, containers: gpuOnly(containers), initContainers: gpuOnly(init) },
      status: { phase },
    });
  }
}

function keyOf(pod: PodLike): string {
  return `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`;
}

function nvidiaOnly(resources: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(resources ?? {}).filter(([name]) => name.startsWith('nvidia.com/')));
}
