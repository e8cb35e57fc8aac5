{{/*
What site files name: 0.3.1's files write the monitoring Services' names into datasources,
exporter endpoints and remote-write URLs, tied to the release name they were written for. These
helpers let each component's NOTES say when such a name is not a Service of this release.
*/}}

{{/*
The Services of the monitoring components this release runs, as a YAML list: the bundled
Prometheus, Grafana, Tempo, the OpenTelemetry collector and the metrics collector, when enabled.
*/}}
{{- define "supersonic.monitoringServices" -}}
{{- $services := list -}}
{{- if include "supersonic.prometheus.bundled" . }}{{ $services = append $services (include "supersonic.prometheus.serverName" .) }}{{ end -}}
{{- if .Values.grafana.enabled }}{{ $services = append $services (include "supersonic.grafana.fullname" .) }}{{ end -}}
{{- if .Values.tempo.enabled }}{{ $services = append $services (include "supersonic.tempo.fullname" .) }}{{ end -}}
{{- if (index .Values "opentelemetry-collector" "enabled") }}{{ $services = append $services (include "supersonic.otelcol.fullname" .) }}{{ end -}}
{{- if .Values.metricsCollector.enabled }}{{ $services = append $services (include "supersonic.metricsCollector.fullname" .) }}{{ end -}}
{{- toYaml $services -}}
{{- end }}

{{/*
Is `endpoint` (a URL or host[:port]) a Service of this namespace that the release does not create?
Prints the Service's name if so. In-namespace means a bare name, or <name>.<namespace>[.svc...].
Call with (dict "root" $ "endpoint" <string> "services" <list of the release's Service names>).
*/}}
{{- define "supersonic.unknownService" -}}
{{- $hostport := regexReplaceAll "/.*$" (regexReplaceAll "^[a-zA-Z][a-zA-Z0-9+.-]*://" .endpoint "") "" -}}
{{- $host := regexReplaceAll ":[0-9]+$" $hostport "" -}}
{{- $parts := splitList "." $host -}}
{{- $local := or (eq (len $parts) 1) (and (ge (len $parts) 2) (eq (index $parts 1) .root.Release.Namespace) (or (eq (len $parts) 2) (eq (index $parts 2) "svc"))) -}}
{{- if and $host $local (not (regexMatch "^[0-9.]+$" $host)) (ne $host "localhost") (not (has (first $parts) .services)) -}}
{{- first $parts -}}
{{- end -}}
{{- end }}
