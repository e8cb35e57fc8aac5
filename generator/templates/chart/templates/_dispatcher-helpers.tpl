{{/* Object names and the render gate of the Knative dispatcher. */}}
{{- define "supersonic.dispatcher.fullname" -}}
{{- include "supersonic.componentName" (dict "root" . "component" "dispatcher") -}}
{{- end }}

{{/*
The name of the dispatcher's ClusterRole and ClusterRoleBinding, and of its Role and RoleBinding
in the models' namespace: they carry the release namespace too, so two releases of the same name
in different namespaces (sharing one models' namespace, say) do not collide.
*/}}
{{- define "supersonic.dispatcher.rbacName" -}}
{{- printf "%s-%s" .Release.Namespace (include "supersonic.dispatcher.fullname" .) | trunc 253 | trimSuffix "-" -}}
{{- end }}

{{/* Where the models' Knative Services and Secrets live: serviceNamespace, else the release's. */}}
{{- define "supersonic.dispatcher.serviceNamespace" -}}
{{- .Values.dispatcher.serviceNamespace | default .Release.Namespace -}}
{{- end }}

{{/*
"true" when the dispatcher is rendered: dispatcher.enabled, and the cluster serves Knative
Serving's API. Enabled without it, the render fails: every request would end in an error,
since the dispatcher's whole job is to create Knative Services.
*/}}
{{- define "supersonic.dispatcher.active" -}}
{{- if .Values.dispatcher.enabled -}}
{{- if not (.Capabilities.APIVersions.Has "serving.knative.dev/v1") -}}
{{- fail "dispatcher.enabled is true, but the cluster does not serve serving.knative.dev/v1: the dispatcher creates a Knative Service per model, so Knative Serving must be installed first (https://knative.dev/docs/install/), or set dispatcher.enabled to false. With helm template, pass --api-versions serving.knative.dev/v1" -}}
{{- end -}}
true
{{- end -}}
{{- end }}

{{/* "true" when the gateway checks tokens with a site CA for its issuer: the dispatcher mounts it too. */}}
{{- define "supersonic.dispatcher.jwksCaMounted" -}}
{{- if and .Values.envoy.auth.enabled (or .Values.envoy.auth.caBundle.configMap .Values.envoy.auth.caBundle.secret) -}}
true
{{- end -}}
{{- end }}
