/**
 * The Knative Service a model gets (dispatcher/src/knative/service-spec.ts), from the chart's
 * default configuration: the family's image, port and probe; autoscaling with the family's own
 * keys over the defaults; credentials only by reference; pod-spec fields that need Knative's
 * feature flags only when the site set them. (The real CRD's schema checks these objects in
 * api-server.test.ts, with strict field validation.)
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildService, familyAutoscaling } from '../../dispatcher/src/knative/service-spec.ts';
import { dispatcherValues } from '../helpers/dispatcher/dispatcher-under-test.ts';

const spec = suite('dispatcher: the Knative Service of a model');

const input = (family: 'tgi' | 'vllm' | 'triton') => ({
  name: 'llama-3-1-8b-0123abcd', namespace: 'models', instance: 'cms', modelId: 'meta-llama/Llama-3.1-8B', family,
  share: { resource: 'nvidia.com/gpu.shared', env: { CUDA_MPS_ACTIVE_THREAD_PERCENTAGE: '25' } },
  env: { MODEL_ID: 'meta-llama/Llama-3.1-8B', MAX_INPUT_LENGTH: '4096' }, secretKeys: ['HF_TOKEN'], secretName: 'llama-3-1-8b-0123abcd-env',
  labels: { slo: 'fast' }, now: new Date('2026-12-01T00:00:00Z'),
});

spec('a family\'s own autoscaling keys win over dispatcher.autoscaling; the rest are kept', () => {
  const config = dispatcherValues({ families: { triton: { autoscaling: { timeoutSeconds: 30, responseStartTimeoutSeconds: 10, minScale: 1 } } } });
  assert.equal(familyAutoscaling(config, 'triton'), { ...config.autoscaling, timeoutSeconds: 30, responseStartTimeoutSeconds: 10, minScale: 1 });
  assert.equal(familyAutoscaling(config, 'vllm'), config.autoscaling);
  const service = buildService(config, input('triton'));
  const template = service.spec.template;
  assert.is(template.spec.timeoutSeconds, 30);
  assert.is(template.spec.responseStartTimeoutSeconds, 10);
  assert.is(template.metadata.annotations['autoscaling.knative.dev/min-scale'], '1');
  assert.is(template.metadata.annotations['autoscaling.knative.dev/max-scale'], String(config.autoscaling.maxScale));
  const container = template.spec.containers[0];
  assert.equal(container.ports, [{ containerPort: 8000, name: 'http1' }]);
  assert.is(container.readinessProbe.httpGet.path, '/v2/health/ready');
});

spec('env: the model id, the allowed keys, the share\'s MPS settings, and HF_TOKEN only as a secretKeyRef', () => {
  const container = buildService(dispatcherValues(), input('tgi')).spec.template.spec.containers[0];
  assert.equal(container.env, [
    { name: 'MODEL_ID', value: 'meta-llama/Llama-3.1-8B' },
    { name: 'MAX_INPUT_LENGTH', value: '4096' },
    { name: 'CUDA_MPS_ACTIVE_THREAD_PERCENTAGE', value: '25' },
    { name: 'HF_TOKEN', valueFrom: { secretKeyRef: { name: 'llama-3-1-8b-0123abcd-env', key: 'HF_TOKEN', optional: false } } },
  ]);
  assert.equal(container.resources.limits['nvidia.com/gpu.shared'], '1');
  assert.equal(container.resources.requests['nvidia.com/gpu.shared'], '1');
});

spec('runtime class, node selector, tolerations and affinity only when the site set them (Knative\'s feature flags)', () => {
  const plain = buildService(dispatcherValues(), input('vllm')).spec.template.spec;
  for (const field of ['runtimeClassName', 'nodeSelector', 'tolerations', 'affinity']) assert.not.ok(field in plain, field);
  const affinity = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'nvidia.com/gpu.product', operator: 'In', values: ['NVIDIA-H100-80GB-HBM3'] }] }] } } };
  const set = buildService(dispatcherValues({ knativeFeatures: { runtimeClassName: 'nvidia', nodeSelector: { 'nvidia.com/gpu.present': 'true' }, affinity } }), input('vllm')).spec.template.spec;
  assert.is(set.runtimeClassName, 'nvidia');
  assert.equal(set.nodeSelector, { 'nvidia.com/gpu.present': 'true' });
  assert.equal(set.affinity, affinity);
  assert.not.ok('tolerations' in set);
});

spec.run();
