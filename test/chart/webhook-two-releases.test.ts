/**
 * Two releases with the webhook in one cluster (the real API server): the second one that would
 * select the same labelled namespaces is refused at install, naming the first and the fix; with
 * its own label value it installs, and each registration selects only its own namespaces.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CHART_DIR, helmIn } from '../helpers/helm.ts';
import { createNamespace, sharedCluster } from '../helpers/cluster/shared.ts';

const two = suite('webhook: two releases, one cluster');

two('a second webhook on the same namespace label is refused; with its own value both install, selecting their own namespaces', async () => {
  const cluster = await sharedCluster();
  const first = await createNamespace(cluster, 'sonic-a');
  const second = await createNamespace(cluster, 'sonic-b');
  const install = (release: string, namespace: string, set: string[] = []) =>
    helmIn(cluster, 'helm', ['install', release, CHART_DIR, '-n', namespace, '--set', 'webhook.enabled=true', ...set.flatMap((s) => ['--set', s])]);
  try {
    const a = await install('sonic-a', first.name);
    assert.is(a.code, 0, a.stderr);
    const refused = await install('sonic-b', second.name);
    assert.is.not(refused.code, 0, 'the second release installed on the same label value');
    assert.match(refused.stderr, 'the webhook of SuperSONIC release sonic-a already mutates the namespaces labelled supersonic.fastmachinelearning.org/inject=enabled');
    assert.match(refused.stderr, '--set webhook.namespaceLabelValue=sonic-b');
    const b = await install('sonic-b', second.name, ['webhook.namespaceLabelValue=sonic-b']);
    assert.is(b.code, 0, b.stderr);
    const selected = async (name: string) =>
      (await cluster.request('GET', `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${name}`)).body.webhooks[0].namespaceSelector.matchLabels['supersonic.fastmachinelearning.org/inject'];
    // Registrations are named <namespace>-<instance>-webhook (cluster-scoped, so the namespace is in the name).
    assert.is(await selected(`${first.name}-sonic-a-webhook`), 'enabled');
    assert.is(await selected(`${second.name}-sonic-b-webhook`), 'sonic-b');
    // An upgrade of the first release is not refused by its own registration.
    const upgraded = await helmIn(cluster, 'helm', ['upgrade', 'sonic-a', CHART_DIR, '-n', first.name, '--reuse-values']);
    assert.is(upgraded.code, 0, upgraded.stderr);
  } finally {
    await helmIn(cluster, 'helm', ['uninstall', 'sonic-a', '-n', first.name]);
    await helmIn(cluster, 'helm', ['uninstall', 'sonic-b', '-n', second.name]);
    await first.remove();
    await second.remove();
  }
});

two.run();
