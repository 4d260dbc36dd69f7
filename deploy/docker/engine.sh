#!/usr/bin/env bash
# deploy/docker/engine.sh - make sure a Docker engine answers: use the one that does, else start
# dockerd (installing Debian's docker.io, and docker-compose for the compose test, when missing)
# with --iptables=false --bridge=none, so containers use host networking or user-defined
# networks; it is left running (log: $DOCKERD_LOG). Exit 0 once `docker info` answers, else 1
# with the reason (for CI: "no engine here" is said plainly, never taken as a pass).
#
# Env: DOCKERD_LOG (/tmp/dockerd.log), DOCKERD_START_TIMEOUT (30 s)
set -euo pipefail

DOCKERD_LOG=${DOCKERD_LOG:-/tmp/dockerd.log}
DOCKERD_START_TIMEOUT=${DOCKERD_START_TIMEOUT:-30}

log() { printf 'engine: %s\n' "$*"; }
err() { printf 'engine: error: %s\n' "$*" >&2; }
engine_up() { docker info >/dev/null 2>&1; }

install_missing() {
    local missing=()
    command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
    command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 ||
        missing+=(docker-compose)
    ((${#missing[@]})) || return 0
    if ! command -v apt-get >/dev/null 2>&1 || ((EUID != 0)); then
        err "${missing[*]} not installed, and apt-get as root is not available to install it"
        return 1
    fi
    log "installing Debian's ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

if engine_up; then
    log "Docker $(docker version --format '{{.Server.Version}}' 2>/dev/null) answers"
    exit 0
fi
install_missing || exit 1
if ((EUID != 0)); then
    err "no Docker engine answers, and starting dockerd needs root"
    exit 1
fi
log "starting dockerd --iptables=false --bridge=none (log $DOCKERD_LOG)"
setsid nohup dockerd --iptables=false --bridge=none >"$DOCKERD_LOG" 2>&1 </dev/null &
for _ in $(seq 1 $((DOCKERD_START_TIMEOUT * 2))); do
    engine_up && break
    sleep 0.5
done
if ! engine_up; then
    err "dockerd did not answer within ${DOCKERD_START_TIMEOUT} s; last lines of $DOCKERD_LOG:"
    tail -n 20 "$DOCKERD_LOG" >&2
    exit 1
fi
log "Docker $(docker version --format '{{.Server.Version}}' 2>/dev/null) started"
