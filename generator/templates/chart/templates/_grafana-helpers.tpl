{{/*
Grafana: the chart's own (grafana.enabled), and this release's dashboards as a ConfigMap that a
cluster's existing Grafana loads through its sidecar (grafana.dashboards.sidecar). SuperSONIC
0.3.1's subchart keys (grafana.ini, datasources, dashboardProviders, dashboardsConfigMaps) are
honoured here: what a site sets is merged over what the chart derives from the release.
*/}}

{{- define "supersonic.grafana.fullname" -}}
{{- include "supersonic.componentName" (dict "root" . "component" "grafana") -}}
{{- end }}

{{/* The dashboard ConfigMap: SuperSONIC 0.3.1's name, which its site files name in dashboardsConfigMaps. */}}
{{- define "supersonic.grafana.dashboardsConfigMapName" -}}
{{- include "supersonic.componentName" (dict "root" . "component" "grafana-default-dashboard") -}}
{{- end }}

{{/* "true" when the dashboard ConfigMap is rendered: for our Grafana, or for an existing one's sidecar. */}}
{{- define "supersonic.grafana.dashboardsRendered" -}}
{{- if or .Values.grafana.enabled .Values.grafana.dashboards.sidecar -}}true{{- end -}}
{{- end }}

{{/* Where Grafana keeps its data, and where the dashboards of provider <p> are mounted (below it). */}}
{{- define "supersonic.grafana.dataPath" -}}/var/lib/grafana{{- end }}

{{/*
The label matchers that select this release's Envoy series: its namespace and its pods by name,
as the chart's scrape labels them (the same shape as supersonic.serverLoad.tritonSelector).
*/}}
{{- define "supersonic.grafana.envoySelector" -}}
{{- printf "namespace=%q, pod=~%q" .Release.Namespace (printf "%s-[a-z0-9]+-[a-z0-9]+" (include "supersonic.envoy.fullname" .)) -}}
{{- end }}

{{/*
The dashboard's uid: unique per release in a Grafana that loads several releases' dashboards
(namespace and instance), short enough for Grafana's 40-character limit.
*/}}
{{- define "supersonic.grafana.dashboardUid" -}}
{{- printf "supersonic-%s" (printf "%s/%s" .Release.Namespace (include "supersonic.fullname" .) | sha256sum | trunc 16) -}}
{{- end }}

{{/* A string as it goes inside a JSON string: JSON-escaped, without the quotes. */}}
{{- define "supersonic.grafana.jsonText" -}}
{{- toJson (toString .) | trimPrefix "\"" | trimSuffix "\"" -}}
{{- end }}

{{/*
One dashboard of files/dashboards/ (written by the generator from generator/src/dashboards/),
with its placeholders replaced by this release's values. `replace`, never `tpl`: the JSON is not
a Go template, so Grafana's own `{{model}}` legends pass through untouched.
Call with (dict "root" $ "file" "default.json").
*/}}
{{- define "supersonic.grafana.dashboard" -}}
{{- $root := .root -}}
{{- $json := $root.Files.Get (printf "files/dashboards/%s" .file) -}}
{{- $values := dict
    "__SUPERSONIC_DASHBOARD_UID__" (include "supersonic.grafana.dashboardUid" $root)
    "__SUPERSONIC_INSTANCE__" (include "supersonic.fullname" $root)
    "__SUPERSONIC_NAMESPACE__" $root.Release.Namespace
    "__SUPERSONIC_TRITON_SELECTOR__" (include "supersonic.serverLoad.tritonSelector" (dict "root" $root))
    "__SUPERSONIC_ENVOY_SELECTOR__" (include "supersonic.grafana.envoySelector" $root)
    "__SUPERSONIC_SERVER_LOAD__" (include "supersonic.serverLoadMetric" $root)
    "__SUPERSONIC_SERVER_LOAD_THRESHOLD__" $root.Values.serverLoadThreshold -}}
{{- range $token, $value := $values }}
{{- $json = replace $token (include "supersonic.grafana.jsonText" $value) $json -}}
{{- end -}}
{{- $json -}}
{{- end }}

{{/*
grafana.ini as a map: the values' grafana.ini (the chart's defaults with the site's settings
merged over them), then what the chart fixes (paths, port) over that. An empty server.root_url
becomes the Ingress's first host, so Grafana's links and redirects use the address people open.
*/}}
{{- define "supersonic.grafana.iniMap" -}}
{{- $ini := deepCopy (index .Values "grafana" "grafana.ini" | default dict) -}}
{{- $data := include "supersonic.grafana.dataPath" . -}}
{{- $fixed := dict
    "paths" (dict "data" $data "plugins" (printf "%s/plugins" $data) "provisioning" "/etc/grafana/provisioning" "logs" "/var/log/grafana")
    "server" (dict "http_port" 3000) -}}
{{- $ini = mergeOverwrite $ini $fixed -}}
{{- $hosts := include "supersonic.ingressHosts" .Values.grafana.ingress | fromYamlArray -}}
{{- if and .Values.grafana.ingress.enabled $hosts (not (index $ini "server" "root_url")) -}}
{{- $_ := set (index $ini "server") "root_url" (printf "https://%s%s" (first $hosts) (trimSuffix "/" .Values.grafana.ingress.path)) -}}
{{- end -}}
{{- toYaml $ini -}}
{{- end }}

{{/* grafana.ini as Grafana reads it: top-level keys first, then each [section] in name order. */}}
{{- define "supersonic.grafana.ini" -}}
{{- $ini := include "supersonic.grafana.iniMap" . | fromYaml -}}
{{- range $key, $value := $ini }}{{ if not (kindIs "map" $value) }}
{{ $key }} = {{ $value }}
{{- end }}{{ end }}
{{- range $section, $keys := $ini }}{{ if kindIs "map" $keys }}
[{{ $section }}]
{{- range $key, $value := $keys }}
{{ $key }} = {{ $value }}
{{- end }}
{{ end }}{{ end }}
{{- end }}

{{/*
The datasources the chart derives from the release, by fixed uids the dashboards read:
prometheus (the Prometheus KEDA and the shedder read; its CA bundle when one is set) when the
release has one, and tempo when tempo.enabled.
*/}}
{{- define "supersonic.grafana.derivedDatasources" -}}
{{- $list := list -}}
{{- if include "supersonic.prometheus.available" . -}}
{{- $prometheus := dict "name" "prometheus" "uid" "prometheus" "type" "prometheus" "access" "proxy" "isDefault" true
    "url" (include "supersonic.prometheus.url" .) "jsonData" (dict "httpMethod" "POST" "timeInterval" "15s") -}}
{{- if include "supersonic.grafana.prometheusCa" . -}}
{{- $_ := set $prometheus.jsonData "tlsAuthWithCACert" true -}}
{{- $_ := set $prometheus "secureJsonData" (dict "tlsCACert" (printf "$__file{/etc/grafana/prometheus-ca/%s}" .Values.prometheus.external.caBundle.key)) -}}
{{- end -}}
{{- $list = append $list $prometheus -}}
{{- end -}}
{{- if .Values.tempo.enabled -}}
{{- $url := printf "http://%s:3100" (include "supersonic.serviceHost" (dict "root" . "service" (include "supersonic.componentName" (dict "root" . "component" "tempo")))) -}}
{{- $list = append $list (dict "name" "tempo" "uid" "tempo" "type" "tempo" "access" "proxy" "isDefault" false "url" $url
    "jsonData" (dict "serviceMap" (dict "datasourceUid" "prometheus") "nodeGraph" (dict "enabled" true) "tracesToMetrics" (dict "datasourceUid" "prometheus"))) -}}
{{- end -}}
{{- toYaml $list -}}
{{- end }}

{{/* "true" when the external Prometheus is reached over https with a CA bundle Grafana must mount. */}}
{{- define "supersonic.grafana.prometheusCa" -}}
{{- if include "supersonic.prometheus.caBundle" . -}}
{{- $address := include "supersonic.prometheus.address" . | fromYaml -}}
{{- if eq $address.scheme "https" }}true{{ end -}}
{{- end -}}
{{- end }}

{{/*
The datasources Grafana is provisioned with, as {datasources: [...], notes: [...]}: the derived
ones, each with the site's entry of the same name (grafana.datasources."datasources.yaml") merged
over it, then the site's other entries. A url without a scheme gets one (Grafana refuses it
otherwise): prometheus.external.scheme for a prometheus datasource, else http. Only one may be
the default: a site's own default wins over the derived one.
*/}}
{{- define "supersonic.grafana.datasourcesResult" -}}
{{- $site := dig "datasources.yaml" "datasources" list .Values.grafana.datasources -}}
{{- $derived := include "supersonic.grafana.derivedDatasources" . | fromYamlArray -}}
{{- $derivedNames := list -}}
{{- range $derived }}{{ $derivedNames = append $derivedNames .name }}{{ end -}}
{{- $siteDefault := false -}}
{{- range $site }}{{ if and (not (has .name $derivedNames)) .isDefault }}{{ $siteDefault = true }}{{ end }}{{ end -}}
{{- $out := list -}}
{{- range $derived -}}
{{- $entry := deepCopy . -}}
{{- if $siteDefault }}{{ $_ := set $entry "isDefault" false }}{{ end -}}
{{- $name := .name -}}
{{- range $site }}{{ if eq .name $name }}{{ $entry = mergeOverwrite $entry (deepCopy .) }}{{ end }}{{ end -}}
{{- $out = append $out $entry -}}
{{- end -}}
{{- range $site }}{{ if not (has .name $derivedNames) }}{{ $out = append $out (deepCopy .) }}{{ end }}{{ end -}}
{{- $notes := list -}}
{{- $fixed := list -}}
{{- range $out -}}
{{- $entry := . -}}
{{- if and .url (not (contains "://" (toString .url))) -}}
{{- $scheme := "http" -}}
{{- if and (eq (toString .type) "prometheus") $.Values.prometheus.external.enabled }}{{ $scheme = $.Values.prometheus.external.scheme }}{{ end -}}
{{- $notes = append $notes (printf "grafana.datasources: the url of datasource %q, %q, has no scheme (Grafana needs one); it is read as %s://%s." (toString .name) (toString .url) $scheme (toString .url)) -}}
{{- $_ := set $entry "url" (printf "%s://%s" $scheme (toString .url)) -}}
{{- end -}}
{{- $fixed = append $fixed $entry -}}
{{- end -}}
{{- toYaml (dict "datasources" $fixed "notes" $notes) -}}
{{- end }}

{{/* The datasources provisioning file. */}}
{{- define "supersonic.grafana.datasources" -}}
{{- $result := include "supersonic.grafana.datasourcesResult" . | fromYaml -}}
{{- toYaml (dict "apiVersion" 1 "datasources" $result.datasources) -}}
{{- end }}

{{/*
Provider name to dashboard ConfigMap: `default`, the chart's own, with grafana.dashboardsConfigMaps
merged over it (0.3.1's files name the chart's ConfigMap there, which changes nothing).
*/}}
{{- define "supersonic.grafana.dashboardsConfigMaps" -}}
{{- toYaml (merge (deepCopy (.Values.grafana.dashboardsConfigMaps | default dict)) (dict "default" (include "supersonic.grafana.dashboardsConfigMapName" .))) -}}
{{- end }}

{{/* The dashboard providers file: one file provider per ConfigMap, the site's providers merged over them by name. */}}
{{- define "supersonic.grafana.dashboardProviders" -}}
{{- $site := dig "dashboardproviders.yaml" "providers" list .Values.grafana.dashboardProviders -}}
{{- $names := list -}}
{{- $providers := list -}}
{{- range $provider, $_ := include "supersonic.grafana.dashboardsConfigMaps" . | fromYaml -}}
{{- $entry := dict "name" $provider "orgId" 1 "folder" "" "type" "file" "disableDeletion" false "editable" true "allowUiUpdates" false
    "options" (dict "path" (printf "%s/dashboards/%s" (include "supersonic.grafana.dataPath" $) $provider)) -}}
{{- range $site }}{{ if eq .name $provider }}{{ $entry = mergeOverwrite $entry (deepCopy .) }}{{ end }}{{ end -}}
{{- $names = append $names $provider -}}
{{- $providers = append $providers $entry -}}
{{- end -}}
{{- range $site }}{{ if not (has .name $names) }}{{ $providers = append $providers (deepCopy .) }}{{ end }}{{ end -}}
{{- toYaml (dict "apiVersion" 1 "providers" $providers) -}}
{{- end }}

{{/*
The administrator's credentials: {secret, userKey, passwordKey, generated}. admin.existingSecret
when set; else the chart's Secret <instance>-grafana, whose password is adminPassword, else the
one the Secret already holds (lookup, on a real install or upgrade), else a new random one
(generated: true, as on a first install and wherever lookup cannot run).
*/}}
{{- define "supersonic.grafana.admin" -}}
{{- if .Values.grafana.admin.existingSecret -}}
{{- toYaml (dict "secret" .Values.grafana.admin.existingSecret "userKey" .Values.grafana.admin.userKey "passwordKey" .Values.grafana.admin.passwordKey "generated" false "own" false) -}}
{{- else -}}
{{- $name := include "supersonic.grafana.fullname" . -}}
{{- $password := .Values.grafana.adminPassword -}}
{{- $generated := false -}}
{{- if not $password -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace $name -}}
{{- $password = (dig "data" "admin-password" "" ($existing | default dict)) | b64dec -}}
{{- if not $password }}{{ $password = randAlphaNum 32 }}{{ $generated = true }}{{ end -}}
{{- end -}}
{{- toYaml (dict "secret" $name "userKey" "admin-user" "passwordKey" "admin-password" "generated" $generated "own" true "password" $password) -}}
{{- end -}}
{{- end }}

{{/* Checks JSON Schema cannot express; each message names the keys to set. */}}
{{- define "supersonic.grafana.validate" -}}
{{- if and .Values.grafana.ingress.enabled (not (include "supersonic.ingressHosts" .Values.grafana.ingress | fromYamlArray)) -}}
{{- fail "grafana.ingress.enabled needs a host name: set grafana.ingress.hostName (or grafana.ingress.hosts)" -}}
{{- end -}}
{{- include "supersonic.prometheus.validate" . -}}
{{- end }}

{{/* NOTES lines about Grafana (the lead includes them in NOTES.txt); empty when there is nothing to say. */}}
{{- define "supersonic.grafana.notes" -}}
{{- if .Values.grafana.enabled -}}
{{- $ini := include "supersonic.grafana.iniMap" . | fromYaml -}}
{{- $anonymous := index $ini "auth.anonymous" | default dict -}}
{{- $ns := .Release.Namespace -}}
{{- if and $anonymous.enabled (eq (lower (toString ($anonymous.org_role | default "Viewer"))) "admin") }}
WARNING: grafana.ini auth.anonymous gives everyone who reaches Grafana (org_role Admin) administrator rights{{ if .Values.grafana.ingress.enabled }}, through its Ingress too{{ end }}. Set grafana.ini."auth.anonymous".enabled to false, or org_role to Viewer.
{{- else if $anonymous.enabled }}
WARNING: grafana.ini auth.anonymous is enabled: everyone who reaches Grafana sees it as {{ $anonymous.org_role | default "Viewer" }}.
{{- end }}
{{- if eq .Values.grafana.adminPassword "admin" }}
WARNING: grafana.adminPassword is "admin", a well-known password. Remove it (a random one is generated and kept) or use grafana.admin.existingSecret.
{{- end }}
{{- $ours := include "supersonic.grafana.dashboardsConfigMapName" . -}}
{{- range $provider, $configMap := .Values.grafana.dashboardsConfigMaps }}{{ if ne $configMap $ours }}
WARNING: grafana.dashboardsConfigMaps.{{ $provider }} names the ConfigMap {{ $configMap }}, which this release does not create (its dashboards are in {{ $ours }}). Grafana shows its dashboards once it exists in namespace {{ $ns }}.
{{- end }}{{ end }}
{{- $datasources := include "supersonic.grafana.datasourcesResult" . | fromYaml -}}
{{- range $datasources.notes }}
NOTE: {{ . }}
{{- end }}
{{- $services := include "supersonic.monitoringServices" . | fromYamlArray -}}
{{- range $ds := $datasources.datasources }}{{ with include "supersonic.unknownService" (dict "root" $ "endpoint" (toString ($ds.url | default "")) "services" $services) }}
WARNING: grafana.datasources: datasource {{ $ds.name | toString | quote }} reads {{ $ds.url | toString | quote }}, which names the Service {{ . | quote }} that this release does not create{{ if $services }} (its monitoring Services are {{ join ", " $services }}){{ end }}. Unless that Service exists in namespace {{ $.Release.Namespace }}, its panels stay empty; remove the datasource's url to use the release's own.
{{- end }}{{ end }}
{{- if not (include "supersonic.prometheus.available" .) }}{{ if not (dig "datasources.yaml" "datasources" list .Values.grafana.datasources) }}
WARNING: grafana.enabled, but the release reads no Prometheus (prometheus.external or prometheus.enabled): Grafana has no datasource and the dashboards stay empty.
{{- end }}{{ end }}
{{- $admin := include "supersonic.grafana.admin" . | fromYaml }}

Grafana
  In the cluster: http://{{ include "supersonic.serviceHost" (dict "root" . "service" (include "supersonic.grafana.fullname" .)) }}
{{- range include "supersonic.ingressHosts" .Values.grafana.ingress | fromYamlArray }}{{ if $.Values.grafana.ingress.enabled }}
  Through Ingress: https://{{ . }}
{{- end }}{{ end }}
  Admin password: kubectl -n {{ $ns }} get secret {{ $admin.secret }} -o jsonpath='{.data.{{ $admin.passwordKey }}}' | base64 -d
{{- if $admin.generated }}
  (generated; kept across upgrades. Grafana sets it on its first start only: after that, change it in Grafana.)
{{- end }}
{{- else if .Values.grafana.dashboards.sidecar }}

Grafana dashboards: ConfigMap {{ include "supersonic.grafana.dashboardsConfigMapName" . }} (labels {{ range $k, $v := .Values.grafana.dashboards.labels }}{{ $k }}={{ $v }} {{ end }}) for your Grafana's sidecar; they read the datasource uid "prometheus".
{{- end -}}
{{- end }}
