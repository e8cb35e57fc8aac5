/**
 * The operator-labelled fixtures are what the labellers write: GPU feature discovery's own
 * expected label keys per MIG strategy (tests/expected-output-mig-{none,single,mixed}.txt in
 * NVIDIA/k8s-device-plugin, copied below), and test/fixtures/nodes.json is their rendering.
 * UPDATE_GOLDEN=1 rewrites nodes.json after an intended change to operator-nodes.ts.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../helpers/helm.ts';
import { operatorClusterNodes, webhookClusterNodes } from './operator-nodes.ts';

const labelled = suite('fixtures: nodes labelled as the GPU Operator labels them');
const NODES_JSON = join(REPO_ROOT, 'test/fixtures/nodes.json');

/** GFD's keys under every strategy (expected-output-mig-none.txt), without the prefix. */
const GFD_KEYS = [
  'gfd.timestamp', 'cuda.driver.major', 'cuda.driver.minor', 'cuda.driver.rev', 'cuda.runtime.major', 'cuda.runtime.minor',
  'cuda.driver-version.major', 'cuda.driver-version.minor', 'cuda.driver-version.revision', 'cuda.driver-version.full',
  'cuda.runtime-version.major', 'cuda.runtime-version.minor', 'cuda.runtime-version.full', 'gpu.machine', 'gpu.count',
  'gpu.replicas', 'gpu.sharing-strategy', 'gpu.product', 'gpu.memory', 'gpu.family', 'gpu.mode', 'mig.capable',
  'gpu.compute.major', 'gpu.compute.minor', 'mps.capable',
  // expected-output-vgpu.txt: written on every node, `false` without a vGPU.
  'vgpu.present',
];
/** A MIG device's keys: under single on nvidia.com/gpu, under mixed on nvidia.com/mig-<profile>. */
const MIG_DEVICE_KEYS = ['multiprocessors', 'engines.copy', 'engines.decoder', 'engines.encoder', 'engines.jpeg', 'engines.ofa', 'slices.gi', 'slices.ci'];
const MIXED_KEYS = ['product', 'count', 'replicas', 'sharing-strategy', 'memory', ...MIG_DEVICE_KEYS];
/** Written by the operator, mig-manager, or the admin choosing a device-plugin config. */
const NOT_GFD = /^nvidia\.com\/(gpu\.present|gpu\.deploy\.|mig\.config|device-plugin\.config)/;

function gfdKeys(labels: Record<string, string>): string[] {
  return Object.keys(labels).filter((key) => key.startsWith('nvidia.com/') && !NOT_GFD.test(key)).sort();
}

labelled('each GPU node carries the keys GPU feature discovery writes for its strategy, no more and no fewer', () => {
  let checked = 0;
  for (const node of [...webhookClusterNodes(), ...operatorClusterNodes()]) {
    const labels = node.metadata!.labels!;
    if (!labels['nvidia.com/gpu.product']) {
      assert.equal(gfdKeys(labels), [], `${node.metadata!.name}: a node without GPUs has no NVIDIA labels`);
      continue;
    }
    const strategy = labels['nvidia.com/mig.strategy'];
    const expected = [...GFD_KEYS, ...(strategy ? ['mig.strategy'] : [])];
    if (strategy === 'single' && labels['nvidia.com/gpu.product'].includes('-MIG-')) expected.push(...MIG_DEVICE_KEYS.map((key) => `gpu.${key}`));
    if (strategy === 'mixed') {
      const profiles = Object.keys(node.status!.allocatable!).filter((name) => name.startsWith('nvidia.com/mig-')).map((name) => name.slice('nvidia.com/'.length));
      for (const profile of profiles) expected.push(...MIXED_KEYS.map((key) => `${profile}.${key}`));
    }
    assert.equal(gfdKeys(labels), expected.map((key) => `nvidia.com/${key}`).sort(), node.metadata!.name);
    checked++;
  }
  assert.is(checked, 11);
});

labelled('the operator default: mig.strategy=single on every GPU node but the mixed ones, MIG-capable or not', () => {
  const nodes = operatorClusterNodes();
  const label = (name: string, key: string) => nodes.find((node) => node.metadata!.name === name)!.metadata!.labels![`nvidia.com/${key}`];
  for (const name of ['l40s-whole', 'a100-mig-off', 'a100-mig-single', 'l40s-mps', 't4-time-sliced']) assert.is(label(name, 'mig.strategy'), 'single', name);
  // Capability labels do not say whether MIG is on: an A100 with MIG off is capable, all-disabled.
  assert.is(label('a100-mig-off', 'mig.capable'), 'true');
  assert.is(label('a100-mig-off', 'mig.config'), 'all-disabled');
  assert.is(label('a100-mig-off', 'gpu.product'), 'NVIDIA-A100-SXM4-80GB');
  assert.is(label('a100-mig-single', 'gpu.product'), 'NVIDIA-A100-SXM4-80GB-MIG-1g.10gb');
  assert.is(label('l40s-whole', 'mig.capable'), 'false');
  assert.is(label('l40s-whole', 'mig.config'), undefined);
  assert.is(label('l40s-mps', 'gpu.product'), 'NVIDIA-L40S-SHARED');
});

labelled('test/fixtures/nodes.json is webhookClusterNodes() as the API server returns them', () => {
  const rendered = JSON.stringify(webhookClusterNodes(), null, 2) + '\n';
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(NODES_JSON, rendered);
  assert.fixture(readFileSync(NODES_JSON, 'utf8'), rendered, 'nodes.json differs: run UPDATE_GOLDEN=1 node test/run.ts webhook/gpu/operator-nodes and review it');
});

labelled.run();
