{{/* Object names of the webhook component. */}}
{{/*
Fails the render when another release's webhook already selects namespaces by the same label
value: both would patch every pod there. `lookup` sees nothing in `helm template` and
client-side dry runs, so only a real install or upgrade is checked; it writes nothing.
*/}}
{{- define "supersonic.webhook.validateNamespaceLabel" -}}
{{- $value := .Values.webhook.namespaceLabelValue -}}
{{- $ours := include "supersonic.webhook.configurationName" . -}}
{{- $release := .Release.Name -}}
{{- range (lookup "admissionregistration.k8s.io/v1" "MutatingWebhookConfiguration" "" "").items | default list -}}
{{- $labels := .metadata.labels | default dict -}}
{{- $other := index $labels "app.kubernetes.io/instance" | default .metadata.name -}}
{{- if and (ne .metadata.name $ours) (eq (index $labels "app.kubernetes.io/name" | default "") "supersonic") (eq (index $labels "app.kubernetes.io/component" | default "") "webhook") -}}
{{- range .webhooks -}}
{{- if eq (index ((.namespaceSelector | default dict).matchLabels | default dict) "supersonic.fastmachinelearning.org/inject" | default "") $value -}}
{{- fail (printf "the webhook of SuperSONIC release %s already mutates the namespaces labelled supersonic.fastmachinelearning.org/inject=%s, and two webhooks would both patch every pod there: give this release its own value (--set webhook.namespaceLabelValue=%s) and label its namespaces with it" $other $value $release) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end }}

{{- define "supersonic.webhook.fullname" -}}
{{- include "supersonic.componentName" (dict "root" . "component" "webhook") -}}
{{- end }}

{{/*
The MutatingWebhookConfiguration is cluster-scoped: its name carries the namespace too, so two
releases of the same name in different namespaces do not collide.
*/}}
{{- define "supersonic.webhook.configurationName" -}}
{{- printf "%s-%s" .Release.Namespace (include "supersonic.webhook.fullname" .) | trunc 253 | trimSuffix "-" -}}
{{- end }}

{{/* Whether cert-manager issues the serving certificate: asked for, or auto and installed. */}}
{{- define "supersonic.webhook.useCertManager" -}}
{{- if eq .Values.webhook.tls.mode "certManager" -}}
{{- if not (.Capabilities.APIVersions.Has "cert-manager.io/v1") -}}
{{- fail "webhook.tls.mode is certManager, but the cluster does not serve cert-manager.io/v1: install cert-manager, or set webhook.tls.mode to auto or selfManaged" -}}
{{- end -}}
true
{{- else if and (eq .Values.webhook.tls.mode "auto") (.Capabilities.APIVersions.Has "cert-manager.io/v1") -}}
true
{{- end -}}
{{- end }}

{{- define "supersonic.webhook.tlsSecretName" -}}
{{- include "supersonic.webhook.fullname" . }}-tls
{{- end }}

{{/*
The auth sidecar's Envoy bootstrap, which the webhook passes to each sidecar it injects: a
listener on listenPort that checks JWTs and forwards to the app on localhost:upstreamPort.
*/}}
{{- define "supersonic.webhook.authSidecarBootstrap" -}}
{{- $jwks := include "supersonic.parseUrl" (dict "url" .Values.webhook.injection.auth.jwksUri "scheme" "https" "port" 443) | fromYaml -}}
static_resources:
  listeners:
    - name: auth
      address:
        socket_address: { address: 0.0.0.0, port_value: {{ .Values.webhook.injection.auth.listenPort }} }
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: auth
                codec_type: AUTO
                route_config:
                  name: app
                  virtual_hosts:
                    - name: app
                      domains: ["*"]
                      routes:
                        - match: { prefix: "/" }
                          route: { cluster: app, timeout: 0s }
                http_filters:
                  - name: envoy.filters.http.jwt_authn
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication
                      providers:
                        issuer:
                          issuer: {{ .Values.webhook.injection.auth.issuer | toJson }}
                          {{- with .Values.webhook.injection.auth.audiences }}
                          audiences: {{ toJson . }}
                          {{- end }}
                          remote_jwks:
                            http_uri:
                              uri: {{ .Values.webhook.injection.auth.jwksUri | toJson }}
                              cluster: jwks
                              timeout: 5s
                            cache_duration: 300s
                            async_fetch: {}
                      rules:
                        - match: { prefix: "/" }
                          requires: { provider_name: issuer }
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
    - name: app
      type: STATIC
      connect_timeout: 1s
      typed_extension_protocol_options:
        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
          "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
          # The app's protocol, whichever the client speaks (gRPC clients speak HTTP/2).
          use_downstream_protocol_config: {}
      load_assignment:
        cluster_name: app
        endpoints:
          - lb_endpoints:
              - endpoint:
                  address:
                    socket_address: { address: 127.0.0.1, port_value: {{ .Values.webhook.injection.auth.upstreamPort }} }
    - name: jwks
      type: LOGICAL_DNS
      connect_timeout: 5s
      dns_lookup_family: V4_PREFERRED
      load_assignment:
        cluster_name: jwks
        endpoints:
          - lb_endpoints:
              - endpoint:
                  address:
                    socket_address: { address: {{ $jwks.host | toJson }}, port_value: {{ $jwks.port }} }
      {{- if eq $jwks.scheme "https" }}
      {{- include "supersonic.envoy.upstreamTls" (dict "host" $jwks.host "ca" "/etc/ssl/certs/ca-certificates.crt") | nindent 6 }}
      {{- end }}
{{- end }}
