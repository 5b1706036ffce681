#!/usr/bin/env bash
# Builds actionlint from the Go module proxy, like the control plane: once, into a cache outside the repository,
# keyed by its version; a finished build is reused. Prints the binary's path on the last line of stdout. One
# progress line goes to stderr; the Go tool's output goes to build.log in the cache, and its tail to stderr on failure.
set -euo pipefail

ACTIONLINT_VERSION="${ACTIONLINT_VERSION:-v1.7.12}"

root="${DYNAMIC_ENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dynamic-env}/actionlint/$ACTIONLINT_VERSION"
bin="$root/bin/actionlint"
buildlog="$root/build.log"
tag="actionlint build"
# shellcheck source=build-steps.sh
source "$(dirname "$0")/build-steps.sh"

if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
command -v go >/dev/null || { log "Go toolchain not found on PATH; it is needed to build actionlint"; exit 3; }
mkdir -p "$root/bin"
: >"$buildlog"
build_actionlint() {
  (cd /tmp && GOBIN="$root/gobin" GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0 \
    go install -trimpath -ldflags "-s -w" "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION") \
    && mv "$root/gobin/actionlint" "$bin"
}
step "building actionlint $ACTIONLINT_VERSION" build_actionlint
echo "$bin"
