/**
 * PromQL the chart emits, evaluated by Prometheus' own `promtool test rules` over synthetic
 * series, and the labels a prometheus-operator ServiceMonitor the chart renders gives the series
 * it scrapes, so the synthetic series are the ones the chart's own scrape would store.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';

type Manifest = Record<string, any>;

export const PROMTOOL = '/usr/bin/promtool';

export function requirePromtool(): void {
  if (!existsSync(PROMTOOL)) {
    throw new Error(`${PROMTOOL} is missing: run make setup (apt-get install --no-install-recommends prometheus)`);
  }
}

/** One synthetic series: its name, labels and promtool's expanding notation ("0+150x60"). */
export interface Series {
  name: string;
  labels: Record<string, string>;
  values: string;
}

/** An expression and what it must give at evalTime: one label-less sample, or nothing. */
export interface ExprCheck {
  expr: string;
  evalTime?: string;
  /** undefined: the result must be empty. */
  value?: number;
}

const quoteLabel = (value: string) => JSON.stringify(value);

export function seriesSelector(series: Series): string {
  const labels = Object.entries(series.labels).map(([k, v]) => `${k}=${quoteLabel(v)}`);
  return `${series.name}{${labels.join(',')}}`;
}

/**
 * `promtool test rules` over one test group (interval 15 s, evaluated at 10 m by default);
 * resolves with promtool's exit code and output. `approx` wraps each expression as
 * abs(expr - value) < bool 1e-6, for values computed with floating-point division.
 */
export function promtoolTest(series: Series[], checks: ExprCheck[], options: { approx?: boolean } = {}): Promise<{ code: number; output: string }> {
  const promql_expr_test = checks.map((check) => {
    const evalTime = check.evalTime ?? '10m';
    if (check.value === undefined) return { expr: check.expr, eval_time: evalTime, exp_samples: [] };
    if (options.approx) {
      return { expr: `abs((${check.expr}) - ${check.value}) < bool 1e-6`, eval_time: evalTime, exp_samples: [{ labels: '{}', value: 1 }] };
    }
    return { expr: check.expr, eval_time: evalTime, exp_samples: [{ labels: '{}', value: check.value }] };
  });
  const file = join(mkdtempSync(join(tmpdir(), 'promtool-')), 'test.yaml');
  writeFileSync(file, stringify({
    rule_files: [],
    evaluation_interval: '1m',
    tests: [{ interval: '15s', input_series: series.map((s) => ({ series: seriesSelector(s), values: s.values })), promql_expr_test }],
  }));
  return new Promise((resolve) => {
    execFile(PROMTOOL, ['test', 'rules', file], (err, stdout, stderr) => resolve({ code: err ? 1 : 0, output: stdout + stderr }));
  });
}

function matches(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/**
 * The target labels prometheus-operator gives what a ServiceMonitor scrapes (its documented
 * relabelling of the endpoints role): namespace, service, pod, container, endpoint (the port
 * name), job (the Service name, without jobLabel) and instance. The Service is the one the
 * monitor selects that has the endpoint's port; the pod is one of the Deployment whose pods that
 * Service selects, named as the Deployment controller names them
 * (<deployment>-<pod-template-hash>-<suffix>).
 */
export function serviceMonitorTargetLabels(objects: Manifest[], monitorName: string, pod: { hash: string; suffix: string; ip: string }): Record<string, string> {
  const monitor = objects.find((o) => o.kind === 'ServiceMonitor' && o.metadata.name === monitorName);
  if (!monitor) throw new Error(`no ServiceMonitor ${monitorName} rendered`);
  const endpoint = monitor.spec.endpoints[0];
  const namespace = monitor.metadata.namespace;
  const services = objects.filter((o) => o.kind === 'Service' && o.metadata.namespace === namespace && matches(monitor.spec.selector.matchLabels, o.metadata.labels));
  const service = services.find((s) => s.spec.ports.some((p: Manifest) => p.name === endpoint.port));
  if (!service) throw new Error(`ServiceMonitor ${monitorName} selects no Service with a port named ${endpoint.port}`);
  const port = service.spec.ports.find((p: Manifest) => p.name === endpoint.port);
  const deployment = objects.find((o) => o.kind === 'Deployment' && matches(service.spec.selector, o.spec.template.metadata.labels));
  if (!deployment) throw new Error(`Service ${service.metadata.name} selects no Deployment's pods`);
  const container = deployment.spec.template.spec.containers.find((c: Manifest) =>
    (c.ports ?? []).some((p: Manifest) => p.containerPort === port.targetPort || p.name === port.targetPort),
  );
  if (!container) throw new Error(`no container of ${deployment.metadata.name} serves the Service port ${port.name}`);
  const containerPort = container.ports.find((p: Manifest) => p.containerPort === port.targetPort || p.name === port.targetPort);
  return {
    namespace,
    service: service.metadata.name,
    job: service.metadata.name,
    endpoint: endpoint.port,
    pod: `${deployment.metadata.name}-${pod.hash}-${pod.suffix}`,
    container: container.name,
    instance: `${pod.ip}:${containerPort.containerPort}`,
  };
}
