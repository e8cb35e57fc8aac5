{{/*
Holding requests in Envoy while Triton scales up from zero (keda.wakeOnRequest.hold;
docs/autoscaling.md, "Holding the request"). The route's cluster is then the aggregate cluster
triton_hold over [triton, triton_wait]: `triton` is the usual cluster of the headless Service's
pods; `triton_wait` is one address, the ClusterIP Service <instance>-triton-wait. While Envoy has
no healthy Triton pod, the aggregate sends the request to triton_wait; with no ready pod behind
the Service, kube-proxy refuses the connection (under IPVS it times out within connect_timeout),
a connect failure, which the route retries with back-off until a pod is ready or the bound is
reached. Nothing reached Triton on a connect failure, so the retry is safe for inference.
*/}}

{{/* "true" when Envoy holds requests: keda.enabled, Triton may scale to zero, and hold.enabled. */}}
{{- define "supersonic.keda.hold" -}}
{{- if and .Values.keda.enabled .Values.envoy.enabled .Values.keda.wakeOnRequest.hold.enabled (include "supersonic.keda.scaleToZero" .) -}}true{{- end -}}
{{- end }}

{{/* The ClusterIP Service Envoy's triton_wait cluster connects to. */}}
{{- define "supersonic.keda.holdServiceName" -}}
{{- include "supersonic.componentName" (dict "root" . "component" "triton-wait") -}}
{{- end }}

{{/*
Retries of a held request. Envoy's back-off is exponential and fully jittered: before retry N it
waits a random time in [0, min((2^N - 1) x base_interval, max_interval)), so never more than
max_interval (hold.retryIntervalSeconds). Each attempt takes at most triton_wait's connect
timeout (1 s). The first attempt plus N retries therefore take at most
1 + N x (retryIntervalSeconds + 1) seconds; N is the largest count within hold.maxSeconds.
*/}}
{{- define "supersonic.keda.holdRetries" -}}
{{- div (sub (int .Values.keda.wakeOnRequest.hold.maxSeconds) 1) (add (int .Values.keda.wakeOnRequest.hold.retryIntervalSeconds) 1) -}}
{{- end }}

{{/* The longest a request can be held, in seconds: the bound above, at most hold.maxSeconds. */}}
{{- define "supersonic.keda.holdBound" -}}
{{- add 1 (mul (int (include "supersonic.keda.holdRetries" .)) (add (int .Values.keda.wakeOnRequest.hold.retryIntervalSeconds) 1)) -}}
{{- end }}

{{/*
Circuit breakers of the three clusters. A request waiting for its next retry holds one of
Envoy's concurrent retries (max_retries, 3 by default), on the route's cluster (the aggregate)
and on the cluster the failed attempt went to; both are checked, independently, so the limit is
raised on all three. Past it, a request is answered at once, as without holding.
*/}}
{{- define "supersonic.keda.holdCircuitBreakers" -}}
circuit_breakers:
  thresholds:
    - priority: DEFAULT
      max_retries: {{ int .Values.keda.wakeOnRequest.hold.maxRequests }}
{{- end }}

{{/* Checks of the hold's values; each message names the keys to set. */}}
{{- define "supersonic.keda.holdValidate" -}}
{{- if .Values.envoy.external_config.load_from_configmap -}}
  {{- fail "keda.wakeOnRequest.hold needs the chart's Envoy configuration; with envoy.external_config.load_from_configmap, configure holding in your own Envoy configuration and set keda.wakeOnRequest.hold.enabled to false" -}}
{{- end -}}
{{- if lt (int (include "supersonic.keda.holdRetries" .)) 1 -}}
  {{- fail (printf "keda.wakeOnRequest.hold.maxSeconds (%v) leaves no retry: it must be at least keda.wakeOnRequest.hold.retryIntervalSeconds + 2 (%d)" .Values.keda.wakeOnRequest.hold.maxSeconds (add (int .Values.keda.wakeOnRequest.hold.retryIntervalSeconds) 2)) -}}
{{- end -}}
{{- $timeout := float64 (trimSuffix "s" .Values.envoy.grpc_route_timeout) -}}
{{- $bound := int (include "supersonic.keda.holdBound" .) -}}
{{- if and (gt $timeout 0.0) (lt $timeout (float64 $bound)) -}}
  {{- fail (printf "envoy.grpc_route_timeout (%s) is shorter than the hold of keda.wakeOnRequest.hold (up to %d s): the route timeout would end the hold with a 504 instead of the answer a client can retry on. Raise envoy.grpc_route_timeout above %ds (or 0s), or lower keda.wakeOnRequest.hold.maxSeconds" .Values.envoy.grpc_route_timeout $bound $bound) -}}
{{- end -}}
{{- end }}
