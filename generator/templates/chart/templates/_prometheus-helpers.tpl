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
