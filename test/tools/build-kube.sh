#!/usr/bin/env bash
# Builds the real Kubernetes control plane the tests run, from the Go module proxy (no Debian or
# npm package ships it), at pinned releases:
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubectl   k8s.io/kubernetes v1.36.3
#   etcd                                                                go.etcd.io/etcd/server/v3 v3.6.16
# The versions and every dependency are pinned by the wrapper modules' go.mod and go.sum in
# test/tools/kube-binaries/{kubernetes,etcd}. The binaries are never committed: they are kept in a
# cache outside the clone, next to Go's own caches, under a key hashed from the go.mod and go.sum
# files, the build flags and the Go version, so a warm machine (or a fresh clone on one) pays
# nothing and a fresh machine builds them once. .tools/kube points at the cached folder.
#
#   bash test/tools/build-kube.sh          build if missing, then link .tools/kube
#   SUPERSONIC_KUBE_CACHE=dir              cache root (default ~/.cache/supersonic-kube-binaries)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
modules="$root/test/tools/kube-binaries"
KUBE_VERSION=v1.36.3
ETCD_VERSION=v3.6.16

# The module proxy serves the sources; nothing else is reached. VCS stamping would read this
# repository's git state (the wrapper modules live in it) and change the binaries with each commit.
export GOFLAGS=-buildvcs=false GOTOOLCHAIN=local CGO_ENABLED=0

# Go is at /usr/local/go on the project's machines, not always on PATH.
command -v go >/dev/null 2>&1 || [ ! -x /usr/local/go/bin/go ] || export PATH="/usr/local/go/bin:$PATH"
if ! command -v go >/dev/null 2>&1; then
  echo "build-kube: go is missing; the tests build kube-apiserver and etcd with Go 1.26 (https://go.dev/dl, or /usr/local/go/bin on PATH)" >&2
  exit 1
fi

# Without the version variables the server reports v0.0.0-master+$Format:%H$, and Helm's
# kubeVersion checks and kubectl's version skew warnings would see a version that does not exist.
minor=$(echo "$KUBE_VERSION" | cut -d. -f2)
KUBE_LDFLAGS="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor -X k8s.io/client-go/pkg/version.gitTreeState=clean"
ETCD_LDFLAGS="-s -w"
# selinux: as upstream's release builds; notest: leaves test-only code out.
KUBE_TAGS=selinux,notest
KUBE_COMMANDS=(kube-apiserver kube-controller-manager kube-scheduler kubectl)

# The pinned versions must be the ones go.mod requires, or the key would lie about what is built.
module_version() { (cd "$modules/$1" && go list -m -f '{{.Version}}' "$2"); }
[ "$(module_version kubernetes k8s.io/kubernetes)" = "$KUBE_VERSION" ] || { echo "build-kube: $modules/kubernetes/go.mod does not require k8s.io/kubernetes $KUBE_VERSION" >&2; exit 1; }
[ "$(module_version etcd go.etcd.io/etcd/server/v3)" = "$ETCD_VERSION" ] || { echo "build-kube: $modules/etcd/go.mod does not require go.etcd.io/etcd/server/v3 $ETCD_VERSION" >&2; exit 1; }

key=$( { cat "$modules"/kubernetes/go.{mod,sum} "$modules"/etcd/go.{mod,sum}; echo "$KUBE_LDFLAGS|$KUBE_TAGS|$ETCD_LDFLAGS|${KUBE_COMMANDS[*]}|$GOFLAGS|$CGO_ENABLED"; go version; } | sha256sum | cut -c1-16)
cache_root=${SUPERSONIC_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/supersonic-kube-binaries}
target="$cache_root/$key"

link() {
  mkdir -p "$root/.tools"
  ln -sfn "$target" "$root/.tools/kube"
  echo "build-kube: $("$target/bin/kube-apiserver" --version), etcd $("$target/bin/etcd" --version | sed -n 's/^etcd Version: //p') in $target"
}

if [ -f "$target/.complete" ]; then link; exit 0; fi

echo "build-kube: building Kubernetes $KUBE_VERSION and etcd $ETCD_VERSION from the Go module proxy into $target (cold: several minutes)"
mkdir -p "$cache_root"
work=$(mktemp -d "$cache_root/.build-XXXXXX")
trap 'rm -rf "$work"' EXIT
started=$(date +%s)
modcache=$(go env GOMODCACHE)
downloads="$modcache/cache/download"
mod_before=$(du -sk "$downloads" 2>/dev/null | cut -f1 || echo 0)

# One go build for the four Kubernetes commands: they share most packages, so each is compiled once.
(cd "$modules/kubernetes" && go build -trimpath -tags="$KUBE_TAGS" -ldflags "$KUBE_LDFLAGS" -o "$work/bin/" \
  $(printf 'k8s.io/kubernetes/cmd/%s ' "${KUBE_COMMANDS[@]}"))
(cd "$modules/etcd" && go build -trimpath -ldflags "$ETCD_LDFLAGS" -o "$work/bin/etcd" go.etcd.io/etcd/server/v3)

# What they report must be what was pinned.
for command in kube-apiserver kube-controller-manager kube-scheduler; do
  got=$("$work/bin/$command" --version)
  [ "$got" = "Kubernetes $KUBE_VERSION" ] || { echo "build-kube: $command reports '$got', want 'Kubernetes $KUBE_VERSION'" >&2; exit 1; }
done
"$work/bin/kubectl" version --client 2>/dev/null | grep -qx "Client Version: $KUBE_VERSION" || { echo "build-kube: kubectl reports '$("$work/bin/kubectl" version --client 2>&1 | head -1)', want $KUBE_VERSION" >&2; exit 1; }
"$work/bin/etcd" --version | grep -qx "etcd Version: ${ETCD_VERSION#v}" || { echo "build-kube: etcd reports '$("$work/bin/etcd" --version | head -1)', want ${ETCD_VERSION#v}" >&2; exit 1; }

mod_after=$(du -sk "$downloads" 2>/dev/null | cut -f1 || echo 0)
touch "$work/.complete"
rm -rf "$target"
mv "$work" "$target"
trap - EXIT
echo "build-kube: built in $(( $(date +%s) - started )) s; binaries $(du -sh "$target" | cut -f1); downloaded $(( (mod_after - mod_before) / 1024 )) MB of modules into $modcache"
link
