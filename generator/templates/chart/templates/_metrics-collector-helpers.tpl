{{/* Names, checks and shared pieces of the metrics collector (metricsCollector.*). */}}

{{/* The Deployment's and Service's name: "<instance>-metrics-collector", SuperSONIC 0.3.1's Service name. */}}
{{- define "supersonic.metricsCollector.fullname" -}}
{{- include "supersonic.componentName" (dict "root" . "component" "metrics-collector") -}}
{{- end }}

{{/*
Fails the render on a collector that could not work: it reads GPU metrics from the release's
Prometheus, so one must exist; an Ingress needs a host name (SuperSONIC 0.3.1 rendered one with
an empty host, which matches every host of the controller).
*/}}
{{- define "supersonic.metricsCollector.validate" -}}
{{- if not (include "supersonic.prometheus.available" .) -}}
{{- fail "metricsCollector.enabled is true, but this release has no Prometheus to read GPU metrics from: set prometheus.external.enabled with prometheus.external.url (a Prometheus that scrapes Triton), or prometheus.enabled to run the chart's own, or set metricsCollector.enabled to false" -}}
{{- end -}}
{{- if .Values.metricsCollector.ingress.enabled -}}
{{- if not (include "supersonic.ingressHosts" .Values.metricsCollector.ingress | fromYamlArray) -}}
{{- fail "metricsCollector.ingress.enabled is true, but no host name is set: set metricsCollector.ingress.hostName or metricsCollector.ingress.hosts" -}}
{{- end -}}
{{- end -}}
{{- include "supersonic.validateResources" (dict "key" "metricsCollector.resources" "resources" .Values.metricsCollector.resources) -}}
{{- end }}

{{/* NOTES lines: where perf_analyzer's --metrics-url points (nothing when the collector is off). */}}
{{- define "supersonic.metricsCollector.notes" -}}
{{- if .Values.metricsCollector.enabled -}}
GPU metrics for perf_analyzer: --collect-metrics --metrics-url http://{{ include "supersonic.serviceHost" (dict "root" . "service" (include "supersonic.metricsCollector.fullname" .)) }}:{{ .Values.metricsCollector.service.port }}/metrics
{{- range (include "supersonic.ingressHosts" .Values.metricsCollector.ingress | fromYamlArray) }}
{{- if $.Values.metricsCollector.ingress.enabled }}
  from outside the cluster: https://{{ . }}/metrics
{{- end }}
{{- end }}
{{- end -}}
{{- end }}
