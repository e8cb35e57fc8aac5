/**
 * `helm lint --strict` passes with Helm 4 and Helm 3, for the defaults, every golden case and
 * every SuperSONIC 0.3.1 site file.
 */
import { suite } from 'uvu';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { CHART_DIR, HELM_VERSIONS, helm } from '../helpers/helm.ts';
import { loadGoldenCases } from '../helpers/golden.ts';
import { COMPAT_DIR, loadCompatFiles } from '../helpers/compat.ts';

const lint = suite('helm lint --strict');

for (const binary of HELM_VERSIONS) {
  lint(`${binary}: the chart with its defaults`, async () => {
    const result = await helm(binary, ['lint', '--strict', CHART_DIR]);
    assert.is(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  lint(`${binary}: the chart with each golden case's values`, async () => {
    for (const goldenCase of loadGoldenCases()) {
      const result = await helm(binary, ['lint', '--strict', CHART_DIR, '-f', goldenCase.valuesFile]);
      assert.is(result.code, 0, `${goldenCase.name}: ${result.stdout}${result.stderr}`);
    }
  });

  lint(`${binary}: the chart with each SuperSONIC 0.3.1 site file`, async () => {
    for (const file of loadCompatFiles()) {
      const result = await helm(binary, ['lint', '--strict', CHART_DIR, '-f', join(COMPAT_DIR, file.name)]);
      assert.is(result.code, 0, `${file.name}: ${result.stdout}${result.stderr}`);
    }
  });
}

lint.run();
