/**
 * The webhook's configuration at start-up: namespace defaults are checked as every other
 * setting is, their keys against the annotations we read and their values with the parsers the
 * per-pod path uses, so a bad default stops start-up with the key named instead of refusing
 * every pod of the namespace later.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadConfig } from '../../webhook/src/config.ts';
import { configError } from '../helpers/config-dir.ts';
import { REPO_ROOT } from '../helpers/helm.ts';
import { testConfig } from '../helpers/webhook.ts';

const config = suite('webhook: configuration at start-up');
const SCHEMA = join(REPO_ROOT, 'chart/supersonic/values.schema.json');

/** loadConfig on the chart's defaults (with an issuer) and these namespace defaults; the error, if any. */
function load(namespaceDefaults: Record<string, Record<string, unknown>>, change?: (values: Record<string, any>) => void): string | undefined {
  const { values, authSidecarBootstrap } = testConfig();
  values.injection.namespaceDefaults = namespaceDefaults as never;
  change?.(values);
  return configError({ 'webhook.yaml': stringify(values), 'auth-sidecar.yaml': authSidecarBootstrap! }, (dir) => loadConfig(dir, SCHEMA));
}

config('good namespace defaults load', () => {
  assert.is(load({ cms: { 'gpu-profile': '1g.10gb', 'gpu-container': 'triton-server', 'cvmfs-repositories': 'cms.cern.ch,oasis.opensciencegrid.org', auth: 'enabled' }, atlas: { 'gpu-memory': '20Gi' }, icecube: { gpu: '2' }, dune: { 'gpu-mps': '1', auth: 'disabled', 'cvmfs-repositories': 'none' } }), undefined);
});

config('a bad namespace default stops start-up, naming webhook.injection.namespaceDefaults.<namespace>.<key>', () => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ 'gpu-memory': '10GB' }, /webhook\.injection\.namespaceDefaults\.cms\.gpu-memory: "10GB" is not a Kubernetes quantity; write 10G or 10Gi/],
    [{ 'gpu-memory': '10m' }, /webhook\.injection\.namespaceDefaults\.cms\.gpu-memory: "10m" is 0\.01 bytes/],
    [{ 'gpu-profile': '3g' }, /webhook\.injection\.namespaceDefaults\.cms\.gpu-profile: "3g" is not a MIG profile/],
    [{ gpu: 'two' }, /webhook\.injection\.namespaceDefaults\.cms\.gpu: "two" is not a whole number of GPUs/],
    [{ 'gpu-mps': '0' }, /webhook\.injection\.namespaceDefaults\.cms\.gpu-mps: "0" is not a whole number of MPS shares/],
    [{ 'gpu-profile': '1g.10gb', gpu: '1' }, /webhook\.injection\.namespaceDefaults\.cms: set only one GPU annotation; found gpu-profile and gpu/],
    [{ 'cvmfs-repositories': 'CMS' }, /webhook\.injection\.namespaceDefaults\.cms\.cvmfs-repositories: "CMS" must list CVMFS repositories/],
    [{ auth: 'yes' }, /webhook\.injection\.namespaceDefaults\.cms\.auth: "yes" must be "enabled" or "disabled"/],
    [{ 'gpu-container': 'Triton_Server' }, /webhook\.injection\.namespaceDefaults\.cms\.gpu-container: "Triton_Server" is not a container name/],
  ];
  for (const [defaults, expected] of cases) {
    const message = load({ cms: defaults });
    assert.ok(message, `accepted ${JSON.stringify(defaults)}`);
    assert.match(message!, expected);
  }
});

config('an unknown key of a namespace default is named, with the closest known one', () => {
  const message = load({ cms: { 'gpu-profil': '1g.10gb' } });
  assert.match(message ?? '', /webhook\.injection\.namespaceDefaults\.cms\.gpu-profil: unknown key \(did you mean webhook\.injection\.namespaceDefaults\.cms\.gpu-profile\?\)/);
  assert.not.match(message ?? '', /property name must be valid/);
});

config('a namespace default of auth: enabled without a token issuer stops start-up', () => {
  const message = load({ cms: { auth: 'enabled' } }, (values) => (values.injection.auth.issuer = ''));
  assert.match(message ?? '', /webhook\.injection\.namespaceDefaults\.cms\.auth: enabled, but webhook\.injection\.auth\.issuer and jwksUri are not set/);
});

config.run();
