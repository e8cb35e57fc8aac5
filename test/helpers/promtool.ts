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

/**
 * The promtool of the bundled Prometheus's release, built by test/tools/build-promtool.sh and
 * linked at .tools/promtool, or undefined where it was not built (the checks then run Debian's
 * 2.42 only, and say so).
 */
export function bundledPromtool(): string | undefined {
  const linked = join(import.meta.dirname, '../../.tools/promtool/promtool');
  return existsSync(linked) ? linked : undefined;
}

/** Every promtool to check a file with: Debian's, and the bundled release's where built. */
export function promtools(): string[] {
  requirePromtool();
  const built = bundledPromtool();
  return built ? [PROMTOOL, built] : [PROMTOOL];
}

/** Runs one promtool with these arguments; resolves with its exit code and output. */
export function runPromtool(binary: string, args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(binary, args, (err, stdout, stderr) => resolve({ code: err ? 1 : 0, output: stdout + stderr }));
  });
}

/** A Prometheus relabel_config, as prometheus.yml writes it. */
export interface RelabelConfig {
  action?: 'replace' | 'keep' | 'drop' | 'labelmap' | 'labeldrop' | 'labelkeep' | 'hashmod' | 'lowercase' | 'uppercase' | 'keepequal' | 'dropequal';
  source_labels?: string[];
  separator?: string;
  regex?: string;
  replacement?: string;
  target_label?: string;
}

/** Prometheus anchors every relabel regex at both ends (relabel.NewRegexp: ^(?:re)$). */
const anchored = (regex: string | undefined) => new RegExp(`^(?:${regex ?? '(.*)'})$`);

/** $1, ${1}, $name and ${name} of a replacement, as Go's regexp Expand writes them; $$ is a $. */
function expand(template: string, match: RegExpExecArray): string {
  return template.replace(/\$\$|\$\{(\w+)\}|\$(\w+)/g, (whole, braced: string | undefined, bare: string | undefined) => {
    if (whole === '$$') return '$';
    const name = braced ?? bare!;
    const value = /^\d+$/.test(name) ? match[Number(name)] : match.groups?.[name];
    return value ?? '';
  });
}

/**
 * Prometheus's relabelling of one target (model/relabel Process), for the actions the chart
 * uses and their usual neighbours: the source labels joined by the separator (";"), the regex
 * anchored, `replace` writing the expanded replacement ("$1" by default) to the target label
 * and deleting it when that is empty, `keep`/`drop` on a match, `labelmap` copying every label
 * whose name matches. Returns the labels, or undefined when the target is dropped.
 */
export function relabel(input: Record<string, string>, configs: RelabelConfig[]): Record<string, string> | undefined {
  const labels = { ...input };
  for (const config of configs) {
    const action = config.action ?? 'replace';
    const regex = anchored(config.regex);
    const value = (config.source_labels ?? []).map((name) => labels[name] ?? '').join(config.separator ?? ';');
    switch (action) {
      case 'keep':
        if (!regex.test(value)) return undefined;
        break;
      case 'drop':
        if (regex.test(value)) return undefined;
        break;
      case 'replace': {
        const match = regex.exec(value);
        if (!match) break;
        const target = expand(config.target_label!, match);
        const replaced = expand(config.replacement ?? '$1', match);
        if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(target)) break;
        if (replaced === '') delete labels[target];
        else labels[target] = replaced;
        break;
      }
      case 'labelmap':
        for (const [name, labelValue] of Object.entries({ ...labels })) {
          const match = regex.exec(name);
          if (match) labels[expand(config.replacement ?? '$1', match)] = labelValue;
        }
        break;
      case 'labeldrop':
        for (const name of Object.keys(labels)) if (regex.test(name)) delete labels[name];
        break;
      case 'labelkeep':
        for (const name of Object.keys(labels)) if (!regex.test(name)) delete labels[name];
        break;
      default:
        throw new Error(`relabel action ${action} is not implemented by this helper`);
    }
  }
  return labels;
}

/** A pod as Kubernetes serves it, reduced to what pod discovery reads. */
export interface DiscoveredPod {
  namespace: string;
  name: string;
  ip: string;
  phase?: string;
  labels: Record<string, string>;
  containers: { name: string; ports: { name?: string; containerPort: number; protocol?: string }[] }[];
}

/** A label name as Prometheus's kubernetes_sd writes it: every character outside [a-zA-Z0-9_] becomes "_". */
const sanitize = (name: string) => name.replace(/[^a-zA-Z0-9_]/g, '_');

/**
 * The targets Prometheus's kubernetes_sd (role pod) gives for one pod: one per container port,
 * with the __meta_kubernetes_* labels of discovery/kubernetes/pod.go and __address__ ip:port.
 */
export function podTargets(pod: DiscoveredPod): Record<string, string>[] {
  const common: Record<string, string> = {
    __meta_kubernetes_namespace: pod.namespace,
    __meta_kubernetes_pod_name: pod.name,
    __meta_kubernetes_pod_ip: pod.ip,
    __meta_kubernetes_pod_phase: pod.phase ?? 'Running',
    __meta_kubernetes_pod_ready: 'true',
  };
  for (const [name, value] of Object.entries(pod.labels)) {
    common[`__meta_kubernetes_pod_label_${sanitize(name)}`] = value;
    common[`__meta_kubernetes_pod_labelpresent_${sanitize(name)}`] = 'true';
  }
  return pod.containers.flatMap((container) => container.ports.map((port) => ({
    ...common,
    __address__: `${pod.ip}:${port.containerPort}`,
    __meta_kubernetes_pod_container_name: container.name,
    __meta_kubernetes_pod_container_port_name: port.name ?? '',
    __meta_kubernetes_pod_container_port_number: String(port.containerPort),
    __meta_kubernetes_pod_container_port_protocol: port.protocol ?? 'TCP',
    __meta_kubernetes_pod_container_init: 'false',
  })));
}

/**
 * The series labels a scrape job gives each of these targets, as Prometheus computes them: job,
 * __metrics_path__ and __scheme__ set from the job before relabelling, then its relabel_configs,
 * then instance defaulting to __address__ and every "__" label removed. Dropped targets are left out.
 */
export function scrapeJobLabels(job: Record<string, any>, targets: Record<string, string>[]): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  for (const target of targets) {
    const start = { job: job.job_name, __metrics_path__: job.metrics_path ?? '/metrics', __scheme__: job.scheme ?? 'http', ...target };
    const labels = relabel(start, job.relabel_configs ?? []);
    if (!labels) continue;
    labels.instance ??= labels.__address__!;
    out.push(Object.fromEntries(Object.entries(labels).filter(([name]) => !name.startsWith('__'))));
  }
  return out;
}
