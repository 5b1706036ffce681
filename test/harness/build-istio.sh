#!/usr/bin/env bash
# Builds istiod (pilot-discovery) and our xDS probe from the istio.io/istio module on the Go module proxy, and takes
# Istio's CRDs from the same module version, so the schemas the API server enforces and the istiod that reads them
# agree. Output goes to a cache outside the repository, keyed by the Istio version and the probe's source; a finished
# build is reused. Prints the bin directory on the last line of stdout. Progress goes to stderr, one line per binary;
# the Go tool's output goes to build.log in the cache, and its tail to stderr on failure.
set -euo pipefail

# The proxy serves only pseudo-versions of istio.io/istio; this one is 1.31-dev (istio.io/api v1.31.0-rc.0).
ISTIO_VERSION="${ISTIO_VERSION:-v0.0.0-20260827124520-eed52ebb66ad}"

here="$(cd "$(dirname "$0")" && pwd)"
probe_src="$here/xds-probe"
probe_hash=$(cat "$probe_src/main.go" "$probe_src/go.mod.in" | sha256sum | cut -c1-12)
root="${DYNAMIC_ENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dynamic-env}/istio/$ISTIO_VERSION"
bin="$root/bin"
tag="istio build"
# shellcheck source=build-steps.sh
source "$(dirname "$0")/build-steps.sh"

if [ -f "$root/.complete-$probe_hash" ]; then
  echo "$bin"
  exit 0
fi
command -v go >/dev/null || { log "Go toolchain not found on PATH; it is needed to build istiod"; exit 3; }
mkdir -p "$bin" "$root/src"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0
start=$(date +%s)
buildlog="$root/build.log"

build_istiod() {
  (cd /tmp && GOBIN="$root/src/gobin" go install -trimpath -ldflags "-s -w -X istio.io/istio/pkg/version.buildVersion=1.31-dev-${ISTIO_VERSION##*-}" \
    "istio.io/istio/pilot/cmd/pilot-discovery@$ISTIO_VERSION") && mv "$root/src/gobin/pilot-discovery" "$bin/pilot-discovery"
}
# Cold: several minutes.
[ -x "$bin/pilot-discovery" ] || step "building istiod (pilot-discovery) $ISTIO_VERSION" build_istiod

dir=$(cd /tmp && go mod download -json "istio.io/istio@$ISTIO_VERSION" 2>>"$buildlog" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')
cp "$dir/manifests/charts/base/files/crd-all.gen.yaml" "$root/istio-crds.yaml"
chmod 0644 "$root/istio-crds.yaml"

w="$root/src/xds-probe"
rm -rf "$w" && mkdir -p "$w"
cp "$probe_src/main.go" "$w/main.go"
sed "s/@ISTIO_VERSION@/$ISTIO_VERSION/" "$probe_src/go.mod.in" >"$w/go.mod"
build_probe() {
  (cd "$w" && go build -trimpath -ldflags "-s -w" -o "$bin/xds-probe.tmp" .) && mv "$bin/xds-probe.tmp" "$bin/xds-probe"
}
step "building the xDS probe ($probe_hash)" build_probe

printf '{"istio":"%s","istiod":"pilot-discovery 1.31-dev"}\n' "$ISTIO_VERSION" >"$root/versions.json"
rm -f "$root"/.complete-*
touch "$root/.complete-$probe_hash"
log "done in $(elapsed "$start"): $(du -sh "$root" | cut -f1) in $root"
echo "$bin"
