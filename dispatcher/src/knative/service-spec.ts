/**
 * The Knative Service (serving.knative.dev/v1) and Secret of one model, built from the
 * dispatcher's configuration and the GPU share chosen for it. What SSIS left out is here: the
 * container port, a readiness probe on the model server's own health path, timeouts sized for
 * generation, concurrency matched to the server, scale-to-zero retention, and credentials in a
 * Secret the container references instead of inline env.
 *
 * Runtime class, node selectors and tolerations are set only when configured: Knative refuses
 * them unless the site enabled the matching config-features flags (docs/dispatcher.md).
 */
import type { DispatcherValues } from '../config.ts';

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'supersonic-dispatcher';
/** The full model id: a label value cannot hold `org/Model-Name` of any length. */
export const MODEL_ID_ANNOTATION = 'supersonic.fastmachinelearning.org/model-id';
/** When a dispatcher replica last sent the model a request (ISO time): idle clean-up reads it. */
export const LAST_USED_ANNOTATION = 'supersonic.fastmachinelearning.org/last-used';
/** The dispatcher instance (release) that owns the Service, so two releases never share one. */
export const INSTANCE_LABEL = 'supersonic.fastmachinelearning.org/dispatcher';

export type Family = keyof DispatcherValues['families'];

/** The GPU share the model runs on (placement's choice). */
export interface ChosenShare {
  resource: string;
  /** CUDA MPS settings for an MPS share. */
  env: Record<string, string>;
}

export interface ModelSpecInput {
  name: string;
  namespace: string;
  /** The dispatcher's release, for INSTANCE_LABEL. */
  instance: string;
  modelId: string;
  family: Family;
  share: ChosenShare;
  /** Plain env from the request (allow-listed already). */
  env: Record<string, string>;
  /** Secret env keys: each value comes from this Secret, under the same key. */
  secretKeys: string[];
  secretName?: string;
  /** Request labels, copied onto the revision's pods. */
  labels: Record<string, string>;
  now: Date;
}

export interface KnativeService {
  apiVersion: 'serving.knative.dev/v1';
  kind: 'Service';
  metadata: { name: string; namespace: string; labels: Record<string, string>; annotations: Record<string, string> };
  spec: Record<string, any>;
}

export function modelLabels(instance: string): Record<string, string> {
  return { [MANAGED_BY_LABEL]: MANAGED_BY, [INSTANCE_LABEL]: instance };
}

export type Autoscaling = DispatcherValues['autoscaling'];

/** dispatcher.autoscaling with the family's own keys over it. */
export function familyAutoscaling(config: DispatcherValues, family: Family): Autoscaling {
  const own = Object.fromEntries(Object.entries(config.families[family]?.autoscaling ?? {}).filter(([, value]) => value !== undefined));
  return { ...config.autoscaling, ...own };
}

/** The family of a model: its own in dispatcher.models, else defaultFamily. */
export function familyOf(config: DispatcherValues, modelId: string): Family {
  return (config.models?.[modelId]?.family ?? config.defaultFamily) as Family;
}

export function buildService(config: DispatcherValues, input: ModelSpecInput): KnativeService {
  const family = config.families[input.family];
  const autoscaling = familyAutoscaling(config, input.family);
  const env = [
    { name: family.modelIdEnv ?? 'MODEL_ID', value: input.modelId },
    ...Object.entries(input.env)
      .filter(([key]) => key !== (family.modelIdEnv ?? 'MODEL_ID'))
      .map(([name, value]) => ({ name, value })),
    ...Object.entries(input.share.env).map(([name, value]) => ({ name, value })),
    ...input.secretKeys.map((key) => ({ name: key, valueFrom: { secretKeyRef: { name: input.secretName!, key, optional: false } } })),
  ];
  const gpu = { [input.share.resource]: '1' };
  const resources = {
    requests: { ...(config.modelResources.requests ?? {}), ...gpu },
    limits: { ...(config.modelResources.limits ?? {}), ...gpu },
  };
  const probe = { httpGet: { path: family.readinessPath, port: family.port }, periodSeconds: 5, failureThreshold: 3 };
  const features = config.knativeFeatures;
  const podSpec: Record<string, any> = {
    containerConcurrency: family.containerConcurrency ?? 0,
    timeoutSeconds: autoscaling.timeoutSeconds,
    responseStartTimeoutSeconds: autoscaling.responseStartTimeoutSeconds,
    containers: [
      {
        name: 'model',
        image: family.image,
        ...(family.args?.length ? { args: family.args } : {}),
        ports: [{ containerPort: family.port, name: 'http1' }],
        env,
        resources,
        readinessProbe: probe,
        securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
      },
    ],
    ...(features.runtimeClassName ? { runtimeClassName: features.runtimeClassName } : {}),
    ...(Object.keys(features.nodeSelector ?? {}).length ? { nodeSelector: features.nodeSelector } : {}),
    ...(features.tolerations?.length ? { tolerations: features.tolerations } : {}),
    ...(Object.keys(features.affinity ?? {}).length ? { affinity: features.affinity } : {}),
  };
  const labels = modelLabels(input.instance);
  return {
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Service',
    metadata: {
      name: input.name,
      namespace: input.namespace,
      // Cluster-local: reached only from inside the cluster, through Knative's activator when
      // scaled to zero, never published on the ingress.
      labels: { ...labels, 'networking.knative.dev/visibility': 'cluster-local' },
      annotations: { [MODEL_ID_ANNOTATION]: input.modelId, [LAST_USED_ANNOTATION]: input.now.toISOString() },
    },
    spec: {
      template: {
        metadata: {
          labels: { ...input.labels, ...labels },
          annotations: {
            'autoscaling.knative.dev/min-scale': String(autoscaling.minScale),
            'autoscaling.knative.dev/max-scale': String(autoscaling.maxScale),
            'autoscaling.knative.dev/target': String(autoscaling.target),
            'autoscaling.knative.dev/scale-to-zero-pod-retention-period': autoscaling.scaleToZeroRetention,
            [MODEL_ID_ANNOTATION]: input.modelId,
          },
        },
        spec: podSpec,
      },
    },
  };
}

/** The Secret that holds a model's credentials (HF_TOKEN, say), named by the Service's name. */
export function buildSecret(name: string, namespace: string, instance: string, modelId: string, data: Record<string, string>) {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: { name, namespace, labels: modelLabels(instance), annotations: { [MODEL_ID_ANNOTATION]: modelId } },
    stringData: data,
  };
}
