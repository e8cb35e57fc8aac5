{{/* Object names of the Envoy component. */}}
{{- define "supersonic.envoy.fullname" -}}
{{- include "supersonic.componentName" (dict "root" . "component" "envoy") -}}
{{- end }}

{{/* The client-facing Service carries the instance name itself: <name>.<namespace>.svc. */}}
{{- define "supersonic.envoy.serviceName" -}}
{{- include "supersonic.fullname" . -}}
{{- end }}

{{- define "supersonic.envoy.metricsServiceName" -}}
{{- include "supersonic.componentName" (dict "root" . "component" "envoy-metrics") -}}
{{- end }}

{{/*
The entry of a port list with a given name, as YAML ("" when absent).
Call with (dict "ports" <list> "name" "grpc").
*/}}
{{- define "supersonic.portNamed" -}}
{{- range .ports -}}
{{- if eq .name $.name -}}{{- toYaml . -}}{{- end -}}
{{- end -}}
{{- end }}

{{/* Envoy's client port entry (named grpc), as a map. */}}
{{- define "supersonic.envoy.grpcPort" -}}
{{- include "supersonic.portNamed" (dict "ports" .Values.envoy.service.ports "name" "grpc") -}}
{{- end }}

{{/* The Service ports clients may reach: every port except a 0.3-style "admin" port. */}}
{{- define "supersonic.envoy.clientPorts" -}}
{{- $ports := list -}}
{{- range .Values.envoy.service.ports -}}
{{- if ne .name "admin" -}}{{- $ports = append $ports . -}}{{- end -}}
{{- end -}}
{{- toYaml $ports -}}
{{- end }}

{{/*
A URL taken apart, as a map {scheme, host, port, path}. A URL without a scheme gets .scheme,
one without a port gets .port; the path is kept without a trailing "/".
Call with (dict "url" "https://prom.example.org:9090/prometheus" "scheme" "https" "port" 443).
*/}}
{{- define "supersonic.parseUrl" -}}
{{- $raw := .url | trim -}}
{{- if not (regexMatch "^[a-zA-Z][-a-zA-Z0-9+.]*://" $raw) -}}
{{- $raw = printf "%s://%s" .scheme $raw -}}
{{- end -}}
{{- $url := urlParse $raw -}}
{{- $port := int .port -}}
{{- if regexMatch ":[0-9]+$" $url.host -}}
{{- $port = regexFind "[0-9]+$" $url.host | int -}}
{{- end -}}
{{- $host := regexReplaceAll ":[0-9]+$" $url.host "" -}}
{{- toYaml (dict "scheme" $url.scheme "host" $host "port" $port "path" (trimSuffix "/" $url.path)) -}}
{{- end }}

{{/*
The JWKS server, from envoy.auth.jwt_remote_jwks_uri; envoy.auth.port applies when the URI
names no port.
*/}}
{{- define "supersonic.envoy.jwksAddress" -}}
{{- include "supersonic.parseUrl" (dict "url" .Values.envoy.auth.jwt_remote_jwks_uri "scheme" "https" "port" .Values.envoy.auth.port) -}}
{{- end }}
