/**
 * A stand-in for Knative Serving's controller on the test control plane. The real CRDs are
 * installed (their schemas check every Service the dispatcher creates), but no Knative
 * controller, activator or kubelet runs here, so this plays the controller's last step only:
 * when a Service's spec is new (observedGeneration behind generation), it writes the status
 * Knative would: Ready=True with an address (the URL of a model-server stand-in on 127.0.0.1),
 * or Ready=False with a reason, or nothing yet (still starting).
 *
 * What it leaves out: Revisions, Routes, the activator holding requests during scale from
 * zero, Knative's own validating webhook (the dispatcher checks names as that webhook does),
 * and real pods (the dispatcher's free-share count sees only pods the test creates).
 */
import type { Cluster } from '../cluster/control-plane.ts';

export type KnativeVerdict = { ready: true; url: string } | { ready: false; reason: string; message: string } | 'pending';

interface Ksvc {
  metadata: { name: string; generation?: number; annotations?: Record<string, string> };
  status?: { observedGeneration?: number };
}

export interface KnativeStandIn {
  /** Services seen, by name, in the order first seen. */
  seen(): string[];
  /** Decide again for a Service left pending (say, once its model server is up). */
  settle(name: string, verdict: KnativeVerdict): Promise<void>;
  stop(): void;
}

export function playKnative(cluster: Cluster, namespace: string, decide: (service: Ksvc) => KnativeVerdict, pollMs = 100): KnativeStandIn {
  const seen: string[] = [];
  const settled = new Map<string, number>();
  let stopped = false;
  const base = `/apis/serving.knative.dev/v1/namespaces/${namespace}/services`;

  const write = async (service: Ksvc, verdict: KnativeVerdict) => {
    if (verdict === 'pending') return;
    const generation = service.metadata.generation ?? 1;
    const now = new Date().toISOString();
    const condition = verdict.ready
      ? { type: 'Ready', status: 'True', lastTransitionTime: now }
      : { type: 'Ready', status: 'False', reason: verdict.reason, message: verdict.message, lastTransitionTime: now };
    const status = {
      observedGeneration: generation,
      conditions: [condition, { ...condition, type: 'ConfigurationsReady' }, { ...condition, type: 'RoutesReady' }],
      ...(verdict.ready ? { url: verdict.url, address: { url: verdict.url } } : {}),
    };
    const res = await cluster.request('PATCH', `${base}/${service.metadata.name}/status`, { status }, { contentType: 'application/merge-patch+json' });
    if (res.status !== 200) throw new Error(`stand-in: writing the status of ${service.metadata.name}: ${res.status} ${JSON.stringify(res.body)}`);
    settled.set(service.metadata.name, generation);
  };

  // Polling, not a watch: simpler, and the dispatcher's own watch is what is under test.
  const loop = async () => {
    while (!stopped) {
      const res = await cluster.request<{ items: Ksvc[] }>('GET', base).catch(() => undefined);
      for (const service of res?.status === 200 ? res.body.items : []) {
        const name = service.metadata.name;
        if (!seen.includes(name)) seen.push(name);
        if (settled.get(name) === (service.metadata.generation ?? 1)) continue;
        await write(service, decide(service)).catch(() => undefined);
      }
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  };
  void loop();

  return {
    seen: () => [...seen],
    settle: async (name, verdict) => {
      const res = await cluster.request<Ksvc>('GET', `${base}/${name}`);
      if (res.status !== 200) throw new Error(`stand-in: no Service ${name}: ${res.status}`);
      await write(res.body, verdict);
    },
    stop: () => {
      stopped = true;
    },
  };
}
