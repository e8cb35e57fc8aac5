{{/*
A container's resources, checked as the API server will check them, so a site's values fail
at install with the keys named instead of at apply time: a request may not exceed its limit
(default limits merge with a site's requests), and an extended resource such as nvidia.com/gpu
or a MIG slice needs a limit equal to its request.
Call with (dict "key" "triton.resources" "resources" .Values.triton.resources).
*/}}
{{- define "supersonic.validateResources" -}}
{{- $key := .key -}}
{{- $requests := (.resources | default dict).requests | default dict -}}
{{- $limits := (.resources | default dict).limits | default dict -}}
{{- range $name, $request := $requests -}}
  {{- $limit := index $limits $name -}}
  {{- $extended := and (contains "/" $name) (not (hasPrefix "kubernetes.io/" $name)) -}}
  {{- if and $extended (kindIs "invalid" $limit) -}}
    {{- fail (printf "%s.limits.%s must be set, equal to %s.requests.%s (%v): Kubernetes requires a limit for extended resources such as GPUs" $key $name $key $name $request) -}}
  {{- end -}}
  {{- if not (kindIs "invalid" $limit) -}}
    {{- $r := include "supersonic.quantityValue" $request | float64 -}}
    {{- $l := include "supersonic.quantityValue" $limit | float64 -}}
    {{- if and $extended (ne $r $l) -}}
      {{- fail (printf "%s.requests.%s (%v) and %s.limits.%s (%v) must be equal: Kubernetes does not overcommit extended resources such as GPUs" $key $name $request $key $name $limit) -}}
    {{- end -}}
    {{- if gt $r $l -}}
      {{- fail (printf "%s.requests.%s (%v) is more than %s.limits.%s (%v); raise the limit too (the chart's default limits apply unless you set them)" $key $name $request $key $name $limit) -}}
    {{- end -}}
  {{- end -}}
{{- end -}}
{{- end }}

{{/* A resource quantity (1, 0.5, "500m", "2G", "16Gi", "1e3") as a plain number, for comparisons. */}}
{{- define "supersonic.quantityValue" -}}
{{- $text := toString . -}}
{{- $number := regexFind "^[+]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][-+]?[0-9]+)?" $text -}}
{{- $suffix := trimPrefix $number $text -}}
{{- $factors := dict "" 1.0 "n" 1e-9 "u" 1e-6 "m" 1e-3 "k" 1e3 "M" 1e6 "G" 1e9 "T" 1e12 "P" 1e15 "E" 1e18 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "Pi" 1125899906842624.0 "Ei" 1152921504606846976.0 -}}
{{- mulf (float64 $number) (index $factors $suffix) -}}
{{- end }}
