/**
 * `make package`: the chart as a Helm repository in dist/, ready for a static web host (GitHub
 * Pages serves x-publish.helmRepository):
 *   dist/supersonic-<version>.tgz                          the chart archive (helm package)
 *   dist/index.yaml                                        the repository index, relative URLs
 *   dist/schemas/supersonic-<version>.values.schema.json   the values schema, at the URL the
 *                                                          $schema line of values.yaml names
 *   dist/icon.svg, dist/artifacthub-repo.yaml              what Artifact Hub reads
 * MERGE_INDEX=<index.yaml> keeps the versions an earlier index lists (publishing next to them).
 * `make publish-oci REGISTRY=<host>/<path>` then pushes the archive (see the Makefile).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHART_DIR, schemaFileName } from './generate.ts';
import { loadSchema } from './schema/load.ts';

const repoRoot = resolve(fileURLToPath(import.meta.url), '../../..');

export interface PackageResult {
  archive: string;
  files: string[];
}

export function packageChart(outDir: string, options: { helm: string; mergeIndex?: string }): PackageResult {
  const { chart } = loadSchema(join(repoRoot, 'schema/root.yaml'));
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(join(outDir, 'schemas'), { recursive: true });
  const helm = (args: string[]) => execFileSync(options.helm, args, { cwd: repoRoot, env: { ...process.env, KUBECONFIG: '/dev/null' }, encoding: 'utf8' });

  helm(['package', join(repoRoot, CHART_DIR), '--destination', outDir]);
  const archive = join(outDir, `${String(chart.name)}-${String(chart.version)}.tgz`);
  if (!existsSync(archive)) throw new Error(`helm package wrote no ${archive}`);
  copyFileSync(join(repoRoot, CHART_DIR, 'values.schema.json'), join(outDir, schemaFileName(chart)));
  copyFileSync(join(repoRoot, 'docs/assets/icon.svg'), join(outDir, 'icon.svg'));
  writeFileSync(
    join(outDir, 'artifacthub-repo.yaml'),
    '# Artifact Hub reads this file at the root of the Helm repository (https://artifacthub.io/docs/topics/repositories/).\n' +
      '# Add repositoryID once the repository is registered there, to claim it as a verified publisher.\n' +
      'owners:\n  - name: SuperSONIC developers\n',
  );
  // Relative URLs: the index works wherever dist/ is served, on any host or port.
  helm(['repo', 'index', outDir, ...(options.mergeIndex ? ['--merge', options.mergeIndex] : [])]);
  return { archive, files: ['index.yaml', `${chart.name}-${chart.version}.tgz`, schemaFileName(chart), 'icon.svg', 'artifacthub-repo.yaml'] };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outDir = resolve(process.argv[2] ?? join(repoRoot, 'dist'));
  const result = packageChart(outDir, { helm: process.env.HELM ?? join(repoRoot, '.tools/bin/helm'), mergeIndex: process.env.MERGE_INDEX || undefined });
  console.log(`package: ${outDir}\n${result.files.map((file) => `  ${file}`).join('\n')}`);
}
