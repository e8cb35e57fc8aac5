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

. "$root/test/tools/go-tool.sh"
go_tool_env build-promtool "checking the bundled Prometheus's configuration"
[ "$(cd "$module" && go list -m -f '{{.Version}}' github.com/prometheus/prometheus)" = "$MODULE_VERSION" ] || {
  echo "build-promtool: $module/go.mod does not require github.com/prometheus/prometheus $MODULE_VERSION" >&2; exit 1; }

LDFLAGS="-s -w -X github.com/prometheus/common/version.Version=$PROMETHEUS_VERSION -X github.com/prometheus/common/version.Branch=HEAD -X github.com/prometheus/common/version.Revision=$MODULE_VERSION"
key=$( { cat "$module"/go.mod "$module"/go.sum; echo "$LDFLAGS|$GOFLAGS|$CGO_ENABLED"; go version; } | sha256sum | cut -c1-16)
cache_root=${SUPERSONIC_PROMTOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/supersonic/promtool}
target="$cache_root/$PROMETHEUS_VERSION-$key"

go_tool_cached promtool "$target" promtool "$module" -tags tools -ldflags "$LDFLAGS" github.com/prometheus/prometheus/cmd/promtool
echo "build-promtool: $("$target/promtool" --version 2>&1 | head -1) in $target"
