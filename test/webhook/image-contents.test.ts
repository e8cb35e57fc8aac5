/**
 * What webhook/Dockerfile builds is enough to run the server. The build stage must hold every
 * file the server's code imports, starting from webhook/src/server.ts, and install every package
 * it imports; the bundle it makes (webhook/bundle.ts) must need nothing but Node's own modules,
 * since the image has no node_modules; and the image must run that bundle, with the schema where
 * the server looks for it. A gap would only show as a failed build or a crash at start in the
 * cluster. (The server-process tests run the bundle itself.)
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { externalImports, IMAGE_ENTRY, imageEntry, SERVERS, type ServerName } from '../../webhook/bundle.ts';
import { serverBundle } from '../helpers/webhook-process.ts';
import { REPO_ROOT } from '../helpers/helm.ts';
import { importClosure, isBuiltin, packageName } from '../helpers/import-closure.ts';

const image = suite('servers image contents');
const DOCKERFILE = readFileSync(join(REPO_ROOT, 'webhook/Dockerfile'), 'utf8');
const PACKAGE = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8'));
const [BUILD_STAGE, IMAGE_STAGE] = DOCKERFILE.split(/^FROM /m).slice(1);

/** A stage's copies from the repository: where each comes from and lands under /app. */
function copiesOf(stage: string): { source: string; landsAt: string }[] {
  return [...stage.matchAll(/^COPY (?!--from)(\S+) (\S+)$/gm)].map((match) => {
    const [source, target] = [match[1]!.replace(/\/$/, ''), match[2]!];
    return { source, landsAt: target.endsWith('/') ? `${target}${basename(source)}` : target };
  });
}

image('the Dockerfile has a build stage and the image stage', () => {
  assert.ok(BUILD_STAGE?.includes(' AS build'), 'the first stage is not named build');
  assert.ok(IMAGE_STAGE, 'no second stage');
});

const SERVER_NAMES = Object.keys(SERVERS) as ServerName[];

for (const server of SERVER_NAMES) {
  const entry = join(REPO_ROOT, SERVERS[server].entry);

  image(`${server}: the build stage holds every file the server imports, at its path in the repository`, () => {
    const copies = copiesOf(BUILD_STAGE!);
    for (const { source, landsAt } of copies) assert.is(landsAt, `./${source}`, `COPY ${source}`);
    const { files } = importClosure(entry);
    assert.ok(files.length > 10, `only ${files.length} files found: the import scan is broken`);
    const copied = copies.map((copy) => copy.source);
    const missing = files.filter((file) => !existsSync(join(REPO_ROOT, file)) || !copied.some((path) => file === path || file.startsWith(`${path}/`)));
    assert.equal(missing, [], 'imported, but not in the build stage (or not on disk)');
  });

  image(`${server}: the build stage installs every package the server imports, then bundles`, () => {
    const { packages } = importClosure(entry);
    // Every server is a fastify app; the metrics collector alone talks to no Kubernetes API.
    assert.ok(packages.has('fastify') && (server === 'metrics-collector' || packages.has('@kubernetes/client-node')), [...packages].join(', '));
    // Dependencies of the running server, though the bundle carries them: the lock file says so.
    const notDependencies = [...packages].filter((name) => !(name in (PACKAGE.dependencies ?? {})));
    assert.equal(notDependencies, [], 'imported by the server, but not a production dependency');
    assert.ok('esbuild' in PACKAGE.devDependencies, 'esbuild is not a devDependency');
    assert.match(BUILD_STAGE!, /^RUN npm ci (?!.*--omit=dev)/m, 'the build stage must install devDependencies (esbuild)');
    assert.match(BUILD_STAGE!, /^RUN node webhook\/bundle\.ts$/m, 'the build stage bundles every server (no argument)');
  });

  image(`${server}: the bundle needs only Node's own modules, and the image holds it`, () => {
    const { entry: bundled, metafile } = serverBundle(server);
    assert.ok(existsSync(bundled), `${bundled} was not written`);
    // esbuild stops on an import it cannot resolve, except a require() inside try/catch: ws and
    // node-fetch try optional packages (bufferutil, encoding, ...) that are not installed. Those
    // fail in the image as they fail here, and the packages fall back; an installed one would
    // have been bundled.
    const leftOut = externalImports(metafile).filter((specifier) => !isBuiltin(specifier));
    const installed = leftOut.filter((specifier) => existsSync(join(REPO_ROOT, 'node_modules', packageName(specifier))));
    assert.equal(installed, [], 'the bundle imports installed packages it should hold');
    // A new one after an upgrade needs a look: is the fallback fine in the image?
    const known = ['bufferutil', 'encoding', 'utf-8-validate'];
    assert.equal(leftOut.filter((specifier) => !known.includes(specifier)), [], 'optional packages not looked at yet');
    const dist = SERVERS[server].dist;
    assert.match(IMAGE_STAGE!, new RegExp(`^COPY --from=build /app/${dist} \\./${dist}$`, 'm'), 'the image does not copy the bundle');
    assert.not.match(IMAGE_STAGE!, /node_modules/, 'the image needs no node_modules');
  });

  image(`${server}: the image holds the schema where the server looks for it, from its working directory`, () => {
    const source = readFileSync(entry, 'utf8');
    // The metrics collector reads no configuration file (the chart sets its environment), so no schema.
    if (server === 'metrics-collector') {
      assert.not.match(source, /SCHEMA_FILE|load-section/, 'the collector reads a configuration file now: give it a default SCHEMA_FILE');
      return;
    }
    const defaultSchema = /env\('SCHEMA_FILE', '([^']+)'\)/.exec(source)?.[1];
    assert.ok(defaultSchema, 'no default SCHEMA_FILE in server.ts');
    // The default is relative: the process must start in /app, where the copies land.
    assert.match(IMAGE_STAGE!, /^WORKDIR \/app$/m, 'the image does not start in /app');
    assert.ok(copiesOf(IMAGE_STAGE!).some(({ source, landsAt }) => source === defaultSchema && landsAt === `./${defaultSchema}`), `the image does not copy ${defaultSchema}`);
  });
}

image('the image runs the webhook by default; the chart names the dispatcher\'s and the metrics collector\'s entries', () => {
  assert.match(IMAGE_STAGE!, new RegExp(`^CMD \\["${IMAGE_ENTRY}"\\]$`, 'm'), 'the image does not run the webhook bundle');
  assert.is(imageEntry('dispatcher'), 'dispatcher/dist/server.mjs');
  assert.is(imageEntry('metrics-collector'), 'metrics-collector/dist/server.mjs');
});

image.run();
