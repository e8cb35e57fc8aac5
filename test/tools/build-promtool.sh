#!/usr/bin/env bash
# Builds promtool of the Prometheus release the bundled Prometheus runs (prometheus.server.image),
# from the Go module proxy, so the chart's generated prometheus.yml and rule files are checked by
# the same release that will load them (Debian's promtool is 2.42, and built without Kubernetes
# service discovery, so it cannot check a kubernetes_sd_configs configuration at all).
#   github.com/prometheus/prometheus v0.316.0 = Prometheus 3.16.0 (its VERSION file)
# The wrapper module test/tools/promtool pins it and every dependency (go.mod, go.sum). The binary
# is cached outside the clone under a key of go.mod, go.sum, the flags and the Go version; a cold
# build takes about 8 minutes on 2 cores, a warm one nothing. .tools/promtool points at it.
#
#   bash test/tools/build-promtool.sh       build if missing, then link .tools/promtool
#   SUPERSONIC_PROMTOOL_CACHE=dir           cache root (default ~/.cache/supersonic/promtool)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
module="$root/test/tools/promtool"
MODULE_VERSION=v0.316.0
PROMETHEUS_VERSION=3.16.0

export GOFLAGS=-buildvcs=false GOTOOLCHAIN=local CGO_ENABLED=0
command -v go >/dev/null 2>&1 || [ ! -x /usr/local/go/bin/go ] || export PATH="/usr/local/go/bin:$PATH"
if ! command -v go >/dev/null 2>&1; then
  echo "build-promtool: go is missing (Go 1.26: https://go.dev/dl, or /usr/local/go/bin on PATH)" >&2
  exit 1
fi
[ "$(cd "$module" && go list -m -f '{{.Version}}' github.com/prometheus/prometheus)" = "$MODULE_VERSION" ] || {
  echo "build-promtool: $module/go.mod does not require github.com/prometheus/prometheus $MODULE_VERSION" >&2; exit 1; }

LDFLAGS="-s -w -X github.com/prometheus/common/version.Version=$PROMETHEUS_VERSION -X github.com/prometheus/common/version.Branch=HEAD -X github.com/prometheus/common/version.Revision=$MODULE_VERSION"
key=$( { cat "$module"/go.mod "$module"/go.sum; echo "$LDFLAGS|$GOFLAGS|$CGO_ENABLED"; go version; } | sha256sum | cut -c1-16)
cache_root=${SUPERSONIC_PROMTOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/supersonic/promtool}
target="$cache_root/$PROMETHEUS_VERSION-$key"

link() {
  mkdir -p "$root/.tools"
  ln -sfn "$target" "$root/.tools/promtool"
  echo "build-promtool: $("$target/promtool" --version 2>&1 | head -1) in $target"
}
if [ -f "$target/.complete" ]; then link; exit 0; fi

echo "build-promtool: building promtool $PROMETHEUS_VERSION from the Go module proxy into $target (cold: about 8 minutes)"
mkdir -p "$cache_root"
work=$(mktemp -d "$cache_root/.build-XXXXXX")
trap 'rm -rf "$work"' EXIT
(cd "$module" && go build -trimpath -tags tools -ldflags "$LDFLAGS" -o "$work/promtool" github.com/prometheus/prometheus/cmd/promtool)
"$work/promtool" --version >/dev/null
touch "$work/.complete"
rm -rf "$target"
mv "$work" "$target"
trap - EXIT
link
