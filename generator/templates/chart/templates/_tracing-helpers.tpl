{{/*
Tracing: the OpenTelemetry collector (opentelemetry-collector.*), Tempo (tempo.*), and the wiring
of Envoy and Triton to them. Names are SuperSONIC 0.3.1's subchart names with the instance name
(<instance>-opentelemetry-collector, <instance>-tempo), because site files name them.
*/}}

{{- define "supersonic.otelcol.fullname" -}}
{{- include "supersonic.componentName" (dict "root" . "component" "opentelemetry-collector") -}}
{{- end }}

{{- define "supersonic.tempo.fullname" -}}
{{- include "supersonic.componentName" (dict "root" . "component" "tempo") -}}
{{- end }}

{{/* "true" when the chart runs its own collector. */}}
{{- define "supersonic.otelcol.enabled" -}}
{{- if (index .Values "opentelemetry-collector" "enabled") -}}true{{- end -}}
{{- end }}

{{/*
"true" when Envoy traces: envoy.tracing.enabled (to envoy.tracing.collectorHost), or the chart's
collector with opentelemetry-collector.tracing.envoy (0.3.1 traced whenever its collector ran).
*/}}
{{- define "supersonic.tracing.envoy" -}}
{{- if or .Values.envoy.tracing.enabled (and (index .Values "opentelemetry-collector" "enabled") (index .Values "opentelemetry-collector" "tracing" "envoy")) -}}true{{- end -}}
{{- end }}

{{/* Where Envoy sends spans, as {host, port}: envoy.tracing.collectorHost if set, else the chart's collector. */}}
{{- define "supersonic.tracing.envoyCollector" -}}
{{- if .Values.envoy.tracing.collectorHost -}}
{{- toYaml (dict "host" .Values.envoy.tracing.collectorHost "port" (int .Values.envoy.tracing.collectorPort)) -}}
{{- else -}}
{{- toYaml (dict "host" (include "supersonic.serviceHost" (dict "root" . "service" (include "supersonic.otelcol.fullname" .))) "port" 4317) -}}
{{- end -}}
{{- end }}

{{/*
Triton's trace flags the chart adds, as a YAML list of `--trace-config=<setting>` arguments: those
of mode, URL (the chart's collector over OTLP/HTTP), rate (1 in round(1/envoy.tracing_sampling_rate),
so Triton samples like Envoy), level (Triton's default is OFF) and the pod name (a resource
attribute the collector's transform processor makes the service name), leaving out every setting
that triton.args already has (0.3.1 sites wrote them by hand). Empty list when Triton does not trace.
*/}}
{{- define "supersonic.tracing.tritonFlags" -}}
{{- $flags := list -}}
{{- if and (index .Values "opentelemetry-collector" "enabled") (index .Values "opentelemetry-collector" "tracing" "triton") (gt (float64 .Values.envoy.tracing_sampling_rate) 0.0) -}}
{{- $written := join "\n" (.Values.triton.args | default list) -}}
{{- $rate := round (divf 1 .Values.envoy.tracing_sampling_rate) 0 | int -}}
{{- $url := printf "http://%s:4318/v1/traces" (include "supersonic.serviceHost" (dict "root" . "service" (include "supersonic.otelcol.fullname" .))) -}}
{{- $settings := list
    (list "mode=" "mode=opentelemetry")
    (list "opentelemetry,url=" (printf "opentelemetry,url=%s" $url))
    (list "rate=" (printf "rate=%d" (max $rate 1)))
    (list "level=" "level=TIMESTAMPS")
    (list "opentelemetry,resource=pod_name=" "opentelemetry,resource=pod_name=$(POD_NAME)") -}}
{{- range $settings -}}
  {{- /* Written as `--trace-config X`, `--trace-config=X`, or for rate and level their deprecated flags. */ -}}
  {{- $key := index . 0 -}}
  {{- $pattern := printf "--trace-config[= ]+%s" (regexQuoteMeta $key) -}}
  {{- if has $key (list "rate=" "level=") -}}{{- $pattern = printf "%s|--trace-%s" $pattern (trimSuffix "=" $key) -}}{{- end -}}
  {{- if not (regexMatch $pattern $written) -}}
    {{- $flags = append $flags (printf "--trace-config=%s" (index . 1)) -}}
  {{- end -}}
{{- end -}}
{{- end -}}
{{- toYaml $flags -}}
{{- end }}

{{/* "true" when Triton's container needs env POD_NAME for the trace flags: they are added, and triton.extraEnv has none. */}}
{{- define "supersonic.tracing.tritonPodNameEnv" -}}
{{- $names := list -}}
{{- range (.Values.triton.extraEnv | default list) }}{{ $names = append $names .name }}{{ end -}}
{{- if and (include "supersonic.tracing.tritonFlags" . | fromYamlArray) (not (has "POD_NAME" $names)) -}}true{{- end -}}
{{- end }}

{{/* "true" when triton.command runs triton.args[0] as a shell script (the default /bin/sh -c). */}}
{{- define "supersonic.tracing.tritonShell" -}}
{{- $command := .Values.triton.command | default list -}}
{{- if and $command (has (base (first $command)) (list "sh" "bash" "dash" "ash" "zsh")) (has "-c" $command) -}}true{{- end -}}
{{- end }}

{{/*
triton.args with the trace flags added, as JSON: appended to the script's last command (which must be
tritonserver) when triton.command is a shell, else as separate arguments.
*/}}
{{- define "supersonic.tracing.tritonArgs" -}}
{{- $args := .Values.triton.args | default list -}}
{{- $flags := include "supersonic.tracing.tritonFlags" . | fromYamlArray -}}
{{- /* JSON, not YAML: Helm's toYaml drops the final newline of the script. */ -}}
{{- if not $flags -}}
{{- toJson $args -}}
{{- else if include "supersonic.tracing.tritonShell" . -}}
  {{- if not $args -}}
    {{- fail "opentelemetry-collector.tracing.triton: triton.args is empty, so there is no Triton command line to add the trace flags to; set triton.args, or set opentelemetry-collector.tracing.triton=false" -}}
  {{- end -}}
  {{- $script := regexReplaceAll "\\s+$" (first $args) "" -}}
  {{- /* The last command, with backslash-newline continuations joined. */ -}}
  {{- $lines := regexSplit "\n" (regexReplaceAll "\\\\[ \t]*\n" $script " ") -1 -}}
  {{- $last := "" -}}
  {{- range $lines }}{{ if trim . }}{{ $last = trim . }}{{ end }}{{ end -}}
  {{- if not (contains "tritonserver" $last) -}}
    {{- fail (printf "opentelemetry-collector.tracing.triton: the chart appends Triton's trace flags to the last command of the triton.args script, and that command is not tritonserver (%q). End the script with the tritonserver command line, write the --trace-config flags yourself, or set opentelemetry-collector.tracing.triton=false" $last) -}}
  {{- end -}}
  {{- $sep := ternary "\n" " \\\n" (hasSuffix "\\" $script) -}}
  {{- $script = printf "%s%s%s\n" $script $sep (join " \\\n" $flags) -}}
  {{- toJson (prepend (rest $args) $script) -}}
{{- else -}}
  {{- if not $args -}}
    {{- fail "opentelemetry-collector.tracing.triton: triton.args is empty, so there is no Triton command line to add the trace flags to; set triton.args, or set opentelemetry-collector.tracing.triton=false" -}}
  {{- end -}}
  {{- toJson (concat $args $flags) -}}
{{- end -}}
{{- end }}

{{/*
Where span metrics and Tempo's generated metrics are remote-written by default: the Prometheus the
release reads, <url>/api/v1/write (the bundled one runs with the remote-write receiver); empty
when the release reads none.
*/}}
{{- define "supersonic.tracing.prometheusWriteUrl" -}}
{{- if include "supersonic.prometheus.available" . -}}
{{- printf "%s/api/v1/write" (include "supersonic.prometheus.url" .) -}}
{{- end -}}
{{- end }}

{{/* Pod volume of a CA bundle {configMap|secret, key}, as ca.crt. Call with (dict "name" <volume> "bundle" <caBundle>). */}}
{{- define "supersonic.tracing.caVolume" -}}
- name: {{ .name }}
  {{- if .bundle.configMap }}
  configMap:
    name: {{ .bundle.configMap }}
    items: [{ key: {{ .bundle.key | quote }}, path: ca.crt }]
  {{- else }}
  secret:
    secretName: {{ .bundle.secret }}
    items: [{ key: {{ .bundle.key | quote }}, path: ca.crt }]
  {{- end }}
{{- end }}

{{/* The user's opentelemetry-collector.config, never nil. */}}
{{- define "supersonic.otelcol.userConfig" -}}
{{- toYaml ((index .Values "opentelemetry-collector" "config") | default dict) -}}
{{- end }}

{{/* Remote-write URL of the span metrics: the user's exporter endpoint, else the release's Prometheus. */}}
{{- define "supersonic.otelcol.remoteWriteUrl" -}}
{{- $user := include "supersonic.otelcol.userConfig" . | fromYaml -}}
{{- dig "exporters" "prometheusremotewrite" "endpoint" "" $user | default (include "supersonic.tracing.prometheusWriteUrl" .) -}}
{{- end }}

{{/*
The chart's collector configuration, before the user's config is merged over it. Traces go to
Tempo (tempo.enabled) and through the spanmetrics connector into metrics remote-written to
Prometheus (where there is one). The transform processor is 0.3.1's: Triton reports the service
name "triton-inference-server" for every pod, so the pod_name resource attribute (set by Triton's
--trace-config flags) becomes the service name, and span kinds are set so that Tempo's service
graph links Envoy's ingress span (client) to Triton's spans (server).
*/}}
{{- define "supersonic.otelcol.baseConfig" -}}
{{- $metrics := include "supersonic.otelcol.remoteWriteUrl" . -}}
{{- $ca := include "supersonic.prometheus.caBundle" . -}}
receivers:
  otlp:
    protocols:
      grpc: { endpoint: "0.0.0.0:4317" }
      http: { endpoint: "0.0.0.0:4318" }
processors:
  batch: {}
  transform:
    error_mode: ignore
    trace_statements:
      - context: resource
        conditions: ['attributes["pod_name"] != nil']
        statements: ['replace_match(attributes["service.name"], "triton-inference-server", attributes["pod_name"])']
      - context: span
        conditions: ['name == "ingress"']
        statements: ['set(kind, SPAN_KIND_CLIENT)']
      - context: span
        conditions: ['name != "ingress"']
        statements: ['set(kind, SPAN_KIND_SERVER)']
{{- if $metrics }}
connectors:
  spanmetrics:
    histogram:
      explicit:
        buckets: [100us, 1ms, 2ms, 6ms, 10ms, 100ms, 250ms]
    dimensions:
      - name: http.method
        default: GET
      - name: http.status_code
    exemplars:
      enabled: true
    exclude_dimensions: [status.code]
    aggregation_temporality: AGGREGATION_TEMPORALITY_CUMULATIVE
    metrics_flush_interval: 15s
    metrics_expiration: 5m
    events:
      enabled: true
      dimensions:
        - name: exception.type
        - name: exception.message
    resource_metrics_key_attributes: [service.name, telemetry.sdk.language, telemetry.sdk.name]
{{- end }}
exporters:
  {{- if .Values.tempo.enabled }}
  otlp:
    endpoint: {{ printf "%s:4317" (include "supersonic.serviceHost" (dict "root" . "service" (include "supersonic.tempo.fullname" .))) | quote }}
    tls: { insecure: true }
  {{- end }}
  {{- if $metrics }}
  prometheusremotewrite:
    endpoint: {{ $metrics | quote }}
    target_info: { enabled: true }
    {{- if $ca }}
    tls: { ca_file: /etc/otelcol/ca/prometheus/ca.crt }
    {{- end }}
  {{- end }}
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [transform, batch]
      exporters:
        {{- if .Values.tempo.enabled }}
        - otlp
        {{- end }}
        {{- if $metrics }}
        - spanmetrics
        {{- end }}
    {{- if $metrics }}
    metrics:
      receivers: [spanmetrics]
      processors: [batch]
      exporters: [prometheusremotewrite]
    {{- end }}
  telemetry:
    metrics:
      {{- if (index .Values "opentelemetry-collector" "ports" "metrics" "enabled") }}
      level: normal
      readers:
        - pull:
            exporter:
              prometheus: { host: "0.0.0.0", port: 8888 }
      {{- else }}
      level: none
      {{- end }}
{{- end }}

{{/*
The collector's configuration: the chart's, with opentelemetry-collector.config merged over it
(0.3.1 files set exporter endpoints there). Fails when a pipeline names a component that is not
defined, or the traces go nowhere.
*/}}
{{- define "supersonic.otelcol.config" -}}
{{- $config := mergeOverwrite (include "supersonic.otelcol.baseConfig" . | fromYaml) (include "supersonic.otelcol.userConfig" . | fromYaml) -}}
{{- range $name, $pipeline := (dig "service" "pipelines" dict $config) -}}
  {{- if not ($pipeline | default dict).exporters -}}
    {{- fail (printf "opentelemetry-collector: the collector's %s pipeline sends nowhere. Set tempo.enabled (traces to the release's Tempo) or give the release a Prometheus (prometheus.enabled or prometheus.external, for span metrics), or add an exporter in opentelemetry-collector.config (exporters and service.pipelines.%s.exporters)" $name $name) -}}
  {{- end -}}
  {{- range $kind := list "receivers" "processors" "exporters" -}}
    {{- range (index $pipeline $kind | default list) -}}
      {{- $defined := hasKey (index $config $kind | default dict) . -}}
      {{- if and (ne $kind "processors") (not $defined) -}}{{- $defined = hasKey ($config.connectors | default dict) . -}}{{- end -}}
      {{- if not $defined -}}
        {{- fail (printf "opentelemetry-collector.config: service.pipelines.%s.%s names %q, which is not defined under %s%s" $name $kind . $kind (ternary "" " or connectors" (eq $kind "processors"))) -}}
      {{- end -}}
    {{- end -}}
  {{- end -}}
{{- end -}}
{{- toYaml $config -}}
{{- end }}

{{/* Where Tempo's metrics generator writes: tempo.tempo.metricsGenerator.remoteWriteUrl, else the release's Prometheus; empty when off or nowhere. */}}
{{- define "supersonic.tempo.remoteWriteUrl" -}}
{{- $generator := .Values.tempo.tempo.metricsGenerator -}}
{{- if $generator.enabled -}}
{{- $generator.remoteWriteUrl | default (include "supersonic.tracing.prometheusWriteUrl" .) -}}
{{- end -}}
{{- end }}

{{/* Tempo's configuration (monolithic, single binary, local storage under /var/tempo). */}}
{{- define "supersonic.tempo.config" -}}
{{- $remoteWrite := include "supersonic.tempo.remoteWriteUrl" . -}}
{{- $overrides := deepCopy (.Values.tempo.tempo.overrides | default dict) -}}
{{- $defaults := deepCopy ($overrides.defaults | default dict) -}}
{{- /* 0.3.1's legacy per-tenant key; Tempo 2 reads metrics_generator.processors. */ -}}
{{- $processors := $defaults.metrics_generator_processors | default (list "service-graphs" "span-metrics") -}}
{{- $_ := unset $defaults "metrics_generator_processors" -}}
{{- if $remoteWrite -}}
{{- $generator := merge ($defaults.metrics_generator | default dict) (dict "processors" $processors) -}}
{{- $_ := set $defaults "metrics_generator" $generator -}}
{{- end -}}
{{- $_ := set $overrides "defaults" $defaults -}}
stream_over_http_enabled: true
server:
  http_listen_port: 3100
  grpc_listen_port: 9095
  log_level: info
distributor:
  receivers:
    otlp:
      protocols:
        grpc: { endpoint: "0.0.0.0:4317" }
        http: { endpoint: "0.0.0.0:4318" }
ingester:
  max_block_duration: 5m
compactor:
  compaction:
    block_retention: {{ .Values.tempo.retention }}
{{- if $remoteWrite }}
metrics_generator:
  registry:
    external_labels:
      source: tempo
  storage:
    path: /var/tempo/generator/wal
    remote_write:
      - url: {{ $remoteWrite | quote }}
        send_exemplars: true
        {{- if and (not .Values.tempo.tempo.metricsGenerator.remoteWriteUrl) (include "supersonic.prometheus.caBundle" .) }}
        tls_config: { ca_file: /etc/tempo/ca/prometheus/ca.crt }
        {{- end }}
  traces_storage:
    path: /var/tempo/generator/traces
{{- end }}
storage:
  trace:
    backend: local
    wal:
      path: /var/tempo/wal
    local:
      path: /var/tempo/blocks
overrides:
  {{- toYaml $overrides | nindent 2 }}
{{- end }}

{{/*
NOTES lines for tracing: endpoints written in the values (collector exporters, Tempo's
remote-write URL, the URL in Triton's own --trace-config flags) that name a Service this release
does not create, as 0.3.1 files do when their release has another name.
*/}}
{{- define "supersonic.tracing.notes" -}}
{{- $services := include "supersonic.monitoringServices" . | fromYamlArray -}}
{{- $endpoints := list -}}
{{- if (index .Values "opentelemetry-collector" "enabled") -}}
  {{- range $name, $exporter := ((include "supersonic.otelcol.userConfig" . | fromYaml).exporters | default dict) -}}
    {{- with (($exporter | default dict).endpoint) -}}
      {{- $endpoints = append $endpoints (list (printf "opentelemetry-collector.config.exporters.%s.endpoint" $name) .) -}}
    {{- end -}}
  {{- end -}}
{{- end -}}
{{- if and .Values.tempo.enabled .Values.tempo.tempo.metricsGenerator.enabled .Values.tempo.tempo.metricsGenerator.remoteWriteUrl -}}
  {{- $endpoints = append $endpoints (list "tempo.tempo.metricsGenerator.remoteWriteUrl" .Values.tempo.tempo.metricsGenerator.remoteWriteUrl) -}}
{{- end -}}
{{- range (regexFindAll "opentelemetry,url=[^\\s\\\\]+" (join "\n" (.Values.triton.args | default list)) -1) -}}
  {{- $endpoints = append $endpoints (list "triton.args (--trace-config opentelemetry,url=)" (trimPrefix "opentelemetry,url=" .)) -}}
{{- end -}}
{{- range $pair := $endpoints -}}
  {{- with include "supersonic.unknownService" (dict "root" $ "endpoint" (index $pair 1) "services" $services) }}
WARNING: {{ index $pair 0 }} is {{ index $pair 1 | quote }}: this release creates no Service {{ . | quote }}{{ if $services }} (its monitoring Services are {{ join ", " $services }}){{ end }}. Unless that Service exists in namespace {{ $.Release.Namespace }}, nothing arrives there; remove the setting to use the release's own.
  {{- end }}
{{- end -}}
{{- end }}
