#!/usr/bin/env bash
# deploy/docker/make-base.sh - make the local base image callctl-base:bookworm, for machines that
# cannot pull python:3.11-slim-bookworm from a container registry.
#
# Debootstraps Debian bookworm (minbase + python3, python3-venv, ca-certificates) from the Debian
# mirror this machine's apt already uses, keeps the root filesystem as a tarball in the cache dir,
# and `docker import`s it. Does nothing when the image exists (use --force to remake it).
#
#   deploy/docker/make-base.sh [--force]
#
# Env: BASE_IMAGE (callctl-base:bookworm), DEBIAN_MIRROR (from /etc/apt/sources.list*),
#      CALLCTL_LOCAL_DIR (cache under $CALLCTL_LOCAL_DIR/docker, default .local/docker), DOCKER.
# Needs root (debootstrap), a running Docker engine, and Debian's debootstrap (installed if missing).
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/../.." && pwd)
BASE_IMAGE=${BASE_IMAGE:-callctl-base:bookworm}
SUITE=bookworm
CACHE_DIR="${CALLCTL_LOCAL_DIR:-$REPO_ROOT/.local}/docker"
TARBALL="$CACHE_DIR/$SUITE-python3-rootfs.tar"
DOCKER=${DOCKER:-docker}
PACKAGES=python3,python3-venv,ca-certificates

log() { printf 'make-base: %s\n' "$*"; }
err() { printf 'make-base: error: %s\n' "$*" >&2; }

force=""
[[ ${1:-} == --force ]] && force=1

if [[ -z $force ]] && "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    log "$BASE_IMAGE already exists ($("$DOCKER" image inspect -f '{{.Size}}' "$BASE_IMAGE" |
        awk '{printf "%.0f MB", $1/1e6}')); --force to remake it"
    exit 0
fi

# The Debian mirror apt uses here (deb822 `URIs:` or one-line `deb URL suite`), not -security.
mirror_from_apt() {
    local files=() f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
        [[ -f $f ]] && files+=("$f")
    done
    ((${#files[@]})) || return 1
    { grep -hE '^URIs:' "${files[@]}" | awk '{print $2}'
      grep -hE '^deb ' "${files[@]}" | sed -E 's/^deb (\[[^]]*\] )?//' | awk '{print $1}'; } |
        grep -E '/debian/?$' | grep -v security | head -n1
}

make_rootfs_tarball() {
    local mirror=${DEBIAN_MIRROR:-}
    [[ -n $mirror ]] || mirror=$(mirror_from_apt) || true
    [[ -n $mirror ]] || mirror=http://deb.debian.org/debian
    if ! command -v debootstrap >/dev/null 2>&1; then
        log "installing debootstrap (apt-get)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    fi
    mkdir -p "$CACHE_DIR"
    local root
    root=$(mktemp -d "$CACHE_DIR/rootfs.XXXXXX")
    # shellcheck disable=SC2064 # expand now: the path is fixed
    trap "rm -rf '$root'" EXIT
    log "debootstrap $SUITE (minbase + $PACKAGES) from $mirror ..."
    local t0=$SECONDS
    if ! debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$root" "$mirror" \
        >"$CACHE_DIR/debootstrap.log" 2>&1; then
        err "debootstrap failed; last lines of $CACHE_DIR/debootstrap.log:"
        tail -n 30 "$CACHE_DIR/debootstrap.log" >&2
        exit 1
    fi
    log "debootstrap took $((SECONDS - t0)) s"
    # the same apt sources as the official images, so `apt-get` works in derived images
    rm -f "$root/etc/apt/sources.list"
    cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian*}/debian-security
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    # what a container image does not need: package caches, lists, docs, man pages
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin \
        "$root"/var/lib/apt/lists/* "$root"/var/log/* "$root"/tmp/* \
        "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*
    find "$root/usr/lib/python3" "$root/usr/lib/python3.11" -name __pycache__ -prune \
        -exec rm -rf {} + 2>/dev/null || true
    tar -C "$root" --numeric-owner -cf "$TARBALL.tmp" .
    mv "$TARBALL.tmp" "$TARBALL"
    rm -rf "$root"
    trap - EXIT
    log "root filesystem: $TARBALL ($(du -h "$TARBALL" | cut -f1))"
}

if [[ -n $force || ! -s $TARBALL ]]; then
    make_rootfs_tarball
else
    log "using the cached root filesystem $TARBALL (--force to debootstrap again)"
fi

log "docker import -> $BASE_IMAGE"
"$DOCKER" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    --message "debootstrap $SUITE minbase + $PACKAGES" \
    "$TARBALL" "$BASE_IMAGE" >/dev/null
"$DOCKER" run --rm --network none "$BASE_IMAGE" python3 -c \
    'import sys, ssl, venv; print("make-base: python", sys.version.split()[0], "ok")'
log "$BASE_IMAGE ready"
