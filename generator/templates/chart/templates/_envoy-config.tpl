{{/*
Envoy's bootstrap configuration, generated from values. Strings go through toJson, which
quotes them safely for YAML. The admin interface listens on localhost only; a separate
listener exposes /ready and /stats/prometheus for probes and scraping.
*/}}
{{- define "supersonic.envoy.config" -}}
{{- $grpc := include "supersonic.envoy.grpcPort" . | fromYaml -}}
{{- $tritonGrpc := include "supersonic.portNamed" (dict "ports" .Values.triton.service.ports "name" "grpc") | fromYaml -}}
{{- $tritonHttp := include "supersonic.portNamed" (dict "ports" .Values.triton.service.ports "name" "http") | fromYaml -}}
{{- $tritonHost := include "supersonic.serviceHost" (dict "root" . "service" (include "supersonic.triton.fullname" .)) -}}
{{- $provider := .Values.envoy.auth.providerName | default (include "supersonic.fullname" .) | toJson -}}
{{- $prometheus := include "supersonic.prometheus.address" . | fromYaml -}}
{{- $jwks := include "supersonic.envoy.jwksAddress" . | fromYaml -}}
{{- $hold := include "supersonic.keda.hold" . -}}
admin:
  address:
    socket_address: { address: 127.0.0.1, port_value: 9901 }
static_resources:
  listeners:
    - name: grpc
      address:
        socket_address: { address: 0.0.0.0, port_value: {{ $grpc.targetPort }} }
      {{- if $hold }}
      # A held request's body is buffered for its retries up to the smaller of this and the
      # route's per_request_buffer_limit_bytes (Envoy's default here is 1 MiB).
      per_connection_buffer_limit_bytes: {{ max (int .Values.keda.wakeOnRequest.hold.bufferBytes) 1048576 }}
      {{- end }}
      {{- if .Values.envoy.rate_limiter.listener_level.enabled }}
      # A token bucket on new connections, per Envoy pod.
      listener_filters:
        - name: envoy.filters.listener.local_ratelimit
          typed_config:
            "@type": type.googleapis.com/envoy.extensions.filters.listener.local_ratelimit.v3.LocalRateLimit
            stat_prefix: connection_rate_limiter
            token_bucket:
              max_tokens: {{ .Values.envoy.rate_limiter.listener_level.max_tokens }}
              tokens_per_fill: {{ .Values.envoy.rate_limiter.listener_level.tokens_per_fill }}
              fill_interval: {{ .Values.envoy.rate_limiter.listener_level.fill_interval }}
      {{- end }}
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: grpc
                codec_type: AUTO
                generate_request_id: true
                # While no Triton pod is ready (scale from zero, a rollout of one replica) or one
                # cannot be reached, Envoy answers at once: gRPC UNAVAILABLE, HTTP 503. Retry-After
                # says when trying again makes sense: KEDA's next poll when it scales Triton,
                # else Envoy's next DNS refresh and health check.
                local_reply_config:
                  mappers:
                    - filter:
                        response_flag_filter: { flags: [UH, UF] }
                      headers_to_add:
                        - header: { key: retry-after, value: {{ ternary .Values.keda.pollingInterval 5 .Values.keda.enabled | toString | quote }} }
                          append_action: OVERWRITE_IF_EXISTS_OR_ADD
                {{- if include "supersonic.tracing.envoy" . }}
                tracing:
                  random_sampling: { value: {{ mulf .Values.envoy.tracing_sampling_rate 100 }} }
                  provider:
                    name: envoy.tracers.opentelemetry
                    typed_config:
                      "@type": type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig
                      grpc_service:
                        envoy_grpc: { cluster_name: opentelemetry_collector }
                        timeout: 0.250s
                      service_name: {{ include "supersonic.envoy.fullname" . | toJson }}
                {{- end }}
                route_config:
                  name: triton
                  virtual_hosts:
                    - name: triton
                      domains: ["*"]
                      routes:
                        - match: { prefix: "/" }
                          {{- if $hold }}
                          # A body larger than this is not buffered, so not retried: its request
                          # gets the immediate answer.
                          per_request_buffer_limit_bytes: {{ int .Values.keda.wakeOnRequest.hold.bufferBytes }}
                          {{- end }}
                          route:
                            {{- if $hold }}
                            # Holding (keda.wakeOnRequest.hold): the aggregate of the pods and of
                            # the ClusterIP Service, and retries of refused connections.
                            cluster: triton_hold
                            {{- else }}
                            cluster: triton
                            {{- end }}
                            timeout: {{ .Values.envoy.grpc_route_timeout }}
                            {{- if $hold }}
                            # At most {{ include "supersonic.keda.holdBound" . }} s in all: see supersonic.keda.holdRetries.
                            retry_policy:
                              retry_on: connect-failure
                              num_retries: {{ include "supersonic.keda.holdRetries" . }}
                              retry_back_off:
                                base_interval: 0.25s
                                max_interval: {{ int .Values.keda.wakeOnRequest.hold.retryIntervalSeconds }}s
                            {{- end }}
                            {{- if has .Values.envoy.loadBalancerPolicy (list "RING_HASH" "MAGLEV") }}
                            # Consistent hashing keeps each client on one Triton pod.
                            hash_policy:
                              - connection_properties: { source_ip: true }
                            {{- end }}
                          {{- if .Values.envoy.rate_limiter.prometheus_based.enabled }}
                          # Settings of the load shedder (envoy-load-shedder.lua), read with handle:metadata().
                          metadata:
                            filter_metadata:
                              envoy.filters.http.lua:
                                mode: {{ .Values.envoy.rate_limiter.prometheus_based.mode }}
                                threshold: {{ .Values.serverLoadThreshold }}
                                query: {{ include "supersonic.serverLoadMetric" . | toJson }}
                                cluster: prometheus
                                authority: {{ $prometheus.host | toJson }}
                                path: {{ printf "%s/api/v1/query" $prometheus.path | toJson }}
                                refresh_seconds: {{ .Values.envoy.rate_limiter.prometheus_based.refreshSeconds }}
                                timeout_ms: {{ .Values.envoy.rate_limiter.prometheus_based.timeoutMs }}
                                fail_open: {{ .Values.envoy.rate_limiter.prometheus_based.failOpen }}
                          {{- end }}
                http_filters:
                  {{- if .Values.envoy.auth.enabled }}
                  # Tokens are checked first, so unauthenticated calls never reach the load shedder.
                  - name: envoy.filters.http.jwt_authn
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication
                      providers:
                        {{ $provider }}:
                          issuer: {{ .Values.envoy.auth.jwt_issuer | toJson }}
                          {{- with .Values.envoy.auth.audiences }}
                          audiences: {{ toJson . }}
                          {{- end }}
                          remote_jwks:
                            http_uri:
                              uri: {{ .Values.envoy.auth.jwt_remote_jwks_uri | toJson }}
                              cluster: jwks
                              timeout: 5s
                            cache_duration: 300s
                            # Fetch the keys at start-up, not on the first request.
                            async_fetch: {}
                      rules:
                        - match: { prefix: "/" }
                          requires: { provider_name: {{ $provider }} }
                  {{- end }}
                  {{- if .Values.envoy.rate_limiter.prometheus_based.enabled }}
                  - name: envoy.filters.http.lua
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua
                      default_source_code:
                        filename: /etc/envoy/lua/envoy-load-shedder.lua
                  {{- end }}
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
    - name: metrics
      address:
        socket_address: { address: 0.0.0.0, port_value: {{ .Values.envoy.metrics.port }} }
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: metrics
                codec_type: AUTO
                route_config:
                  name: metrics
                  virtual_hosts:
                    - name: metrics
                      domains: ["*"]
                      # Only these two admin paths leave the pod.
                      routes:
                        - match: { path: /ready }
                          route: { cluster: admin }
                        - match: { path: /stats/prometheus }
                          route: { cluster: admin }
                http_filters:
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
    # Every ready Triton pod, from the headless Service's DNS records, over HTTP/2.
    - name: triton
      type: STRICT_DNS
      connect_timeout: 1s
      lb_policy: {{ .Values.envoy.loadBalancerPolicy }}
      # A pod that leaves DNS (it is shutting down) stops receiving requests at once, instead
      # of staying until it fails a health check.
      ignore_health_on_host_removal: true
      typed_extension_protocol_options:
        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
          "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
          explicit_http_config:
            http2_protocol_options: {}
      {{- if $hold }}
      {{- include "supersonic.keda.holdCircuitBreakers" . | nindent 6 }}
      {{- end }}
      load_assignment:
        cluster_name: triton
        {{- if $hold }}
        # With holding, the aggregate keeps every request on these pods while any of them is
        # healthy (1% healthy counts as 100%), instead of spilling a share to triton_wait as
        # soon as fewer than 71% (the default factor, 140) are.
        policy: { overprovisioning_factor: 10000 }
        {{- end }}
        endpoints:
          - lb_endpoints:
              - endpoint:
                  address:
                    socket_address: { address: {{ $tritonHost }}, port_value: {{ $tritonGrpc.targetPort }} }
                  # Health checks go to Triton's HTTP port.
                  health_check_config: { port_value: {{ $tritonHttp.targetPort }} }
      health_checks:
        - timeout: 2s
          interval: {{ .Values.envoy.upstreamHealth.healthCheckInterval }}
          unhealthy_threshold: {{ .Values.envoy.upstreamHealth.unhealthyThreshold }}
          healthy_threshold: 1
          http_health_check:
            path: /v2/health/ready
      # Ejects a pod after consecutive gateway errors (connection failures, 502/503/504), not
      # after errors Triton returns for bad requests, which a single client could provoke.
      outlier_detection:
        consecutive_gateway_failure: {{ .Values.envoy.upstreamHealth.consecutiveErrors }}
        enforcing_consecutive_gateway_failure: 100
        enforcing_consecutive_5xx: 0
        base_ejection_time: {{ .Values.envoy.upstreamHealth.baseEjectionTime }}
        max_ejection_percent: 50
    {{- if $hold }}
    # Holding (keda.wakeOnRequest.hold): the route's cluster. The pods first; while none is
    # healthy (or the headless name resolves to none), triton_wait.
    - name: triton_hold
      connect_timeout: 1s
      lb_policy: CLUSTER_PROVIDED
      cluster_type:
        name: envoy.clusters.aggregate
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.clusters.aggregate.v3.ClusterConfig
          clusters: [triton, triton_wait]
      {{- include "supersonic.keda.holdCircuitBreakers" . | nindent 6 }}
    # One address, the ClusterIP Service of Triton's gRPC port: refused (or timed out) while no
    # Triton pod is ready, so the route retries; served by a ready pod before Envoy's DNS refresh
    # and health check put it into triton. No health check: it would only mark the one host
    # unhealthy while the Service has no pod, which is when it is needed.
    {{- $wait := include "supersonic.serviceHost" (dict "root" . "service" (include "supersonic.keda.holdServiceName" .)) }}
    - name: triton_wait
      type: STRICT_DNS
      connect_timeout: 1s
      typed_extension_protocol_options:
        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
          "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
          # Its connection goes to one pod through kube-proxy: close it once idle, when triton serves.
          common_http_protocol_options: { idle_timeout: 60s }
          explicit_http_config:
            http2_protocol_options: {}
      {{- include "supersonic.keda.holdCircuitBreakers" . | nindent 6 }}
      load_assignment:
        cluster_name: triton_wait
        endpoints:
          - lb_endpoints:
              - endpoint:
                  address:
                    socket_address: { address: {{ $wait }}, port_value: {{ $tritonGrpc.port }} }
    {{- end }}
    - name: admin
      type: STATIC
      connect_timeout: 1s
      load_assignment:
        cluster_name: admin
        endpoints:
          - lb_endpoints:
              - endpoint:
                  address:
                    socket_address: { address: 127.0.0.1, port_value: 9901 }
    {{- if .Values.envoy.auth.enabled }}
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
      {{- include "supersonic.envoy.upstreamTls" (dict "host" $jwks.host "ca" (include "supersonic.envoy.caFile" (dict "bundle" .Values.envoy.auth.caBundle "name" "jwks"))) | nindent 6 }}
      {{- end }}
    {{- end }}
    {{- if .Values.envoy.rate_limiter.prometheus_based.enabled }}
    - name: prometheus
      type: LOGICAL_DNS
      connect_timeout: 5s
      dns_lookup_family: V4_PREFERRED
      load_assignment:
        cluster_name: prometheus
        endpoints:
          - lb_endpoints:
              - endpoint:
                  address:
                    socket_address: { address: {{ $prometheus.host | toJson }}, port_value: {{ $prometheus.port }} }
      {{- if eq $prometheus.scheme "https" }}
      {{- include "supersonic.envoy.upstreamTls" (dict "host" $prometheus.host "ca" (include "supersonic.envoy.caFile" (dict "bundle" .Values.prometheus.external.caBundle "name" "prometheus"))) | nindent 6 }}
      {{- end }}
    {{- end }}
    {{- if include "supersonic.tracing.envoy" . }}
    {{- /* envoy.tracing.collectorHost, else the chart's collector (opentelemetry-collector.enabled). */}}
    {{- $collector := include "supersonic.tracing.envoyCollector" . | fromYaml }}
    - name: opentelemetry_collector
      type: STRICT_DNS
      connect_timeout: 1s
      typed_extension_protocol_options:
        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
          "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
          explicit_http_config:
            http2_protocol_options: {}
      load_assignment:
        cluster_name: opentelemetry_collector
        endpoints:
          - lb_endpoints:
              - endpoint:
                  address:
                    socket_address: { address: {{ $collector.host | toJson }}, port_value: {{ $collector.port }} }
    {{- end }}
{{- end }}

{{/*
TLS toward a server outside the cluster: the server name is sent (SNI) and its certificate must
chain to the CAs in .ca (the system CAs, or a site's bundle) and name that host.
Call with (dict "host" <host> "ca" <file>).
*/}}
{{- define "supersonic.envoy.upstreamTls" -}}
transport_socket:
  name: envoy.transport_sockets.tls
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
    sni: {{ .host | toJson }}
    common_tls_context:
      validation_context:
        trusted_ca: { filename: {{ .ca }} }
        match_typed_subject_alt_names:
          - san_type: DNS
            matcher: { exact: {{ .host | toJson }} }
{{- end }}

{{/*
Where Envoy finds the CAs for an upstream: a site's bundle (a ConfigMap or Secret, mounted by
envoy-deployment.yaml at /etc/envoy/ca/<name>/ca.crt), else the image's system CAs.
Call with (dict "bundle" <caBundle values> "name" "jwks"|"prometheus").
*/}}
{{- define "supersonic.envoy.caFile" -}}
{{- if or .bundle.configMap .bundle.secret -}}
/etc/envoy/ca/{{ .name }}/ca.crt
{{- else -}}
/etc/ssl/certs/ca-certificates.crt
{{- end -}}
{{- end }}
