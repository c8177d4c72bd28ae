#!/usr/bin/env bash
# Build the local control-plane binaries (kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, etcd, kwok, and KEDA's operator and metrics server) from the Go modules pinned in hack/versions.env,
# and the Lua VM the Argo CD health-check tests run in (hack/argocd-lua).
#
# Why a script and a cache: on a 2-core machine the Kubernetes build takes many minutes,
# so binaries are cached outside the repo, one directory per component and version
# (~/.cache/forescale/bin/<component>-<version>/), and a component already built is skipped.
# A version bump gets a new directory, so stale binaries are never picked up.
#
# Usage: hack/build-binaries.sh [all|kubernetes|etcd|kwok|keda|argocd-lua]...
#        (`all` builds KEDA last: only `forescale sandbox compare`, `sandbox up --with-keda`
#        and their e2e test need it, and it is the largest build; see docs/keda-comparison.md)
# Env:   FORESCALE_BIN_CACHE (default ~/.cache/forescale/bin), KUBERNETES_TRACK,
#        FORCE=1 to rebuild.
set -euo pipefail
hack="$(cd "$(dirname "$0")" && pwd)"

# Environment values win over the file, so `KUBERNETES_TRACK=fallback hack/build-binaries.sh`
# works without editing anything.
while IFS='=' read -r key value; do
  [[ -z "$key" || "$key" == \#* ]] && continue
  if [[ -z "${!key:-}" ]]; then declare "$key=$value"; fi
done < "$hack/versions.env"

case "$KUBERNETES_TRACK" in
  primary) KUBERNETES_VERSION="$KUBERNETES_PRIMARY_VERSION" ;;
  fallback) KUBERNETES_VERSION="$KUBERNETES_FALLBACK_VERSION" ;;
  *) echo "KUBERNETES_TRACK must be primary or fallback, not '$KUBERNETES_TRACK'" >&2; exit 2 ;;
esac

cache="${FORESCALE_BIN_CACHE:-$HOME/.cache/forescale/bin}"
export GOFLAGS="${GOFLAGS:-} -trimpath -buildvcs=false"
export CGO_ENABLED=0

# build <component> <version> <module dir> <package> <binary> [extra ldflags]
build() {
  local component="$1" version="$2" moddir="$3" pkg="$4" bin="$5" ldflags="${6:-}"
  local out="$cache/$component-$version"
  if [[ -x "$out/$bin" && "${FORCE:-0}" != 1 ]]; then
    echo "cached  $out/$bin"
    return
  fi
  mkdir -p "$out"
  local start=$SECONDS
  echo "building $bin $version from $pkg ..."
  # Build to a temporary name and rename, so an interrupted build never looks cached.
  (cd "$moddir" && go build -ldflags "-s -w $ldflags" -o "$out/.$bin.tmp" "$pkg")
  mv "$out/.$bin.tmp" "$out/$bin"
  echo "built   $out/$bin in $((SECONDS - start))s"
}

build_kubernetes() {
  local v="$KUBERNETES_VERSION" major minor
  local moddir="$hack/kubernetes/v$v"
  if [[ ! -f "$moddir/go.mod" ]]; then
    echo "no wrapper module $moddir; run hack/kubernetes/sync-module.sh $v" >&2
    exit 1
  fi
  major="${v%%.*}"; minor="${v#*.}"; minor="${minor%%.*}"
  local date
  date="$(cd "$moddir" && go mod download -json "k8s.io/kubernetes@v$v" \
    | sed -n 's/.*"Time": "\(.*\)".*/\1/p' | head -1)"
  local flags=""
  # /version must report the real release: set the variables both the server
  # (component-base) and the client (client-go) read.
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $p.gitVersion=v$v -X $p.gitMajor=$major -X $p.gitMinor=$minor"
    flags+=" -X $p.gitTreeState=clean -X $p.gitCommit=go-module-proxy -X $p.buildDate=${date:-1970-01-01T00:00:00Z}"
  done
  for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    build kubernetes "$v" "$moddir" "k8s.io/kubernetes/cmd/$cmd" "$cmd" "$flags"
  done
}

build_etcd() {
  build etcd "$ETCD_VERSION" "$hack/etcd" go.etcd.io/etcd/server/v3 etcd
}

build_kwok() {
  build kwok "$KWOK_VERSION" "$hack/kwok" sigs.k8s.io/kwok/cmd/kwok kwok
}

# KEDA's operator from its own main; the metrics server from hack/keda/adapter (KEDA's
# provider and gRPC client behind custom-metrics-apiserver, without upstream's extra
# all-interfaces /metrics listener). Both link every scaler KEDA ships.
build_keda() {
  local flags="-X github.com/kedacore/keda/v2/version.Version=$KEDA_VERSION"
  flags+=" -X github.com/kedacore/keda/v2/version.GitCommit=go-module-proxy"
  build keda "$KEDA_VERSION" "$hack/keda" github.com/kedacore/keda/v2/cmd/operator keda-operator "$flags"
  build keda "$KEDA_VERSION" "$hack/keda" ./adapter keda-adapter "$flags"
}

# Argo CD's Lua VM for the health-check tests: a few seconds, keyed by gopher-lua's version
# and a hash of hack/argocd-lua (forescale.sandbox.binaries computes the same key).
argocd_lua_version() {
  local hash
  hash="$(cd "$hack/argocd-lua" && cat go.mod go.sum main.go | sha256sum | cut -c1-12)"
  echo "$GOPHER_LUA_VERSION-$hash"
}

build_argocd_lua() {
  build argocd-lua "$(argocd_lua_version)" "$hack/argocd-lua" . argocd-lua
}

targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=(all)
total_start=$SECONDS
for t in "${targets[@]}"; do
  case "$t" in
    all) build_etcd; build_kwok; build_argocd_lua; build_kubernetes; build_keda ;;
    kubernetes) build_kubernetes ;;
    etcd) build_etcd ;;
    kwok) build_kwok ;;
    keda) build_keda ;;
    argocd-lua) build_argocd_lua ;;
    *) echo "unknown target $t" >&2; exit 2 ;;
  esac
done
echo "done in $((SECONDS - total_start))s; binaries under $cache:"
for d in "$cache/kubernetes-$KUBERNETES_VERSION" "$cache/etcd-$ETCD_VERSION" "$cache/kwok-$KWOK_VERSION" \
  "$cache/keda-$KEDA_VERSION" "$cache/argocd-lua-$(argocd_lua_version)"; do
  if [[ -d "$d" ]]; then find "$d" -mindepth 1 -maxdepth 1 -printf '  %p\n' | sort; fi
done
