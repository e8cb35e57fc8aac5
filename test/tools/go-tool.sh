# Sourced by the scripts that build a test tool from the Go module proxy (build-promtool.sh,
# build-otelcol.sh): one place for Go's environment and for the cache, so each tool is built
# once per machine from its pinned wrapper module and linked at .tools/<name>.

# Go's environment for a reproducible build from the module proxy, or exit with what is missing.
# VCS stamping would read this repository's git state (the wrapper modules live in it) and change
# the binary with each commit. Call: go_tool_env <script name> <what the tool is for>
go_tool_env() {
  export GOFLAGS=-buildvcs=false GOTOOLCHAIN=local CGO_ENABLED=0
  # Go is at /usr/local/go on the project's machines, not always on PATH.
  command -v go >/dev/null 2>&1 || [ ! -x /usr/local/go/bin/go ] || export PATH="/usr/local/go/bin:$PATH"
  command -v go >/dev/null 2>&1 || {
    echo "$1: go is missing; $2 needs Go 1.26 (https://go.dev/dl, or /usr/local/go/bin on PATH)" >&2
    exit 1
  }
}

# Builds <binary> into <target> (a folder named by a key of every input) unless a complete build
# is already there, then links .tools/<name> to it. The build goes to a temporary folder beside
# the target and is moved into place only once it ran (`--version`), so an interrupted build is
# never taken for a finished one.
# Call: go_tool_cached <name> <target> <binary> <module dir> <go build arguments...>
go_tool_cached() {
  local name=$1 target=$2 binary=$3 module=$4
  shift 4
  if [ ! -f "$target/.complete" ]; then
    echo "build-$name: building from the Go module proxy into $target (cold: minutes)"
    mkdir -p "$(dirname "$target")"
    local work started
    work=$(mktemp -d "$(dirname "$target")/.build-XXXXXX")
    started=$(date +%s)
    if ! (cd "$module" && go build -trimpath -o "$work/$binary" "$@") || ! "$work/$binary" --version >/dev/null 2>&1; then
      rm -rf "$work"
      echo "build-$name: the build failed" >&2
      exit 1
    fi
    touch "$work/.complete"
    rm -rf "$target"
    mv "$work" "$target"
    echo "build-$name: built in $(( $(date +%s) - started )) s"
  fi
  mkdir -p "$root/.tools"
  ln -sfn "$target" "$root/.tools/$name"
}
