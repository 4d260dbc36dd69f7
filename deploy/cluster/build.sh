#!/usr/bin/env bash
# deploy/cluster/build.sh - the binaries of deploy/cluster.sh's single-node Kubernetes, built from
# the Go module proxy (no release downloads, no registry here), cached in $K8S_BIN:
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kubectl
#                                                                      k8s.io/kubernetes@$K8S_VERSION
#   etcd                                                               go.etcd.io/etcd/server/v3@$ETCD_VERSION
#   pause (the pod sandbox's process, static C) and pause.tar, its image for `ctr images import`
# k8s.io/kubernetes's go.mod points k8s.io/* at ./staging, which its module zip lacks: the module
# is copied to a scratch dir and its replaces swapped for the published k8s.io/* v0.N.P modules.
# The version is stamped as a release build's would be (helm reads it for kubeVersion checks).
# Builds run under `nice -n 19`; the first takes ~15-25 min on 2 busy cores, later runs nothing.
#
# `build.sh --cached` builds nothing: exit 0 when every binary is there, 1 when some is missing
# (CI runs the cluster test only then: a first build does not fit its budget).
#
# Env: K8S_VERSION (v1.34.4), ETCD_VERSION (v3.6.16), K8S_CACHE (~/.cache/callctl-k8s),
#      K8S_BIN ($K8S_CACHE/$K8S_VERSION/bin)
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
K8S_VERSION=${K8S_VERSION:-v1.34.4}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
K8S_CACHE=${K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/callctl-k8s}
K8S_BIN=${K8S_BIN:-$K8S_CACHE/$K8S_VERSION/bin}
PAUSE_IMAGE=${PAUSE_IMAGE:-registry.k8s.io/pause:3.10}
COMPONENTS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl)

log() { printf 'cluster-build: %s\n' "$*"; }
err() { printf 'cluster-build: error: %s\n' "$*" >&2; }
command -v go >/dev/null 2>&1 || { err "go is needed (Go module proxy builds)"; exit 2; }
mkdir -p "$K8S_BIN"
export GOFLAGS="-mod=mod -buildvcs=false"

module_dir() { go mod download -json "$1" | python3 -c 'import json, sys; d = json.load(sys.stdin); print(d.get("Dir") or sys.exit(d.get("Error")))'; }

# built as the main module (`go version -m` says "(devel)"): a stamp file carries the version
missing=()
for c in "${COMPONENTS[@]}"; do
    [[ -x $K8S_BIN/$c && -f $K8S_BIN/.kubernetes-$K8S_VERSION ]] || missing+=("$c")
done
if [[ ${1:-} == --cached ]]; then
    [[ -f $K8S_BIN/.etcd-$ETCD_VERSION && -f $K8S_BIN/pause.tar ]] || missing+=(etcd pause)
    if ((${#missing[@]})); then log "not built yet in $K8S_BIN: ${missing[*]}"; exit 1; fi
    log "all built in $K8S_BIN"
    exit 0
fi
if ((${#missing[@]})); then
    log "building ${missing[*]} $K8S_VERSION into $K8S_BIN (nice -n 19 go build)"
    t=$SECONDS
    src="$K8S_CACHE/src-$K8S_VERSION"
    if [[ ! -f $src/.prepared ]]; then
        rm -rf "$src"
        cp -r "$(module_dir "k8s.io/kubernetes@$K8S_VERSION")" "$src"
        chmod -R u+w "$src"
        rm -rf "$src/go.work" "$src/go.work.sum" "$src/vendor"
        staging_version="v0.${K8S_VERSION#v1.}"
        for m in $(sed -n 's#^\t\(k8s.io/[a-z-]*\) => ./staging.*#\1#p' "$src/go.mod"); do
            (cd "$src" && go mod edit -dropreplace="$m" && go mod edit -require="$m@$staging_version")
        done
        touch "$src/.prepared"
    fi
    minor=$(echo "$K8S_VERSION" | cut -d. -f2)
    ldflags="-s -w"
    for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        ldflags+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
        ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
    done
    (cd "$src" && nice -n 19 go build -trimpath -ldflags "$ldflags" -o "$K8S_BIN/" \
        "${COMPONENTS[@]/#/./cmd/}")
    touch "$K8S_BIN/.kubernetes-$K8S_VERSION"
    log "kubernetes built in $((SECONDS - t)) s"
fi

if [[ ! -f $K8S_BIN/.etcd-$ETCD_VERSION ]]; then
    log "building etcd $ETCD_VERSION into $K8S_BIN"
    t=$SECONDS
    src="$K8S_CACHE/etcd-$ETCD_VERSION"
    mkdir -p "$src"
    cat >"$src/main.go" <<'GO'
// etcd for deploy/cluster.sh: the server's own entry point.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
    printf 'module callctl.local/etcd\n\ngo 1.24\n' >"$src/go.mod"
    (cd "$src" && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" && go mod tidy &&
        nice -n 19 go build -trimpath -ldflags "-s -w" -o "$K8S_BIN/etcd" .)
    touch "$K8S_BIN/.etcd-$ETCD_VERSION"
    log "etcd built in $((SECONDS - t)) s"
fi

if [[ ! -f $K8S_BIN/pause.tar || $SCRIPT_DIR/pause.c -nt $K8S_BIN/pause.tar ]]; then
    command -v gcc >/dev/null 2>&1 || { err "gcc (with a static libc) is needed for the pause binary"; exit 2; }
    gcc -static -Os -o "$K8S_BIN/pause" "$SCRIPT_DIR/pause.c"
    python3 "$SCRIPT_DIR/pause-image.py" "$K8S_BIN/pause" "$PAUSE_IMAGE" "$K8S_BIN/pause.tar"
    log "pause image $PAUSE_IMAGE in $K8S_BIN/pause.tar"
fi
log "ready in $K8S_BIN: $(cd "$K8S_BIN" && ls | grep -v '\.tar$' | tr '\n' ' ')"
