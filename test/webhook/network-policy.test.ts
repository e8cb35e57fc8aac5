/**
 * The chart's NetworkPolicy for the webhook (webhook.networkPolicy): off by default; when on,
 * ingress to the webhook pods' one port only from the API server's ranges and the peers of
 * extraFrom; refused at render time without ranges (it would keep the API server out). The
 * rendered policy is checked by the real API server (a server-side dry run), and the
 * matchConditions as rendered for each shape of namespaceDefaults.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { stringify } from 'yaml';
import { template, templateOrThrow } from '../helpers/helm.ts';
import { parseManifests } from '../helpers/k8s/manifests.ts';
import { sharedCluster, createNamespace } from '../helpers/cluster/shared.ts';

type Manifest = Record<string, any>;
const policy = suite('webhook NetworkPolicy and matchConditions in the chart');

async function render(values: Record<string, unknown>): Promise<Manifest[]> {
  return parseManifests(await templateOrThrow('helm', { namespace: 'supersonic-system', values: { webhook: { enabled: true, ...values } } })) as Manifest[];
}
const networkPolicies = (objects: Manifest[]) => objects.filter((o) => o.kind === 'NetworkPolicy');

const PROMETHEUS = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } } };

policy('off by default: no NetworkPolicy', async () => {
  assert.equal(networkPolicies(await render({})), []);
});

policy('on: ingress to the webhook pods\' https port only, from the API server\'s ranges and extraFrom', async () => {
  const objects = await render({ networkPolicy: { enabled: true, apiServerCidrs: ['10.0.0.10/32', '2001:db8::/64'], extraFrom: [PROMETHEUS] } });
  const [networkPolicy] = networkPolicies(objects);
  assert.ok(networkPolicy, 'no NetworkPolicy rendered');
  const deployment = objects.find((o) => o.kind === 'Deployment' && o.metadata.labels['app.kubernetes.io/component'] === 'webhook')!;
  assert.equal(networkPolicy.spec.podSelector.matchLabels, deployment.spec.selector.matchLabels, 'selects the webhook pods');
  assert.equal(networkPolicy.spec.policyTypes, ['Ingress']);
  assert.equal(networkPolicy.spec.ingress, [{
    ports: [{ port: 'https', protocol: 'TCP' }],
    from: [{ ipBlock: { cidr: '10.0.0.10/32' } }, { ipBlock: { cidr: '2001:db8::/64' } }, PROMETHEUS],
  }]);
  // The named port is the container's, where it serves /mutate and /metrics alike.
  assert.ok(deployment.spec.template.spec.containers[0].ports.some((p: Manifest) => p.name === 'https'));
});

policy('on without apiServerCidrs: refused, saying why', async () => {
  const result = await template('helm', { values: { webhook: { enabled: true, networkPolicy: { enabled: true } } } });
  assert.is.not(result.code, 0);
  assert.match(result.stderr, /webhook\.networkPolicy\.enabled needs webhook\.networkPolicy\.apiServerCidrs/);
  const malformed = await template('helm', { values: { webhook: { enabled: true, networkPolicy: { enabled: true, apiServerCidrs: ['10.0.0.1'] } } } });
  assert.is.not(malformed.code, 0, 'an address without a prefix length was accepted');
  assert.match(malformed.stderr, /apiServerCidrs/);
});

policy('matchConditions: our annotations always; and with namespaceDefaults, every pod of those namespaces', async () => {
  const expression = async (values: Record<string, unknown>) => {
    const hook = (await render(values)).find((o) => o.kind === 'MutatingWebhookConfiguration')!.webhooks[0];
    assert.is(hook.matchConditions.length, 1);
    return hook.matchConditions[0].expression as string;
  };
  const annotationsOnly = await expression({});
  assert.match(annotationsOnly, "k.startsWith('supersonic.fastmachinelearning.org/')");
  assert.not.match(annotationsOnly, 'request.namespace');
  const withDefaults = await expression({ injection: { namespaceDefaults: { 'cms': { 'gpu-profile': '1g.10gb' }, 'atlas': { 'cvmfs-repositories': 'atlas.cern.ch' } } } });
  assert.match(withDefaults, ' || request.namespace in ["atlas","cms"]');
});

policy('the real API server accepts the rendered NetworkPolicy and registration (server-side dry run)', async () => {
  const cluster = await sharedCluster();
  const namespace = await createNamespace(cluster, 'netpol');
  try {
    const objects = parseManifests(await templateOrThrow('helm', {
      namespace: namespace.name,
      values: { webhook: { enabled: true, networkPolicy: { enabled: true, apiServerCidrs: ['10.0.0.10/32', '2001:db8::/64'], extraFrom: [PROMETHEUS] }, injection: { namespaceDefaults: { cms: { gpu: '1' } } } } },
    })) as Manifest[];
    const chosen = objects.filter((o) => o.kind === 'NetworkPolicy' || o.kind === 'MutatingWebhookConfiguration');
    assert.is(chosen.length, 2);
    const applied = await cluster.kubectl(['apply', '--dry-run=server', '-n', namespace.name, '-f', '-'], chosen.map((o) => stringify(o)).join('---\n'));
    assert.is(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /networkpolicy\.networking\.k8s\.io\/\S+ created \(server dry run\)/);
    assert.match(applied.stdout, /mutatingwebhookconfiguration\.admissionregistration\.k8s\.io\/\S+ created \(server dry run\)/);
  } finally {
    await namespace.remove();
  }
});

policy.run();
