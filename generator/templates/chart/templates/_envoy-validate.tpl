{{/*
Checks across Envoy values that JSON Schema cannot express; each message names the keys to set.
*/}}
{{- define "supersonic.envoy.validate" -}}
{{- include "supersonic.validateResources" (dict "key" "envoy.resources" "resources" .Values.envoy.resources) -}}
{{- if not (include "supersonic.envoy.grpcPort" .) -}}
  {{- fail "envoy.service.ports needs a port named \"grpc\": Envoy's gRPC listener listens on its targetPort" -}}
{{- end -}}
{{- if not (regexMatch "(^| )(-c|--config-path)( |=|$)" (join " " .Values.envoy.args)) -}}
  {{- fail "envoy.args must include \"--config-path\", \"/etc/envoy/envoy.yaml\" (or -c): the chart mounts Envoy's configuration there" -}}
{{- end -}}
{{- if le (int .Values.envoy.terminationGracePeriodSeconds) (int .Values.envoy.drainSeconds) -}}
  {{- fail (printf "envoy.terminationGracePeriodSeconds (%d) must be greater than envoy.drainSeconds (%d), or Envoy is killed before in-flight calls finish" (int .Values.envoy.terminationGracePeriodSeconds) (int .Values.envoy.drainSeconds)) -}}
{{- end -}}
{{- with .Values.envoy.auth.caBundle -}}
  {{- if and .configMap .secret -}}
    {{- fail (printf "envoy.auth.caBundle sets both configMap (%s) and secret (%s): set one" .configMap .secret) -}}
  {{- end -}}
{{- end -}}
{{- include "supersonic.prometheus.validate" . -}}
{{- /* One port, one listener: Envoy would fail at start with "address already in use". */ -}}
{{- $metricsPort := int .Values.envoy.metrics.port -}}
{{- if eq $metricsPort 9901 -}}
  {{- fail "envoy.metrics.port is 9901, the port of Envoy's admin interface (on localhost): choose another port for metrics" -}}
{{- end -}}
{{- range (include "supersonic.envoy.clientPorts" . | fromYamlArray) -}}
  {{- if eq (int .targetPort) $metricsPort -}}
    {{- fail (printf "envoy.metrics.port (%d) is also the targetPort of envoy.service.ports %q: Envoy cannot listen on one port twice; choose another metrics port" $metricsPort .name) -}}
  {{- end -}}
  {{- if eq (int .targetPort) 9901 -}}
    {{- fail (printf "envoy.service.ports %q has targetPort 9901, the port of Envoy's admin interface: choose another" .name) -}}
  {{- end -}}
{{- end -}}
{{- if and .Values.envoy.external_config.load_from_configmap (not .Values.envoy.external_config.configmap_name) -}}
  {{- fail "envoy.external_config.configmap_name must name a ConfigMap when envoy.external_config.load_from_configmap is true" -}}
{{- end -}}
{{- if not .Values.envoy.external_config.load_from_configmap -}}
  {{- if not (include "supersonic.portNamed" (dict "ports" .Values.triton.service.ports "name" "grpc")) -}}
    {{- fail "triton.service.ports needs a port named \"grpc\": Envoy forwards requests to it" -}}
  {{- end -}}
  {{- if not (include "supersonic.portNamed" (dict "ports" .Values.triton.service.ports "name" "http")) -}}
    {{- fail "triton.service.ports needs a port named \"http\": Envoy checks Triton's health on it" -}}
  {{- end -}}
  {{- if .Values.envoy.rate_limiter.prometheus_based.enabled -}}
    {{- if not (include "supersonic.prometheus.available" .) -}}
      {{- fail "envoy.rate_limiter.prometheus_based.enabled needs a Prometheus to read the load from: set prometheus.external.enabled and prometheus.external.url, or prometheus.enabled for the chart's own" -}}
    {{- end -}}
  {{- end -}}
  {{- if .Values.envoy.auth.enabled -}}
    {{- if not (and .Values.envoy.auth.jwt_issuer .Values.envoy.auth.jwt_remote_jwks_uri) -}}
      {{- fail "envoy.auth.enabled needs envoy.auth.jwt_issuer and envoy.auth.jwt_remote_jwks_uri" -}}
    {{- end -}}
    {{- $jwks := include "supersonic.envoy.jwksAddress" . | fromYaml -}}
    {{- if and .Values.envoy.auth.url (ne .Values.envoy.auth.url $jwks.host) -}}
      {{- fail (printf "envoy.auth.url (%s) is not the host of envoy.auth.jwt_remote_jwks_uri (%s): leave envoy.auth.url empty, or make them agree" .Values.envoy.auth.url $jwks.host) -}}
    {{- end -}}
  {{- end -}}
  {{- if lt (trimSuffix "s" .Values.envoy.rate_limiter.listener_level.fill_interval | float64) 0.05 -}}
    {{- fail (printf "envoy.rate_limiter.listener_level.fill_interval (%s) must be at least 0.05s; Envoy refuses shorter intervals" .Values.envoy.rate_limiter.listener_level.fill_interval) -}}
  {{- end -}}
  {{- if and .Values.envoy.tracing.enabled (not .Values.envoy.tracing.collectorHost) (not (include "supersonic.otelcol.enabled" .)) -}}
    {{- fail "envoy.tracing.enabled needs envoy.tracing.collectorHost, the OpenTelemetry collector to send traces to, or the chart's own collector (opentelemetry-collector.enabled)" -}}
  {{- end -}}
{{- end -}}
{{- if and .Values.envoy.ingress.enabled (not (or .Values.envoy.ingress.hostName .Values.envoy.ingress.hosts)) -}}
  {{- fail "envoy.ingress.enabled needs envoy.ingress.hostName or envoy.ingress.hosts: an Ingress without a host would catch every host name" -}}
{{- end -}}
{{- end }}
