/**
 * The release path, as users take it: `make package`'s dist/ served over HTTP on 127.0.0.1 as the
 * Helm repository (`helm repo add fastml ...`, `helm search repo`, `helm install
 * fastml/supersonic`), and the archive pushed to a real OCI registry (Debian's docker-registry)
 * and installed from `oci://`; with Helm 4 and Helm 3, into the real API server of the tests.
 * The tests start and stop their servers themselves.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, normalize } from 'node:path';
import { parse } from 'yaml';
import { NPM_PACKAGE, npmPackageFile, packageChart } from '../../generator/src/package-chart.ts';
import { schemaUrl } from '../../generator/src/generate.ts';
import { editorSchema } from '../../generator/src/render/values-schema.ts';
import { loadSchema } from '../../generator/src/schema/load.ts';
import { COMPAT_DIR, loadCompatFiles } from '../helpers/compat.ts';
import { createNamespace, sharedCluster } from '../helpers/cluster/shared.ts';
import { helm, helmIn, helmPath, HELM_VERSIONS, REPO_ROOT } from '../helpers/helm.ts';
import { freePort } from '../helpers/ports.ts';

const { chart, publish: published } = loadSchema(join(REPO_ROOT, 'schema/root.yaml'));
const publish = published!;
const VERSION = String(chart.version);

interface Context {
  dist: string;
  repoUrl: string;
  server: Server;
  registry: ChildProcess;
  registryHost: string;
  registryDir: string;
}

const release = suite<Context>('release: the chart from a Helm repository and an OCI registry', {} as Context);

release.before(async (context) => {
  context.dist = mkdtempSync(join(tmpdir(), 'supersonic-dist-'));
  packageChart(context.dist, { helm: helmPath('helm') });
  context.server = serveDirectory(context.dist);
  await new Promise<void>((resolve) => context.server.listen(0, '127.0.0.1', resolve));
  context.repoUrl = `http://127.0.0.1:${(context.server.address() as { port: number }).port}`;

  if (!existsSync('/usr/bin/docker-registry')) throw new Error('docker-registry is missing: run make tools (apt-get install docker-registry)');
  context.registryDir = mkdtempSync(join(tmpdir(), 'supersonic-registry-'));
  const port = await freePort();
  context.registryHost = `127.0.0.1:${port}`;
  writeFileSync(join(context.registryDir, 'config.yml'), `version: 0.1\nlog: {level: warn}\nstorage: {filesystem: {rootdirectory: ${context.registryDir}/data}, delete: {enabled: true}}\nhttp: {addr: ${context.registryHost}}\n`);
  context.registry = spawn('/usr/bin/docker-registry', ['serve', join(context.registryDir, 'config.yml')], { stdio: 'ignore' });
  const deadline = Date.now() + 15_000;
  while ((await status(`http://${context.registryHost}/v2/`)) !== 200) {
    if (Date.now() > deadline || context.registry.exitCode !== null) throw new Error('docker-registry did not start');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
});

release.after(async (context) => {
  context.registry?.kill('SIGTERM');
  await new Promise<void>((resolve) => (context.server ? context.server.close(() => resolve()) : resolve()));
  for (const dir of [context.dist, context.registryDir]) if (dir) rmSync(dir, { recursive: true, force: true });
});

release('dist/ holds the archive, an index listing it by a relative URL, the schema where values.yaml says, and Artifact Hub\'s files', async ({ dist }) => {
  const index = parse(readFileSync(join(dist, 'index.yaml'), 'utf8'));
  const entry = index.entries.supersonic[0];
  assert.is(entry.version, VERSION);
  assert.equal(entry.urls, [`supersonic-${VERSION}.tgz`], 'relative, so the repository works on any host and port');
  assert.ok(existsSync(join(dist, `supersonic-${VERSION}.tgz`)));
  for (const file of ['icon.svg', 'artifacthub-repo.yaml']) assert.ok(existsSync(join(dist, file)), file);
  for (const file of ['supersonic-validate.mjs', `schemas/supersonic-${VERSION}.editor.schema.json`]) assert.ok(existsSync(join(dist, file)), file);
  assert.not.match(readFileSync(join(dist, `schemas/supersonic-${VERSION}.editor.schema.json`), 'utf8'), /"required": \[/);

  const values = await helm('helm', ['show', 'values', join(dist, `supersonic-${VERSION}.tgz`)]);
  assert.is(values.code, 0, values.stderr);
  const url = values.stdout.split('\n')[0]!.match(/^# yaml-language-server: \$schema=(\S+)$/)?.[1];
  assert.is(url, schemaUrl(publish, chart));
  const served = join(dist, url!.slice(publish.helmRepository.length + 1));
  assert.ok(existsSync(served), `the $schema URL ${url} names ${served}, which make package did not write`);
  // The editor's schema: Helm's, without a single `required` (an override file sets a few keys).
  assert.ok(served.endsWith(`supersonic-${VERSION}.editor.schema.json`), served);
  assert.equal(JSON.parse(readFileSync(served, 'utf8')), editorSchema(JSON.parse(readFileSync(join(REPO_ROOT, 'chart/supersonic/values.schema.json'), 'utf8'))));
  assert.ok(existsSync(join(dist, `schemas/supersonic-${VERSION}.values.schema.json`)), "Helm's own schema is published beside it");
});

release('the npm package installs offline without a checkout, and its `supersonic validate` exits 0, 1 and 2 as documented', ({ dist }) => {
  const tarball = join(dist, npmPackageFile(VERSION));
  assert.ok(existsSync(tarball), `${tarball} is missing`);
  const prefix = mkdtempSync(join(tmpdir(), 'supersonic-npm-install-'));
  try {
    // --offline: the package has no dependencies, so nothing may need the registry.
    const installed = spawnSync('npm', ['install', '--prefix', prefix, '--offline', '--no-audit', '--no-fund', tarball], { encoding: 'utf8' });
    assert.is(installed.status, 0, installed.stderr);
    const manifest = JSON.parse(readFileSync(join(prefix, 'node_modules', NPM_PACKAGE, 'package.json'), 'utf8'));
    assert.is(manifest.version, VERSION);
    assert.equal(manifest.dependencies, undefined, 'one bundled file, nothing to fetch');
    const bin = join(prefix, 'node_modules/.bin/supersonic');
    const run = (text: string) => {
      const file = join(prefix, 'values.yaml');
      writeFileSync(file, text);
      // No helm on PATH: the schema checks alone, as on a laptop without Helm.
      return spawnSync(bin, ['validate', '-f', file], { cwd: prefix, encoding: 'utf8', env: { PATH: `${dirname(process.execPath)}:/usr/bin:/bin` } });
    };
    assert.is(run('triton:\n  replicas: 2\n').status, 0);
    const typo = run('triton:\n  replica: 2\n');
    assert.is(typo.status, 1, typo.stdout + typo.stderr);
    assert.match(typo.stdout, 'values.yaml:2:3: triton.replica: unknown key (did you mean triton.replicas?)');
    assert.is(run('triton: [unclosed\n').status, 2);
  } finally {
    rmSync(prefix, { recursive: true, force: true });
  }
});

release('Chart.yaml lists every default image for mirroring and an icon; the packaged README links absolutely', async ({ dist }) => {
  const shown = await helm('helm', ['show', 'chart', join(dist, `supersonic-${VERSION}.tgz`)]);
  const meta = parse(shown.stdout);
  assert.is(meta.version, VERSION);
  assert.match(meta.icon, /^https:\/\//);
  const images = parse(meta.annotations['artifacthub.io/images']).map((i: { image: string }) => i.image);
  const defaults = parse(readFileSync(join(REPO_ROOT, 'chart/supersonic/values.yaml'), 'utf8'));
  const objectImage = (image: { repository: string; tag: string }) => `${image.repository}:${image.tag}`;
  for (const image of [
    defaults.triton.image, defaults.envoy.image, defaults.webhook.image, defaults.webhook.injection.auth.image,
    defaults.prometheus.server.image, defaults.grafana.image, objectImage(defaults.tempo.image), objectImage(defaults['opentelemetry-collector'].image),
  ]) {
    assert.ok(images.includes(image), `${image} is not in artifacthub.io/images`);
  }
  assert.ok(defaults.webhook.image.endsWith(`:${VERSION}`), 'the servers\' image follows the chart version');
  const readme = await helm('helm', ['show', 'readme', join(dist, `supersonic-${VERSION}.tgz`)]);
  assert.not.match(readme.stdout, /\]\((?!https?:\/\/|#)/, 'a relative link would break once packaged');
  assert.match(readme.stdout, `helm repo add fastml ${publish.helmRepository}`);
});

for (const binary of HELM_VERSIONS) {
  release(`${binary}: helm repo add and search, then every 0.3.1 site file installs from fastml/supersonic into the API server`, async ({ repoUrl }) => {
    const cluster = await sharedCluster();
    const added = await helmIn(cluster, binary, ['repo', 'add', 'fastml', repoUrl, '--force-update']);
    assert.is(added.code, 0, added.stderr);
    const search = await helmIn(cluster, binary, ['search', 'repo', 'fastml', '--output', 'json']);
    assert.equal(JSON.parse(search.stdout).map((r: { name: string; version: string }) => `${r.name}@${r.version}`), [`fastml/supersonic@${VERSION}`]);
    for (const file of loadCompatFiles()) {
      const namespace = await createNamespace(cluster, `repo-${binary}`);
      try {
        const installed = await helmIn(cluster, binary, ['install', 'supersonic', 'fastml/supersonic', '--version', VERSION, '-n', namespace.name, '-f', join(COMPAT_DIR, file.name)]);
        assert.is(installed.code, 0, `${file.name}: ${installed.stderr}`);
        const listed = await helmIn(cluster, binary, ['list', '-n', namespace.name, '--output', 'json']);
        assert.equal(JSON.parse(listed.stdout).map((r: { chart: string; status: string }) => `${r.chart} ${r.status}`), [`supersonic-${VERSION} deployed`], file.name);
      } finally {
        await helmIn(cluster, binary, ['uninstall', 'supersonic', '-n', namespace.name]);
        await namespace.remove();
      }
    }
  });

  release(`${binary}: pushed to an OCI registry, pulled back identical, and installed from oci://`, async ({ dist, registryHost }) => {
    const cluster = await sharedCluster();
    const repository = `oci://${registryHost}/charts-${binary}`;
    const pushed = await helmIn(cluster, binary, ['push', join(dist, `supersonic-${VERSION}.tgz`), repository, '--plain-http']);
    assert.is(pushed.code, 0, pushed.stderr);
    const pulledDir = mkdtempSync(join(tmpdir(), 'supersonic-pulled-'));
    try {
      const pulled = await helmIn(cluster, binary, ['pull', `${repository}/supersonic`, '--version', VERSION, '--plain-http', '-d', pulledDir]);
      assert.is(pulled.code, 0, pulled.stderr);
      assert.ok(readFileSync(join(pulledDir, `supersonic-${VERSION}.tgz`)).equals(readFileSync(join(dist, `supersonic-${VERSION}.tgz`))), 'the pulled archive is the pushed one');
    } finally {
      rmSync(pulledDir, { recursive: true, force: true });
    }
    const namespace = await createNamespace(cluster, `oci-${binary}`);
    try {
      const installed = await helmIn(cluster, binary, ['install', 'supersonic', `${repository}/supersonic`, '--version', VERSION, '--plain-http', '-n', namespace.name]);
      assert.is(installed.code, 0, installed.stderr);
      const deployment = await cluster.request('GET', `/apis/apps/v1/namespaces/${namespace.name}/deployments/supersonic-triton`);
      assert.is(deployment.status, 200);
      assert.is(deployment.body.metadata.labels['helm.sh/chart'], `supersonic-${VERSION}`);
    } finally {
      await helmIn(cluster, binary, ['uninstall', 'supersonic', '-n', namespace.name]);
      await namespace.remove();
    }
  });
}

release.run();

/** A static file server for one folder, as GitHub Pages serves dist/. */
function serveDirectory(root: string): Server {
  return createServer((req, res) => {
    const path = normalize(join(root, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)));
    if (!path.startsWith(root) || !existsSync(path)) {
      res.statusCode = 404;
      return res.end();
    }
    try {
      res.end(readFileSync(path));
    } catch {
      res.statusCode = 404;
      res.end();
    }
  });
}

function status(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.end();
  });
}
