{{/*
The Prometheus this release reads (the server-load metric for KEDA and Envoy's load shedder;
Grafana's datasource; the metrics collector): prometheus.external when enabled, else the bundled
one (prometheus.enabled), else none. Every reader goes through these helpers, so they all agree.
*/}}

{{/* "true" when the release has a Prometheus to read, external or bundled; empty otherwise. */}}
{{- define "supersonic.prometheus.available" -}}
{{- if or (and .Values.prometheus.external.enabled .Values.prometheus.external.url) (include "supersonic.prometheus.bundled" .) -}}true{{- end -}}
{{- end }}

{{/* "true" when the chart runs its own Prometheus: prometheus.enabled and no external one. */}}
{{- define "supersonic.prometheus.bundled" -}}
{{- if and .Values.prometheus.enabled (not .Values.prometheus.external.enabled) -}}true{{- end -}}
{{- end }}

{{/*
The bundled Prometheus's Service: "<instance>-prometheus-server", the name SuperSONIC 0.3.1's
subchart gave it, because site files name it in Grafana datasources and remote-write URLs.
*/}}
{{- define "supersonic.prometheus.serverName" -}}
{{- include "supersonic.componentName" (dict "root" . "component" "prometheus-server") -}}
{{- end }}

{{/*
The Prometheus to read, as a map {scheme, host, port, path}: prometheus.external.url, where a
scheme, port or path prefix written in the URL wins over prometheus.external.scheme and .port;
else the bundled Prometheus's Service, in-cluster over plain HTTP.
*/}}
{{- define "supersonic.prometheus.address" -}}
{{- if .Values.prometheus.external.enabled -}}
{{- include "supersonic.parseUrl" (dict "url" .Values.prometheus.external.url "scheme" .Values.prometheus.external.scheme "port" .Values.prometheus.external.port) -}}
{{- else -}}
{{- $host := include "supersonic.serviceHost" (dict "root" . "service" (include "supersonic.prometheus.serverName" .)) -}}
{{- toYaml (dict "scheme" "http" "host" $host "port" (int .Values.prometheus.server.service.servicePort) "path" "") -}}
{{- end -}}
{{- end }}

{{/* The Prometheus to read, as one URL: scheme://host:port[/path]. */}}
{{- define "supersonic.prometheus.url" -}}
{{- $prometheus := include "supersonic.prometheus.address" . | fromYaml -}}
{{- printf "%s://%s:%d%s" $prometheus.scheme $prometheus.host (int $prometheus.port) $prometheus.path -}}
{{- end }}

{{/*
The cluster's prometheus-operator scrapes this release: "true" when the cluster serves
monitoring.coreos.com/v1 and either prometheus.operator.enabled asks for it, or KEDA or Envoy's
load shedder read the load from an external Prometheus (which the chart cannot configure, so the
monitors are its way to scrape Triton and Envoy; serverLoad.serviceMonitors.enabled). A release
that reads its bundled Prometheus needs no monitors: that one scrapes by itself.
*/}}
{{- define "supersonic.prometheus.operatorScrapes" -}}
{{- if .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" -}}
{{- $readers := or (include "supersonic.keda.active" .) .Values.envoy.rate_limiter.prometheus_based.enabled -}}
{{- if or .Values.prometheus.operator.enabled (and $readers .Values.serverLoad.serviceMonitors.enabled (not (include "supersonic.prometheus.bundled" .))) -}}true{{- end -}}
{{- end -}}
{{- end }}

{{/* Envoy's metrics listener exists (the chart's own configuration, not a site's). */}}
{{- define "supersonic.prometheus.envoyScraped" -}}
{{- if and .Values.envoy.enabled (not .Values.envoy.external_config.load_from_configmap) -}}true{{- end -}}
{{- end }}

{{/*
The label matchers that select this release's Envoy pods (namespace, pod name as the Deployment
controller names them), as the load-metric helpers select Triton's.
*/}}
{{- define "supersonic.prometheus.envoySelector" -}}
{{- printf "namespace=%q, pod=~%q" .Release.Namespace (printf "%s-[a-z0-9]+-[a-z0-9]+" (include "supersonic.envoy.fullname" .)) -}}
{{- end }}

{{/*
The release's alert rule groups (a YAML list), the same for the PrometheusRule and the bundled
Prometheus's rule file. Every alert waits (`for:`) and reads only this release's series: its
namespace and its pods by name, the labels every Kubernetes scrape gives (the bundled
Prometheus's relabelling and prometheus-operator's alike).
*/}}
{{- define "supersonic.prometheus.alertGroups" -}}
{{- $triton := include "supersonic.serverLoad.tritonSelector" (dict "root" .) -}}
{{- $envoy := include "supersonic.prometheus.envoySelector" . -}}
{{- $cluster := printf "envoy_cluster_name=%q" .Values.keda.wakeOnRequest.envoyCluster -}}
{{- $instance := include "supersonic.fullname" . -}}
{{- $scaleToZero := and (include "supersonic.keda.active" .) (include "supersonic.keda.scaleToZero" .) -}}
- name: {{ printf "supersonic-%s" $instance }}
  rules:
    - alert: SuperSONICServerOverloaded
      # The server-load metric KEDA and the shedder read, above their threshold for longer than
      # KEDA needs to add pods: at keda.maxReplicaCount, or not scaling.
      expr: ({{ include "supersonic.serverLoadMetric" . }}) > {{ .Values.serverLoadThreshold }}
      for: {{ .Values.prometheus.alerts.overloadedFor }}
      labels: { severity: warning, supersonic_instance: {{ $instance | quote }} }
      annotations:
        summary: {{ printf "SuperSONIC %s is overloaded" $instance | quote }}
        description: {{ printf "The server-load metric of %s/%s has been above serverLoadThreshold (%v) for %s; add GPUs or raise keda.maxReplicaCount." .Release.Namespace $instance .Values.serverLoadThreshold .Values.prometheus.alerts.overloadedFor | quote }}
    - alert: SuperSONICTritonDown
      {{- if $scaleToZero }}
      # KEDA may scale Triton to zero, so no target is no alert: Triton pods exist and none answers.
      expr: sum(up{ {{- $triton -}} }) == 0
      {{- else }}
      # No Triton pod of this release answers its metrics scrape, or none exists at all.
      expr: absent(up{ {{- $triton -}} } == 1)
      {{- end }}
      for: {{ .Values.prometheus.alerts.downFor }}
      labels: { severity: critical, supersonic_instance: {{ $instance | quote }} }
      annotations:
        summary: {{ printf "No Triton pod of SuperSONIC %s is up" $instance | quote }}
        description: {{ printf "Prometheus scrapes no Triton pod of %s/%s; inference requests fail. See the pods' events and logs." .Release.Namespace $instance | quote }}
    {{- if include "supersonic.prometheus.envoyScraped" . }}
    - alert: SuperSONICNoReadyTriton
      {{- if $scaleToZero }}
      # Scaled to zero is normal while idle: alert only when clients are refused for lack of a pod
      # for longer than a wake-up takes.
      {{- if include "supersonic.keda.hold" . }}
      # Envoy holds requests (keda.wakeOnRequest.hold): they wait on triton_wait, whose refused
      # connections count the attempts, rather than on triton's none_healthy.
      expr: (sum(rate(envoy_cluster_upstream_cx_none_healthy{ {{- $cluster }}, {{ $envoy -}} }[5m])) + sum(rate(envoy_cluster_upstream_cx_connect_fail{envoy_cluster_name="triton_wait", {{ $envoy -}} }[5m]))) > 0 and on() (max(envoy_cluster_membership_healthy{ {{- $cluster }}, {{ $envoy -}} }) == 0)
      {{- else }}
      expr: sum(rate(envoy_cluster_upstream_cx_none_healthy{ {{- $cluster }}, {{ $envoy -}} }[5m])) > 0 and on() (max(envoy_cluster_membership_healthy{ {{- $cluster }}, {{ $envoy -}} }) == 0)
      {{- end }}
      {{- else }}
      # Envoy's own view: no Triton pod it may send requests to (none ready, or all failing health checks).
      expr: max(envoy_cluster_membership_healthy{ {{- $cluster }}, {{ $envoy -}} }) == 0
      {{- end }}
      for: {{ .Values.prometheus.alerts.downFor }}
      labels: { severity: critical, supersonic_instance: {{ $instance | quote }} }
      annotations:
        summary: {{ printf "SuperSONIC %s has no ready Triton pod" $instance | quote }}
        description: {{ printf "Envoy of %s/%s has no healthy Triton pod to send requests to; clients get UNAVAILABLE." .Release.Namespace $instance | quote }}
    {{- if and .Values.envoy.rate_limiter.prometheus_based.enabled (eq .Values.envoy.rate_limiter.prometheus_based.mode "shed") }}
    - alert: SuperSONICShedding
      # The shedder refuses inference calls (RESOURCE_EXHAUSTED, HTTP 429) exactly while the load
      # is above the threshold; Envoy keeps no count of its own of them, so: that, while requests arrive.
      expr: ({{ include "supersonic.serverLoadMetric" . }}) > {{ .Values.serverLoadThreshold }} and on() (sum(rate(envoy_http_downstream_rq_total{ {{- $envoy -}}, envoy_http_conn_manager_prefix="grpc"}[5m])) > 0)
      for: 5m
      labels: { severity: warning, supersonic_instance: {{ $instance | quote }} }
      annotations:
        summary: {{ printf "Envoy of SuperSONIC %s is shedding requests" $instance | quote }}
        description: {{ printf "The load of %s/%s is above serverLoadThreshold (%v), so Envoy refuses inference calls; clients should retry elsewhere or later." .Release.Namespace $instance .Values.serverLoadThreshold | quote }}
    {{- end }}
    {{- end }}
{{- end }}

{{/* Where the bundled Prometheus's rule file is mounted (a key of its ConfigMap). */}}
{{- define "supersonic.prometheus.rulesFile" -}}supersonic-rules.yml{{- end }}

{{/*
One scrape job of the bundled Prometheus: pod discovery in the release's namespace only, keeping
the pods of this release and component (by the selector labels the chart gives them) and one of
their container ports, by name or number; then the target labels prometheus-operator gives a
ServiceMonitor's targets (namespace, pod, container, endpoint, service; job is the job name, the
name of the component's Service, as prometheus-operator's job is), so the load metric, KEDA's
wake query and the alerts select alike with either.
Call with (dict "root" $ "component" "triton" "job" <name> "service" <name> "portName" "metrics" "path" "/metrics")
or "portNumber" 8888 instead of "portName".
*/}}
{{- define "supersonic.prometheus.scrapeJob" -}}
{{- $root := .root -}}
{{- $selector := include "supersonic.selectorLabels" (dict "root" $root "component" .component) | fromYaml -}}
- job_name: {{ .job | quote }}
  metrics_path: {{ .path }}
  kubernetes_sd_configs:
    - role: pod
      namespaces:
        names: [{{ $root.Release.Namespace | quote }}]
  relabel_configs:
    - action: keep
      source_labels: [__meta_kubernetes_pod_label_app_kubernetes_io_name, __meta_kubernetes_pod_label_app_kubernetes_io_instance, __meta_kubernetes_pod_label_app_kubernetes_io_component]
      regex: {{ printf "%s;%s;%s" (regexQuoteMeta (index $selector "app.kubernetes.io/name")) (regexQuoteMeta (index $selector "app.kubernetes.io/instance")) (regexQuoteMeta .component) | squote }}
    {{- if .portName }}
    - action: keep
      source_labels: [__meta_kubernetes_pod_container_port_name]
      regex: {{ regexQuoteMeta .portName | squote }}
    {{- else }}
    - action: keep
      source_labels: [__meta_kubernetes_pod_container_port_number]
      regex: {{ .portNumber | quote }}
    {{- end }}
    # Finished pods are no targets (prometheus-operator drops them too).
    - action: drop
      source_labels: [__meta_kubernetes_pod_phase]
      regex: (Failed|Succeeded)
    - { action: replace, source_labels: [__meta_kubernetes_namespace], target_label: namespace }
    - { action: replace, source_labels: [__meta_kubernetes_pod_name], target_label: pod }
    - { action: replace, source_labels: [__meta_kubernetes_pod_container_name], target_label: container }
    - { action: replace, source_labels: [__meta_kubernetes_pod_container_port_name], target_label: endpoint }
    {{- with .service }}
    - { action: replace, target_label: service, replacement: {{ . | quote }} }
    {{- end }}
{{- end }}

{{/* The bundled Prometheus's prometheus.yml. */}}
{{- define "supersonic.prometheus.config" -}}
{{- $metrics := include "supersonic.portNamed" (dict "ports" .Values.triton.service.ports "name" "metrics") | fromYaml -}}
global:
  scrape_interval: {{ $.Values.prometheus.server.global.scrape_interval }}
  evaluation_interval: {{ $.Values.prometheus.server.global.evaluation_interval }}
rule_files:
  # Beside this file in the same ConfigMap; Prometheus reads it relative to this file.
  - {{ include "supersonic.prometheus.rulesFile" . }}
scrape_configs:
  {{- if $metrics }}
  {{- include "supersonic.prometheus.scrapeJob" (dict "root" . "component" "triton" "job" (include "supersonic.triton.fullname" .) "service" (include "supersonic.triton.fullname" .) "portName" $metrics.name "path" "/metrics") | nindent 2 }}
  {{- end }}
  {{- if include "supersonic.prometheus.envoyScraped" . }}
  {{- include "supersonic.prometheus.scrapeJob" (dict "root" . "component" "envoy" "job" (include "supersonic.envoy.metricsServiceName" .) "service" (include "supersonic.envoy.metricsServiceName" .) "portName" "metrics" "path" "/stats/prometheus") | nindent 2 }}
  {{- end }}
  {{- if (index .Values "opentelemetry-collector").enabled }}
  {{- /* The collector's own metrics, on the port the naming contract gives it (8888). */}}
  {{- include "supersonic.prometheus.scrapeJob" (dict "root" . "component" "opentelemetry-collector" "job" (include "supersonic.componentName" (dict "root" . "component" "opentelemetry-collector")) "portNumber" 8888 "path" "/metrics") | nindent 2 }}
  {{- end }}
  {{- if .Values.tempo.enabled }}
  {{- /* Tempo's own metrics, on its HTTP port (3100, the naming contract). */}}
  {{- include "supersonic.prometheus.scrapeJob" (dict "root" . "component" "tempo" "job" (include "supersonic.componentName" (dict "root" . "component" "tempo")) "portNumber" 3100 "path" "/metrics") | nindent 2 }}
  {{- end }}
{{- end }}

{{/* The bundled Prometheus's flags: the chart's, then prometheus.server.extraFlags. */}}
{{- define "supersonic.prometheus.args" -}}
{{- $args := list "--config.file=/etc/prometheus/prometheus.yml" "--storage.tsdb.path=/prometheus" (printf "--storage.tsdb.retention.time=%s" $.Values.prometheus.server.retention) "--web.listen-address=:9090" "--web.enable-remote-write-receiver" -}}
{{- $owned := list "config.file" "storage.tsdb.path" "storage.tsdb.retention.time" "web.listen-address" -}}
{{- range $.Values.prometheus.server.extraFlags -}}
{{- $name := regexReplaceAll "=.*$" . "" -}}
{{- if has $name $owned -}}
{{- fail (printf "prometheus.server.extraFlags: %q is set by the chart (prometheus.server.retention for the retention, prometheus.server.service.servicePort for the Service port); remove it" .) -}}
{{- end -}}
{{- if ne . "web.enable-remote-write-receiver" -}}{{- $args = append $args (printf "--%s" .) -}}{{- end -}}
{{- end -}}
{{- toYaml $args -}}
{{- end }}

{{/*
NOTES lines for the bundled Prometheus and the operator mode: a feature switched on that the
cluster cannot serve.
*/}}
{{- define "supersonic.prometheus.notes" -}}
{{- if and .Values.prometheus.operator.enabled (not (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1")) }}
WARNING: prometheus.operator.enabled is set, but the cluster does not serve monitoring.coreos.com/v1 (prometheus-operator's CRDs): no ServiceMonitor or PrometheusRule was created.
{{- end }}
{{- if and .Values.prometheus.enabled .Values.prometheus.external.enabled }}
WARNING: prometheus.enabled is ignored because prometheus.external.enabled is set: no Prometheus was deployed, and {{ include "supersonic.prometheus.url" . }} is read.
{{- end }}
{{- end }}

{{/*
The CA bundle {configMap|secret, key} every reader of the external Prometheus (Envoy's shedder,
Grafana, the collector, Tempo, the metrics collector) trusts, as YAML; empty when none is set or
the bundled Prometheus (plain HTTP in the cluster) is read.
*/}}
{{- define "supersonic.prometheus.caBundle" -}}
{{- $ca := .Values.prometheus.external.caBundle -}}
{{- if and .Values.prometheus.external.enabled (or $ca.configMap $ca.secret) -}}{{ toYaml $ca }}{{- end -}}
{{- end }}

{{/* Checks of the Prometheus keys that JSON Schema cannot express; each message names the key. */}}
{{- define "supersonic.prometheus.validate" -}}
{{- $ca := .Values.prometheus.external.caBundle -}}
{{- if and $ca.configMap $ca.secret -}}
  {{- fail (printf "prometheus.external.caBundle sets both configMap (%s) and secret (%s): set one" $ca.configMap $ca.secret) -}}
{{- end -}}
{{- end }}
