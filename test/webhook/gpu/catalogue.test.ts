import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  GPU_CATALOGUE,
  gpuModelOf,
  isKnownMigProfile,
  migProfileName,
  migResourceName,
  parseMigProfile,
} from '#core/gpu/catalogue.ts';

const parse = suite('gpu-catalogue: profile names');

parse('reads slices, memory and the media flag', () => {
  assert.equal(parseMigProfile('1g.10gb'), { slices: 1, memoryGB: 10, media: false });
  assert.equal(parseMigProfile('7g.141gb'), { slices: 7, memoryGB: 141, media: false });
  assert.equal(parseMigProfile('1g.5gb+me'), { slices: 1, memoryGB: 5, media: true });
  assert.equal(parseMigProfile('1g.5gb.me'), { slices: 1, memoryGB: 5, media: true }, 'resource-name form');
  assert.equal(parseMigProfile(' 3G.40GB '), { slices: 3, memoryGB: 40, media: false }, 'case and spaces');
});

parse('refuses what is not a profile the device plugin advertises', () => {
  for (const text of ['', '1g', '10gb', '1g.10', '1c.3g.20gb', '9g.10gb', '0g.10gb', '1g.0gb', '1g.10gb+gfx', 'mig-1g.10gb', '1g.10gb.shared']) {
    assert.is(parseMigProfile(text), undefined, text);
  }
});

parse('canonical names and resource names', () => {
  assert.is(migProfileName(parseMigProfile('1G.5GB.me')!), '1g.5gb+me');
  assert.is(migResourceName('1g.10gb'), 'nvidia.com/mig-1g.10gb');
  assert.is(migResourceName('1g.5gb+me'), 'nvidia.com/mig-1g.5gb.me');
  assert.is(migResourceName('3g.40gb'), 'nvidia.com/mig-3g.40gb');
  assert.throws(() => migResourceName('big'), /not a MIG profile: "big"/);
});

parse.run();

const models = suite('gpu-catalogue: models');

models('the table: every model, profile counts and memory', () => {
  assert.equal(GPU_CATALOGUE.map((entry) => entry.model), [
    'A100-40GB', 'A100-80GB', 'A30', 'H100-80GB', 'H100-94GB', 'H100-96GB', 'H200', 'GH200-144G', 'B200', 'GB200', 'B300', 'GB300', 'RTX PRO 6000',
  ]);
  const a100 = GPU_CATALOGUE.find((entry) => entry.model === 'A100-40GB')!;
  assert.equal(a100.profiles.map((p) => `${p.name}x${p.maxInstances}`), ['1g.5gbx7', '1g.5gb+mex1', '1g.10gbx4', '2g.10gbx3', '3g.20gbx2', '4g.20gbx1', '7g.40gbx1']);
  assert.equal(a100.profiles[2], { name: '1g.10gb', slices: 1, memoryGB: 10, maxInstances: 4 });
  const a30 = GPU_CATALOGUE.find((entry) => entry.model === 'A30')!;
  assert.equal(a30.profiles.map((p) => `${p.name}x${p.maxInstances}`), ['1g.6gbx4', '1g.6gb+mex1', '2g.12gbx2', '2g.12gb+mex1', '4g.24gbx1']);
  const h200 = GPU_CATALOGUE.find((entry) => entry.model === 'H200')!;
  assert.equal(h200.profiles.at(-1), { name: '7g.141gb', slices: 7, memoryGB: 141, maxInstances: 1 });
  const rtx = GPU_CATALOGUE.find((entry) => entry.model === 'RTX PRO 6000')!;
  assert.equal(rtx.profiles.map((p) => p.name), ['1g.24gb', '2g.48gb', '4g.96gb']);
  // No profile's instances together need more than the 7 compute slices a GPU has.
  for (const entry of GPU_CATALOGUE) for (const p of entry.profiles) assert.ok(p.slices * p.maxInstances <= 7, `${entry.model} ${p.name}`);
});

models('gpuModelOf maps product labels, including MIG-single and shared suffixes', () => {
  const cases: Record<string, string | undefined> = {
    'NVIDIA-A100-SXM4-80GB': 'A100-80GB',
    'NVIDIA-A100-80GB-PCIe': 'A100-80GB',
    'NVIDIA-A100-PCIE-40GB': 'A100-40GB',
    'NVIDIA-A100-SXM4-40GB-MIG-1g.5gb': 'A100-40GB',
    'NVIDIA-A100-SXM4-40GB-MIG-1g.5gb-SHARED': 'A100-40GB',
    'NVIDIA-A800-SXM4-80GB': 'A100-80GB',
    'NVIDIA-A30': 'A30',
    'NVIDIA-H100-80GB-HBM3': 'H100-80GB',
    'NVIDIA-H100-80GB-HBM3-MIG-3g.40gb': 'H100-80GB',
    'NVIDIA-H100-PCIe': 'H100-80GB',
    'NVIDIA-H100-NVL': 'H100-94GB',
    'NVIDIA-H20': 'H100-96GB',
    'NVIDIA-GH200-480GB': 'H100-96GB',
    'NVIDIA-GH200-144G-HBM3e': 'GH200-144G',
    'NVIDIA-H200': 'H200',
    'NVIDIA-H200-NVL': 'H200',
    'NVIDIA-B200': 'B200',
    'NVIDIA-GB200': 'GB200',
    'NVIDIA-B300-SXM6-AC': 'B300',
    'NVIDIA-GB300': 'GB300',
    'NVIDIA-RTX-PRO-6000-Blackwell-Server-Edition': 'RTX PRO 6000',
    'NVIDIA-L40': undefined,
    'NVIDIA-L40S-SHARED': undefined,
    'Tesla-T4': undefined,
    'Tesla-V100-SXM2-16GB': undefined,
    'NVIDIA-A10': undefined,
    '': undefined,
  };
  for (const [label, model] of Object.entries(cases)) assert.is(gpuModelOf(label)?.model, model, label);
  assert.is(gpuModelOf(undefined), undefined);
});

models('isKnownMigProfile tells a real profile from a typo', () => {
  assert.ok(isKnownMigProfile('3g.40gb'));
  assert.ok(isKnownMigProfile('1g.5gb.me'));
  assert.not.ok(isKnownMigProfile('3g.41gb'));
  assert.not.ok(isKnownMigProfile('nonsense'));
});

models.run();
