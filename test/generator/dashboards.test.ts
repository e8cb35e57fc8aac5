/**
 * The dashboards the generator writes into the chart: built with Grafana's own builders (so
 * typed as the SDK's Dashboard), written byte for byte as the generator renders them, with
 * unique panel ids, placeholders the chart replaces, and every panel and query reading the
 * datasource uid the chart provisions.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Dashboard, Panel, RowPanel } from '@grafana/grafana-foundation-sdk/dashboard';
import { renderDashboards } from '../../generator/src/dashboards/index.ts';
import { PLACEHOLDERS, supersonicDashboard } from '../../generator/src/dashboards/supersonic.ts';
import { PROMETHEUS_DATASOURCE } from '../../generator/src/dashboards/datasources.ts';
import { REPO_ROOT } from '../helpers/helm.ts';

const dashboards = suite('Grafana dashboards (generator)');

const isRow = (panel: Panel | RowPanel): panel is RowPanel => panel.type === 'row';

dashboards('the chart holds exactly what the generator renders', () => {
  for (const [name, json] of renderDashboards()) {
    assert.is(readFileSync(join(REPO_ROOT, 'chart/supersonic/files/dashboards', name), 'utf8'), json, `${name}: run node generator/src/cli.ts`);
  }
});

dashboards('shape Grafana reads: schemaVersion, uid, unique panel ids, grid positions, a datasource on every panel and query', () => {
  const dashboard: Dashboard = supersonicDashboard();
  assert.ok(dashboard.schemaVersion >= 39, `schemaVersion ${dashboard.schemaVersion}`);
  assert.is(dashboard.uid, PLACEHOLDERS.uid);
  const all = dashboard.panels ?? [];
  const ids = all.map((p) => p.id);
  assert.is(new Set(ids).size, ids.length, `panel ids are unique: ${ids.join(',')}`);
  assert.ok(ids.every((id) => typeof id === 'number' && id > 0));
  let queries = 0;
  for (const panel of all) {
    assert.ok(panel.gridPos && panel.gridPos.w > 0 && panel.gridPos.x + panel.gridPos.w <= 24, `${panel.title}: within Grafana's 24 columns`);
    if (isRow(panel)) continue;
    assert.equal(panel.datasource, PROMETHEUS_DATASOURCE, `${panel.title}: the provisioned uid`);
    assert.ok((panel.targets ?? []).length > 0, `${panel.title}: has queries`);
    const refIds = new Set<string>();
    for (const target of panel.targets ?? []) {
      const query = target as unknown as { expr?: string; refId?: string; datasource?: unknown };
      assert.equal(query.datasource, PROMETHEUS_DATASOURCE, `${panel.title}/${query.refId}`);
      assert.ok(query.expr, `${panel.title}/${query.refId}: an expression`);
      assert.ok(query.refId && !refIds.has(query.refId), `${panel.title}: refIds unique`);
      refIds.add(query.refId!);
      queries++;
    }
  }
  assert.ok(queries >= 15, `${queries} queries`);
});

dashboards('panels the issue asks for, each on the release\'s selectors (placeholders) and never on a release label', () => {
  const dashboard = supersonicDashboard();
  const exprs = (dashboard.panels ?? []).flatMap((p) => (isRow(p) ? [] : (p.targets ?? []).map((t) => (t as unknown as { expr: string }).expr)));
  const text = exprs.join('\n');
  for (const metric of ['nv_inference_request_duration_us', 'nv_inference_request_success', 'nv_inference_count', 'nv_gpu_utilization',
    'nv_gpu_memory_used_bytes', 'nv_gpu_memory_total_bytes', 'envoy_cluster_upstream_rq_total', 'envoy_http_downstream_rq_total', 'envoy_cluster_upstream_cx_none_healthy']) {
    assert.match(text, metric);
  }
  assert.ok(exprs.includes(PLACEHOLDERS.serverLoad), 'the server-load panel is the chart\'s expression');
  for (const expr of exprs) {
    assert.not.match(expr, /release=/);
    if (/\bnv_/.test(expr)) assert.match(expr, `{${PLACEHOLDERS.triton}}`);
    if (/\benvoy_/.test(expr)) assert.match(expr, `{${PLACEHOLDERS.envoy},`);
  }
});

dashboards('built from concrete values, the dashboard carries them (no placeholder left)', () => {
  const json = JSON.stringify(supersonicDashboard({
    uid: 'u', instance: 'sonic', namespace: 'cms', triton: 'namespace="cms"', envoy: 'namespace="cms"', serverLoad: 'vector(1)', threshold: '5',
  }));
  assert.not.match(json, /__SUPERSONIC_/);
});

dashboards.run();
