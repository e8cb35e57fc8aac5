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

export GOFLAGS=-buildvcs=false GOTOOLCHAIN=local CGO_ENABLED=0
command -v go >/dev/null 2>&1 || [ ! -x /usr/local/go/bin/go ] || export PATH="/usr/local/go/bin:$PATH"
if ! command -v go >/dev/null 2>&1; then
  echo "build-otelcol: go is missing; the collector's config check builds the collector with Go 1.26 (/usr/local/go/bin on PATH)" >&2
  exit 1
fi

[ "$(cd "$module" && go list -m -f '{{.Version}}' go.opentelemetry.io/collector/otelcol)" = "$OTELCOL_VERSION" ] || {
  echo "build-otelcol: $module/go.mod does not require go.opentelemetry.io/collector/otelcol $OTELCOL_VERSION" >&2; exit 1; }

LDFLAGS="-s -w"
key=$( { cat "$module"/go.mod "$module"/go.sum "$module"/*.go; echo "$LDFLAGS|$GOFLAGS|$CGO_ENABLED"; go version; } | sha256sum | cut -c1-16)
cache_root=${SUPERSONIC_OTELCOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/supersonic/otelcol}
target="$cache_root/$key"

link() {
  mkdir -p "$root/.tools"
  ln -sfn "$target" "$root/.tools/otelcol"
  echo "build-otelcol: $("$target/otelcol" --version) in $target"
}

if [ -f "$target/.complete" ]; then link; exit 0; fi

echo "build-otelcol: building the collector $OTELCOL_VERSION from the Go module proxy into $target (cold: a few minutes)"
mkdir -p "$cache_root"
work=$(mktemp -d "$cache_root/.build-XXXXXX")
trap 'rm -rf "$work"' EXIT
started=$(date +%s)
(cd "$module" && go build -trimpath -ldflags "$LDFLAGS" -o "$work/otelcol" .)
"$work/otelcol" --version | grep -qx "otelcol-supersonic-test version ${OTELCOL_VERSION#v}" || {
  echo "build-otelcol: the binary reports '$("$work/otelcol" --version 2>&1 | head -1)', want ${OTELCOL_VERSION#v}" >&2; exit 1; }
touch "$work/.complete"
rm -rf "$target"
mv "$work" "$target"
trap - EXIT
echo "build-otelcol: built in $(( $(date +%s) - started )) s"
link
