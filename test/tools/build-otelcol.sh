#!/usr/bin/env bash
# Builds a minimal OpenTelemetry Collector from the Go module proxy, so the tests can run the
# collector's own `validate` on the configuration the chart renders (test/chart/tracing-otelcol-validate.test.ts).
# It has exactly the components that configuration uses: the otlp receiver, the batch and transform
# processors, the spanmetrics connector, the otlp, otlphttp and prometheusremotewrite exporters, at
# one collector release (core v0.161.0 / stable v1.67.0, contrib v0.161.0: the transform
# processor's newer releases need packages the proxy does not serve), the same release as the
# chart's default image tag (opentelemetry-collector.image.tag). The wrapper module
# test/tools/otelcol pins every dependency with its go.mod and go.sum.
# The binary is never committed: it is cached outside the clone under a key hashed from the
# wrapper module, the build flags and the Go version; .tools/otelcol points at the cached folder.
# Cold: about 3 to 4 minutes on 2 cores (downloads included); warm: nothing.
#
#   bash test/tools/build-otelcol.sh       build if missing, then link .tools/otelcol
#   SUPERSONIC_OTELCOL_CACHE=dir           cache root (default ~/.cache/supersonic/otelcol)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
module="$root/test/tools/otelcol"
OTELCOL_VERSION=v0.161.0

. "$root/test/tools/go-tool.sh"
go_tool_env build-otelcol "the collector's config check"

[ "$(cd "$module" && go list -m -f '{{.Version}}' go.opentelemetry.io/collector/otelcol)" = "$OTELCOL_VERSION" ] || {
  echo "build-otelcol: $module/go.mod does not require go.opentelemetry.io/collector/otelcol $OTELCOL_VERSION" >&2; exit 1; }

LDFLAGS="-s -w"
key=$( { cat "$module"/go.mod "$module"/go.sum "$module"/*.go; echo "$LDFLAGS|$GOFLAGS|$CGO_ENABLED"; go version; } | sha256sum | cut -c1-16)
cache_root=${SUPERSONIC_OTELCOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/supersonic/otelcol}
target="$cache_root/$key"

go_tool_cached otelcol "$target" otelcol "$module" -ldflags "$LDFLAGS" .
"$target/otelcol" --version | grep -qx "otelcol-supersonic-test version ${OTELCOL_VERSION#v}" || {
  echo "build-otelcol: the binary reports '$("$target/otelcol" --version 2>&1 | head -1)', want ${OTELCOL_VERSION#v}" >&2; exit 1; }
echo "build-otelcol: $("$target/otelcol" --version) in $target"
