{{/*
Names. Every object name starts with the instance name, so several releases share a namespace
and no name is hard-coded. Labels and selectors never contain the instance name: they use the
release name, which cannot change, so nameOverride can change on upgrade.
*/}}

{{/* The chart name, for app.kubernetes.io/name. */}}
{{- define "supersonic.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end }}

{{/*
The instance name: fullnameOverride, else nameOverride, else the release name (as in
SuperSONIC 0.3, so client endpoints such as supersonic.cms.svc.cluster.local keep working).
*/}}
{{- define "supersonic.fullname" -}}
{{- $name := .Values.fullnameOverride | default .Values.nameOverride | default .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- /* Release names may contain dots or start with a digit; Service names may not. */ -}}
{{- if not (regexMatch "^[a-z]([-a-z0-9]*[a-z0-9])?$" $name) -}}
{{- fail (printf "the instance name %q (the release name, unless nameOverride or fullnameOverride is set) cannot name a Service: it must start with a letter and hold only lower-case letters, digits and \"-\". Set nameOverride to such a name." $name) -}}
{{- end -}}
{{- $name -}}
{{- end }}

{{/*
The name of one component's objects: "<instance>-<component>", with the instance name cut so
that the whole stays a valid DNS label (63 characters).
Call with (dict "root" $ "component" "triton").
*/}}
{{- define "supersonic.componentName" -}}
{{- $suffix := printf "-%s" .component -}}
{{- $prefix := include "supersonic.fullname" .root | trunc (int (sub 63 (len $suffix))) | trimSuffix "-" -}}
{{- printf "%s%s" $prefix $suffix -}}
{{- end }}

{{- define "supersonic.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end }}

{{/*
Selector labels of one component: only name, instance and component, never anything that can
change after install (selectors of Deployments are immutable).
Call with (dict "root" $ "component" "triton").
*/}}
{{- define "supersonic.selectorLabels" -}}
app.kubernetes.io/name: {{ include "supersonic.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
Fails the render when a Deployment of this name already exists with other selector labels, which
Kubernetes would refuse to change ("field is immutable") half-way through the upgrade. That is
what a SuperSONIC 0.3.1 release with nameOverride has: its selectors carry the instance name
where this chart's carry the release name. `lookup` sees nothing in `helm template` and
client-side dry runs, so only a real install or upgrade is checked.
Call with (dict "root" $ "component" "triton" "name" <Deployment name>).
*/}}
{{- define "supersonic.validateSelector" -}}
{{- $existing := lookup "apps/v1" "Deployment" .root.Release.Namespace .name -}}
{{- if $existing -}}
{{- $current := $existing.spec.selector.matchLabels | default dict -}}
{{- $wanted := include "supersonic.selectorLabels" (dict "root" .root "component" .component) | fromYaml -}}
{{- if not (eq (toJson $current) (toJson $wanted)) -}}
{{- $ns := .root.Release.Namespace -}}
{{- fail (printf "Deployment %s in namespace %s selects its pods by %s, and this chart selects them by %s (the release name, not nameOverride, as SuperSONIC 0.3.1 did). Kubernetes cannot change a Deployment's selector, so the upgrade would stop half-way. Delete the old Deployments without their pods, upgrade, then delete the old ReplicaSets once the new pods are ready: kubectl -n %s delete deployment -l app.kubernetes.io/instance=%s --cascade=orphan; helm upgrade ...; kubectl -n %s delete replicaset -l app.kubernetes.io/instance=%s" .name $ns (toJson $current) (toJson $wanted) $ns (index $current "app.kubernetes.io/instance" | default "<old instance>") $ns (index $current "app.kubernetes.io/instance" | default "<old instance>")) -}}
{{- end -}}
{{- end -}}
{{- end }}

{{/*
All labels of one component's objects: commonLabels, then extra labels given by the caller,
then the standard set, which wins on conflict so selectors always match.
Call with (dict "root" $ "component" "triton") and optionally "extra" (a map).
*/}}
{{- define "supersonic.labels" -}}
{{- $standard := dict
    "helm.sh/chart" (include "supersonic.chart" .root)
    "app.kubernetes.io/version" (.root.Chart.AppVersion | toString)
    "app.kubernetes.io/part-of" "supersonic"
    "app.kubernetes.io/managed-by" .root.Release.Service -}}
{{- $standard = merge $standard (include "supersonic.selectorLabels" . | fromYaml) -}}
{{- $labels := merge $standard (.extra | default dict) (.root.Values.commonLabels | default dict) -}}
{{- toYaml $labels -}}
{{- end }}

{{/*
Labels of a component's pods: the selector labels and commonLabels, without the chart
version, so a chart upgrade that changes nothing in the pod does not restart GPU pods (and
reload their models).
Call with (dict "root" $ "component" "triton").
*/}}
{{- define "supersonic.podLabels" -}}
{{- $labels := merge (include "supersonic.selectorLabels" . | fromYaml) (.root.Values.commonLabels | default dict) -}}
{{- toYaml $labels -}}
{{- end }}

{{/* Object names of the Triton component. */}}
{{/*
The in-cluster DNS name of a Service of this release: `<service>.<namespace>.svc`, which the pods'
resolver completes with the cluster's domain, or fully qualified when `clusterDomain` is set.
Never a hard-coded cluster.local: clusters run with other domains.
Call: include "supersonic.serviceHost" (dict "root" . "service" <name>)
*/}}
{{- define "supersonic.serviceHost" -}}
{{- $host := printf "%s.%s.svc" .service .root.Release.Namespace -}}
{{- if .root.Values.clusterDomain }}{{ $host = printf "%s.%s" $host .root.Values.clusterDomain }}{{ end -}}
{{- $host -}}
{{- end }}

{{/*
A PodDisruptionBudget for a component's pods: maxUnavailable, never minAvailable, so it cannot
block the drain of a node that runs the only replica.
Call: include "supersonic.podDisruptionBudget" (dict "root" . "component" "envoy" "name" <name> "maxUnavailable" 1)
*/}}
{{- define "supersonic.podDisruptionBudget" -}}
{{- $component := dict "root" .root "component" .component -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ .name }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "supersonic.labels" $component | nindent 4 }}
spec:
  maxUnavailable: {{ .maxUnavailable }}
  selector:
    matchLabels:
      {{- include "supersonic.selectorLabels" $component | nindent 6 }}
{{- end }}

{{- define "supersonic.triton.fullname" -}}
{{- include "supersonic.componentName" (dict "root" . "component" "triton") -}}
{{- end }}

{{/* The CVMFS claim: the one named in values, else the one this release creates. */}}
{{- define "supersonic.triton.cvmfsClaimName" -}}
{{- .Values.triton.modelRepository.cvmfsPvc.claimName | default (include "supersonic.componentName" (dict "root" . "component" "cvmfs")) -}}
{{- end }}

{{/*
The server-load metric shared by KEDA, the rate limiter and NOTES: serverLoadMetric, else the
built-in one, the average time (ms) a request waits in Triton's queue over serverLoad.window:
queued microseconds over successful requests, both as rates, so dynamic batching does not
multiply it (SuperSONIC 0.3.1 divided by executions, that is by batches). The denominator is
clamped above 0, so an idle instance reads 0 rather than 0/0 (NaN); with no Triton series at all
(nothing scraped, or no pod running) the result is empty, which the shedder treats as unknown
and KEDA as 0. With serverLoad.perModel, the busiest model's average counts.
*/}}
{{- define "supersonic.serverLoadMetric" -}}
{{- if .Values.serverLoadMetric -}}
{{- .Values.serverLoadMetric -}}
{{- else -}}
{{- $selector := include "supersonic.serverLoad.tritonSelector" (dict "root" . "models" .Values.serverLoad.models) -}}
{{- $window := .Values.serverLoad.window -}}
{{- if .Values.serverLoad.perModel -}}
max(sum by (model) (rate(nv_inference_queue_duration_us{ {{- $selector -}} }[{{ $window }}])) / clamp_min(sum by (model) (rate(nv_inference_request_success{ {{- $selector -}} }[{{ $window }}])), 1e-9)) / 1000
{{- else -}}
sum(rate(nv_inference_queue_duration_us{ {{- $selector -}} }[{{ $window }}])) / clamp_min(sum(rate(nv_inference_request_success{ {{- $selector -}} }[{{ $window }}])), 1e-9) / 1000
{{- end -}}
{{- end -}}
{{- end }}
{{/*
The label matchers that select this release's Triton series: its namespace, and its pods by
name (<fullname>-triton-<pod-template-hash>-<suffix>, the names the Deployment controller
gives), optionally some models. `namespace` and `pod` are the labels every Kubernetes scrape
gives a target: the ServiceMonitors of keda-servicemonitors.yaml (prometheus-operator sets
namespace, pod, service, job, container, endpoint), a PodMonitor, and the usual kubernetes_sd
relabelling (SuperSONIC 0.3.1's scrape configuration among them). Nothing produces a `release`
label, which 0.3.1's default filtered on. The pod pattern has exactly two segments after
"-triton", so a release named "<fullname>-triton..." is never matched. Model names go into a
raw (backquoted) PromQL string, regexp-quoted.
Call with (dict "root" $ "models" <list>).
*/}}
{{- define "supersonic.serverLoad.tritonSelector" -}}
{{- $matchers := list (printf "namespace=%q" .root.Release.Namespace) (printf "pod=~%q" (printf "%s-[a-z0-9]+-[a-z0-9]+" (include "supersonic.triton.fullname" .root))) -}}
{{- with .models -}}
{{- $quoted := list -}}
{{- range . }}{{ $quoted = append $quoted (regexQuoteMeta .) }}{{ end -}}
{{- $matchers = append $matchers (printf "model=~`%s`" (join "|" $quoted)) -}}
{{- end -}}
{{- join ", " $matchers -}}
{{- end }}

{{/*
SuperSONIC 0.3.1's built-in load metric (queue time over executions, 30 s rates), on the labels
this chart's scrape gives: what to set as serverLoadMetric to keep a 0.3.1 threshold's meaning.
*/}}
{{- define "supersonic.serverLoadMetric.v031" -}}
{{- $selector := include "supersonic.serverLoad.tritonSelector" (dict "root" .) -}}
sum(rate(nv_inference_queue_duration_us{ {{- $selector -}} }[30s])) / sum((rate(nv_inference_exec_count{ {{- $selector -}} }[30s]) * 1000) + 0.001)
{{- end }}

{{/* "true" when KEDA scales Triton: keda.enabled, and the cluster serves KEDA's ScaledObject. */}}
{{- define "supersonic.keda.active" -}}
{{- if and .Values.keda.enabled (.Capabilities.APIVersions.Has "keda.sh/v1alpha1") -}}true{{- end -}}
{{- end }}

{{/* "true" when KEDA may scale Triton to zero pods: minReplicaCount 0, or zeroIdleReplicas. */}}
{{- define "supersonic.keda.scaleToZero" -}}
{{- if or (eq (int .Values.keda.minReplicaCount) 0) .Values.keda.zeroIdleReplicas -}}true{{- end -}}
{{- end }}

{{/*
The replica count of the Triton Deployment that already exists, if any: under KEDA the chart
writes back the count the autoscaler set, so an upgrade never changes it. Omitting `replicas`
would not do: Helm 3's three-way merge deletes a field the last release set, and Helm 4's
server-side apply drops a field only it owned, and Kubernetes then defaults it to 1, so
switching a release of 5 pods to KEDA would kill 4 of them. `lookup` sees nothing in
`helm template` and client-side dry runs: then nothing is written, and a new Deployment starts
with Kubernetes' 1 until KEDA takes over. This is the only other place that may call lookup,
and its result goes only into `replicas` (test/chart/triton.test.ts).
*/}}
{{- define "supersonic.triton.currentReplicas" -}}
{{- $existing := lookup "apps/v1" "Deployment" .Release.Namespace (include "supersonic.triton.fullname" .) -}}
{{- if and $existing $existing.spec (hasKey $existing.spec "replicas") -}}
{{- $existing.spec.replicas | int -}}
{{- end -}}
{{- end }}
{{/*
KEDA's objects. The ScaledObject keeps SuperSONIC 0.3.1's name, <instance>-keda-so: KEDA's
admission webhook refuses a second ScaledObject for one Deployment, and Helm creates a
release's new objects before it deletes its old ones, so a new name would break the upgrade
from 0.3.1.
*/}}
{{- define "supersonic.keda.scaledObjectName" -}}
{{- include "supersonic.componentName" (dict "root" . "component" "keda-so") -}}
{{- end }}

{{- define "supersonic.keda.triggerAuthName" -}}
{{- include "supersonic.componentName" (dict "root" . "component" "keda-prometheus") -}}
{{- end }}


{{/*
The load trigger's query. KEDA honours a fallback only for AverageValue triggers, and an
AverageValue target makes the HPA ask for ceil(value / threshold) pods: the value must grow with
the pods needed. The load is an average (a queue time), so the query multiplies it by the
number of Triton pods Prometheus sees, and ceil(pods x load / threshold) is the proportional
rule a Value target would apply to the load itself: twice the threshold, twice the pods.
*/}}
{{- define "supersonic.keda.loadQuery" -}}
{{- $pods := include "supersonic.serverLoad.tritonSelector" (dict "root" .) -}}
({{ include "supersonic.serverLoadMetric" . }}) * scalar(count(count by (pod) (nv_inference_request_success{ {{- $pods -}} })))
{{- end }}

{{/*
The wake trigger's query: requests Envoy sent to Triton plus those it could not send because no
Triton pod was ready (Envoy's cluster counters, labelled envoy_cluster_name), per second over
keda.wakeOnRequest.window, over this release's Envoy pods. Capped at its threshold, so it never
asks for more than one pod: the load trigger does the scaling.
*/}}
{{- define "supersonic.keda.wakeQuery" -}}
{{- $selector := printf "envoy_cluster_name=%q, namespace=%q, pod=~%q" .Values.keda.wakeOnRequest.envoyCluster .Release.Namespace (printf "%s-[a-z0-9]+-[a-z0-9]+" (include "supersonic.envoy.fullname" .)) -}}
{{- $window := .Values.keda.wakeOnRequest.window -}}
{{- $held := "" -}}
{{- if include "supersonic.keda.hold" . -}}
{{- $pods := printf "namespace=%q, pod=~%q" .Release.Namespace (printf "%s-[a-z0-9]+-[a-z0-9]+" (include "supersonic.envoy.fullname" .)) -}}
{{- $wait := printf "envoy_cluster_name=\"triton_wait\", %s" $pods -}}
{{- $aggregate := printf "envoy_cluster_name=\"triton_hold\", %s" $pods -}}
{{- /* Holding: attempts refused while no Triton pod is ready (each retry of a held request,
  counted on the cluster that made the connection), requests served through the ClusterIP, and
  requests with no host at all (counted on the route's cluster, the aggregate). */ -}}
{{- $held = printf " + sum(rate(envoy_cluster_upstream_cx_connect_fail{%s}[%s])) + sum(rate(envoy_cluster_upstream_rq_total{%s}[%s])) + sum(rate(envoy_cluster_upstream_cx_none_healthy{%s}[%s]))" $wait $window $wait $window $aggregate $window -}}
{{- end -}}
clamp_max(sum(rate(envoy_cluster_upstream_rq_total{ {{- $selector -}} }[{{ $window }}])) + sum(rate(envoy_cluster_upstream_cx_none_healthy{ {{- $selector -}} }[{{ $window }}])){{ $held }}, {{ include "supersonic.keda.wakeCap" . }})
{{- end }}

{{/* The wake trigger's cap and threshold: above its activation threshold, so it can activate. */}}
{{- define "supersonic.keda.wakeCap" -}}
{{- addf .Values.keda.activationThreshold 1 -}}
{{- end }}

{{/* Checks across keda values that JSON Schema cannot express; each message names the keys to set. */}}
{{- define "supersonic.keda.validate" -}}
{{- $min := int .Values.keda.minReplicaCount -}}
{{- $max := int .Values.keda.maxReplicaCount -}}
{{- if gt $min $max -}}
  {{- fail (printf "keda.minReplicaCount (%d) is above keda.maxReplicaCount (%d)" $min $max) -}}
{{- end -}}
{{- if not (include "supersonic.prometheus.available" .) -}}
  {{- fail "keda.enabled needs a Prometheus to read the load from: set prometheus.external.enabled and prometheus.external.url (KEDA's operator queries it), or prometheus.enabled for the chart's own" -}}
{{- end -}}
{{- if le (float64 .Values.serverLoadThreshold) 0.0 -}}
  {{- fail "keda.enabled needs serverLoadThreshold above 0: KEDA asks for load / threshold pods" -}}
{{- end -}}
{{- if .Values.keda.fallback.enabled -}}
  {{- $threshold := float64 .Values.serverLoadThreshold -}}
  {{- if or (lt $threshold 1.0) (ne $threshold (float64 (int64 $threshold))) -}}
    {{- fail (printf "keda.fallback needs a whole serverLoadThreshold of at least 1 (it is %v): KEDA computes the fallback's replicas from the threshold's integer part" .Values.serverLoadThreshold) -}}
  {{- end -}}
{{- end -}}
{{- if and (ne .Values.keda.prometheusAuth.mode "none") (not .Values.keda.prometheusAuth.secretName) -}}
  {{- fail (printf "keda.prometheusAuth.mode is %s: set keda.prometheusAuth.secretName to the Secret holding the credentials" .Values.keda.prometheusAuth.mode) -}}
{{- end -}}
{{- if include "supersonic.keda.scaleToZero" . -}}
  {{- if .Values.keda.wakeOnRequest.hold.enabled -}}
    {{- include "supersonic.keda.holdValidate" . -}}
  {{- end -}}
  {{- if not .Values.envoy.enabled -}}
    {{- fail "keda.minReplicaCount 0 (or keda.zeroIdleReplicas) needs Envoy (envoy.enabled): while no Triton pod runs, only Envoy's count of the requests it could not send can wake Triton. Enable Envoy, or set keda.minReplicaCount to 1 or more" -}}
  {{- end -}}
  {{- $limiter := .Values.envoy.rate_limiter.prometheus_based -}}
  {{- if and $limiter.enabled (eq $limiter.mode "shed") (not $limiter.failOpen) -}}
    {{- fail "keda.minReplicaCount 0 (or keda.zeroIdleReplicas) with envoy.rate_limiter.prometheus_based mode shed and failOpen false would never wake Triton: with no Triton pod the load is unknown, so every request would be refused before it reaches the cluster whose requests wake Triton. Set failOpen: true, or keda.minReplicaCount to 1 or more" -}}
  {{- end -}}
{{- end -}}
{{- end }}

{{/*
An Ingress's host names, as a YAML list: hostName first, then hosts, each once (SuperSONIC
0.3.1's files give either form). Call: include "supersonic.ingressHosts" .Values.<component>.ingress
*/}}
{{- define "supersonic.ingressHosts" -}}
{{- $hosts := .hosts | default list -}}
{{- if .hostName }}{{ $hosts = prepend $hosts .hostName }}{{ end -}}
{{- toYaml (uniq $hosts) -}}
{{- end }}
