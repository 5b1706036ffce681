#!/usr/bin/env bash
# Builds the real test control plane from the Go module proxy: kube-apiserver, kube-controller-manager,
# kube-scheduler (k8s.io/kubernetes), etcd (3.5.x) and kwok. istiod and Istio's CRDs come from build-istio.sh.
# Output goes to a cache outside the repository, keyed by the versions; a finished build is reused.
# Prints the bin directory on the last line of stdout. Progress goes to stderr, one line per binary; the Go tool's
# output (module downloads, compiler chatter) goes to build.log in the cache, and its tail to stderr on failure.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.5.21}"
KWOK_VERSION="${KWOK_VERSION:-v0.7.0}"

key="k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}"
root="${DYNAMIC_ENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dynamic-env}/control-plane/$key"
bin="$root/bin"
buildlog="$root/build.log"
tag="control-plane build"
# shellcheck source=build-steps.sh
source "$(dirname "$0")/build-steps.sh"

if [ -f "$root/.complete" ]; then
  echo "$bin"
  exit 0
fi
command -v go >/dev/null || { log "Go toolchain not found on PATH; it is needed to build kube-apiserver, etcd and kwok"; exit 3; }
mkdir -p "$bin" "$root/src"
: >"$buildlog"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0
start=$(date +%s)

# --- Kubernetes: a wrapper module that requires k8s.io/kubernetes and points every staging module at its
# published v0.Y.Z, because `go install` refuses modules with replace directives.
minor_version="v0.${K8S_VERSION#v1.}"
w="$root/src/kubernetes"
mkdir -p "$w"
wrapper_module() {
  local gomod
  gomod=$(cd /tmp && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
  [ -n "$gomod" ] || return 1
  {
    echo "module dynamic-env.test/kubernetes"
    echo
    echo "go 1.24"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    grep -Eo '^\s*k8s\.io/[a-z0-9-]+ => \./staging/[^ ]+' "$gomod" | awk -v v="$minor_version" '{print "replace " $1 " => " $1 " " v}'
  } >"$w/go.mod"
  echo "wrapper go.mod replaces $(grep -c '^replace' "$w/go.mod") staging modules with $minor_version"
}
step "resolving k8s.io/kubernetes $K8S_VERSION" wrapper_module
commit=$(cd /tmp && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" 2>>"$buildlog" | sed -n 's/.*"Hash": "\(.*\)",*/\1/p' | head -1)
maj=1; min="${K8S_VERSION#v1.}"; min="${min%%.*}"
date_s=$(date -u +%Y-%m-%dT%H:%M:%SZ)
ld=""
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld="$ld -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=$maj -X $p.gitMinor=$min -X $p.gitTreeState=clean -X $p.buildDate=$date_s -X $p.gitCommit=${commit:-unknown}"
done
build_kubernetes() {
  (cd "$w" && go build -trimpath -ldflags "-s -w $ld" -o "$bin/$1.tmp" "k8s.io/kubernetes/cmd/$1") && mv "$bin/$1.tmp" "$bin/$1"
}
for cmd in kube-apiserver kube-controller-manager kube-scheduler; do
  # The first one downloads and compiles most of Kubernetes: several minutes cold.
  [ -x "$bin/$cmd" ] || step "building $cmd $K8S_VERSION" build_kubernetes "$cmd"
done

# --- etcd 3.5: the server module has no main package of its own, so a two-line main calls etcdmain.
w="$root/src/etcd"
mkdir -p "$w"
build_etcd() {
  (cd "$w" && go build -trimpath -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=release" -o "$bin/etcd.tmp" .) && mv "$bin/etcd.tmp" "$bin/etcd"
}
if [ ! -x "$bin/etcd" ]; then
  cat >"$w/go.mod" <<MOD
module dynamic-env.test/etcd

go 1.24

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
MOD
  cat >"$w/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  step "building etcd $ETCD_VERSION" build_etcd
fi

# --- kwok, the fake kubelet.
w="$root/src/kwok"
mkdir -p "$w"
build_kwok() {
  (cd "$w" && go build -trimpath -ldflags "-s -w" -o "$bin/kwok.tmp" sigs.k8s.io/kwok/cmd/kwok) && mv "$bin/kwok.tmp" "$bin/kwok"
}
if [ ! -x "$bin/kwok" ]; then
  printf 'module dynamic-env.test/kwok\n\ngo 1.24\n\nrequire sigs.k8s.io/kwok %s\n' "$KWOK_VERSION" >"$w/go.mod"
  step "building kwok $KWOK_VERSION" build_kwok
fi

cat >"$root/versions.json" <<JSON
{"kubernetes":"$K8S_VERSION","etcd":"$ETCD_VERSION","kwok":"$KWOK_VERSION"}
JSON
touch "$root/.complete"
log "done in $(elapsed "$start"): $(du -sh "$root" | cut -f1) in $root"
echo "$bin"
