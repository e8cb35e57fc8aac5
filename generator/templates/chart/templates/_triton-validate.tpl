{{/*
Checks across Triton values that JSON Schema cannot express. Each message names the keys
involved and what to set, and fails `helm install`/`helm template` before anything is applied.
*/}}
{{- define "supersonic.triton.validate" -}}
{{- include "supersonic.validateResources" (dict "key" "triton.resources" "resources" .Values.triton.resources) -}}
{{- if .Values.triton.modelRepository.enabled -}}
  {{- if not .Values.triton.modelRepository.mountPath -}}
    {{- fail "triton.modelRepository.mountPath must be set when triton.modelRepository.enabled is true" -}}
  {{- end -}}
  {{- if and (eq .Values.triton.modelRepository.storageType "pvc") (not .Values.triton.modelRepository.pvc.claimName) -}}
    {{- fail "triton.modelRepository.pvc.claimName must name an existing PersistentVolumeClaim when triton.modelRepository.storageType is \"pvc\"" -}}
  {{- end -}}
  {{- if and (eq .Values.triton.modelRepository.storageType "nfs") (not (and .Values.triton.modelRepository.nfs.server .Values.triton.modelRepository.nfs.path)) -}}
    {{- fail "triton.modelRepository.nfs.server and triton.modelRepository.nfs.path must both be set when triton.modelRepository.storageType is \"nfs\"" -}}
  {{- end -}}
  {{- if and (eq .Values.triton.modelRepository.storageType "cvmfs-pvc") (not .Values.triton.modelRepository.cvmfsPvc.create) (not .Values.triton.modelRepository.cvmfsPvc.claimName) -}}
    {{- fail "triton.modelRepository.cvmfsPvc.claimName must name the existing CVMFS claim when triton.modelRepository.cvmfsPvc.create is false" -}}
  {{- end -}}
{{- end -}}
{{- if and (not .Values.triton.args) (has "-c" (.Values.triton.command | default list)) -}}
  {{- fail "triton.args is empty, but triton.command runs a shell (-c) that needs a script: put the Triton command line in triton.args" -}}
{{- end -}}
{{- if le (int .Values.triton.terminationGracePeriodSeconds) (int .Values.triton.drainSeconds) -}}
  {{- fail (printf "triton.terminationGracePeriodSeconds (%d) must be greater than triton.drainSeconds (%d), or Triton is killed before it can finish in-flight requests" (int .Values.triton.terminationGracePeriodSeconds) (int .Values.triton.drainSeconds)) -}}
{{- end -}}
{{- $portNames := list -}}
{{- range .Values.triton.service.ports -}}
  {{- if has .name $portNames -}}
    {{- fail (printf "triton.service.ports: the port name %q appears twice; port names must be unique" .name) -}}
  {{- end -}}
  {{- $portNames = append $portNames .name -}}
{{- end -}}
{{- include "supersonic.triton.validateProbePort" (dict "probe" "startupProbe" "reset" .Values.triton.startupProbe.reset "port" .Values.triton.startupProbe.httpGet.port "portNames" $portNames) -}}
{{- include "supersonic.triton.validateProbePort" (dict "probe" "livenessProbe" "reset" .Values.triton.livenessProbe.reset "port" .Values.triton.livenessProbe.httpGet.port "portNames" $portNames) -}}
{{- end }}

{{/* A probe that names its port must name one of triton.service.ports. */}}
{{- define "supersonic.triton.validateProbePort" -}}
{{- if and (not .reset) (kindIs "string" .port) (not (has .port .portNames)) -}}
  {{- fail (printf "triton.%s.httpGet.port is %q, but triton.service.ports has no port of that name (it has: %s)" .probe .port (join ", " .portNames)) -}}
{{- end -}}
{{- end }}
