/**
 * What every dispatcher suite on the real API server sets up: a namespace, one GPU node labelled
 * as the GPU Operator labels an A100 that mig-parted split into 3× 1g.10gb and 1× 3g.40gb, an
 * OpenAI-like model stand-in on 127.0.0.1, and the Knative stand-in answering Ready at it unless
 * `verdicts` (by model id) says otherwise. remove() undoes all of it.
 */
import type { Cluster } from '../cluster/control-plane.ts';
import { deleteNode, putNode, type NodeShape } from '../cluster/nodes.ts';
import { createNamespace, sharedCluster, type TestNamespace } from '../cluster/shared.ts';
import { startOpenAiServer, type Knobs, type ModelServer } from '../model-servers.ts';
import { A100_SXM4_80GB, operatorNode } from '../../webhook/gpu/operator-nodes.ts';
import { MODEL_ID_ANNOTATION } from '../../../dispatcher/src/knative/service-spec.ts';
import { playKnative, type KnativeStandIn, type KnativeVerdict } from './knative-stand-in.ts';

/** The node's MIG resources, for dispatcher.gpuResources: only this suite's node is used. */
export const TEST_BED_RESOURCES = ['nvidia.com/mig-1g.10gb', 'nvidia.com/mig-3g.40gb'];

export interface TestBed {
  cluster: Cluster;
  namespace: TestNamespace;
  node: string;
  model: ModelServer;
  knative: KnativeStandIn;
  verdicts: Map<string, KnativeVerdict>;
  remove(): Promise<void>;
}

export async function dispatcherTestBed(prefix: string, modelKnobs: Knobs): Promise<TestBed> {
  const cluster = await sharedCluster();
  const namespace = await createNamespace(cluster, prefix);
  const node = `${prefix}-a100-${namespace.name.slice(-6)}`;
  await putNode(cluster, operatorNode({
    name: node, gpu: A100_SXM4_80GB, count: 1, migStrategy: 'mixed', pluginConfig: 'mig-mixed',
    setup: { kind: 'mig', devices: { '1g.10gb': 3, '3g.40gb': 1 }, config: 'custom-3x1g.10gb-1x3g.40gb' },
  }) as NodeShape);
  const model = await startOpenAiServer(modelKnobs);
  const verdicts = new Map<string, KnativeVerdict>();
  const knative = playKnative(cluster, namespace.name, (service) => verdicts.get(service.metadata.annotations?.[MODEL_ID_ANNOTATION] ?? '') ?? { ready: true, url: model.url });
  return {
    cluster, namespace, node, model, knative, verdicts,
    remove: async () => {
      knative.stop();
      await model.close();
      await deleteNode(cluster, node);
      await namespace.remove();
    },
  };
}
