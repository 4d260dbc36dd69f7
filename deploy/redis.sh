#!/usr/bin/env bash
# deploy/redis.sh - a throwaway local Redis (the idempotency backend) for tests and `make dev`.
# No persistence, loopback only, state under .local/redis/. No systemd.
#
# See usage() below, or run: deploy/redis.sh --help
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)

LOCAL_DIR=${CALLCTL_LOCAL_DIR:-$REPO_ROOT/.local}
REDIS_DIR="$LOCAL_DIR/redis"
PID_FILE="$REDIS_DIR/redis.pid"
LOG_FILE="$REDIS_DIR/redis.log"
LOCK_FILE="$REDIS_DIR/.lock"

REDIS_HOST=127.0.0.1
REDIS_PORT=${REDIS_PORT:-6379}
REDIS_START_TIMEOUT=${REDIS_START_TIMEOUT:-30}
STOP_TIMEOUT=10

# for deploy/lib/process.sh (log/err, take_lock, pid helpers, cmd_stop/restart/status)
SCRIPT_NAME=redis.sh
SERVICE_HOST=$REDIS_HOST
SERVICE_NAME=redis-server
STATE_DIR=$REDIS_DIR
LOCK_TIMEOUT=120
KILL_WAIT_TENTHS=5
# shellcheck source-path=SCRIPTDIR source=lib/process.sh
source "$SCRIPT_DIR/lib/process.sh"

usage() {
    cat <<EOF
Usage: deploy/redis.sh start|stop|restart|status|-h

Local Redis server on $REDIS_HOST:\$REDIS_PORT for tests (idempotency backend): no persistence
(--save "" --appendonly no), daemonised, with its dir, pid file and log in $REDIS_DIR.

Commands:
  start    install Debian's redis-server with apt-get if it is not on PATH, start it and wait
           (up to ${REDIS_START_TIMEOUT}s) until redis-cli ping answers PONG. No-op if this
           script's instance already runs.
  stop     SIGTERM this script's instance (by its pid file), SIGKILL after ${STOP_TIMEOUT}s
  restart  stop, then start (no data survives: there is no persistence)
  status   "running (pid N) on HOST:PORT" (exit 0) or "stopped" (exit 1)

Environment (value in effect now):
  REDIS_PORT           port ($REDIS_PORT)
  REDIS_START_TIMEOUT  seconds to wait for PONG ($REDIS_START_TIMEOUT)
  CALLCTL_LOCAL_DIR    state root; Redis uses \$CALLCTL_LOCAL_DIR/redis ($LOCAL_DIR)

Note: on a host with systemd, installing the redis-server package also starts a system-wide
Redis on 6379; then either stop it (systemctl disable --now redis-server) or use another
REDIS_PORT.
EOF
}

# ---------------------------------------------------------------- install

ensure_installed() {
    if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
        return 0
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        err "redis-server is not installed and apt-get is not available; install Redis (server and redis-cli) yourself"
        exit 2
    fi
    local sudo=()
    if ((EUID != 0)); then
        if ! command -v sudo >/dev/null 2>&1; then
            err "redis-server is not installed; run as root: apt-get install redis-server"
            exit 2
        fi
        sudo=(sudo)
    fi
    log "redis-server not found, installing Debian's redis-server package with apt-get"
    local install=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q --no-install-recommends redis-server)
    if ! "${install[@]}" </dev/null; then
        log "apt-get install failed; running apt-get update and retrying"
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null
        "${install[@]}" </dev/null
    fi
    if ! command -v redis-server >/dev/null 2>&1; then
        err "redis-server is still not on PATH after installing the package"
        exit 2
    fi
}

# ---------------------------------------------------------------- process helpers

# a redis-server whose working directory is our dir (redis-server chdirs into --dir)
pid_is_ours() {
    local pid=$1 comm cwd
    pid_alive "$pid" || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || return 1
    [[ $comm == redis-server* && $cwd == "$(cd "$REDIS_DIR" && pwd -P)" ]]
}

# the port of a running instance, from its process title "redis-server 127.0.0.1:PORT"
pid_port() {
    local p
    p=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | sed -n 's/.*:\([0-9][0-9]*\).*/\1/p')
    echo "${p:-$REDIS_PORT}"
}

pong() {
    [[ "$(timeout 3 redis-cli -h "$REDIS_HOST" -p "$1" ping 2>/dev/null)" == PONG ]]
}

# cmd_status (deploy/lib/process.sh): the instance is ready once it answers PING
service_port() { pid_port "$1"; }
service_ready() { pong "$1"; }
status_not_ready() { echo "not answering (pid $1) on $REDIS_HOST:$2"; }

# ---------------------------------------------------------------- commands

cmd_start() {
    take_lock
    local pid port
    if pid=$(our_pid); then
        port=$(pid_port "$pid")
        if pong "$port"; then
            log "already running (pid $pid)"
            echo "redis ready on $REDIS_HOST:$port"
            return 0
        fi
        err "this script's redis-server (pid $pid) does not answer PING on $REDIS_HOST:$port"
        err "run 'deploy/redis.sh stop' first"
        exit 1
    fi

    ensure_installed
    if port_open "$REDIS_PORT"; then
        err "$REDIS_HOST:$REDIS_PORT is already in use by another process (not this script's redis)"
        err "stop it, or choose another port with REDIS_PORT"
        exit 1
    fi
    if [[ -f $LOG_FILE ]]; then mv -f "$LOG_FILE" "$LOG_FILE.1"; fi

    # --daemonize: redis-server forks, detaches (setsid) and writes the pid file itself
    if ! redis-server --daemonize yes --bind "$REDIS_HOST" --port "$REDIS_PORT" \
        --protected-mode yes --save "" --appendonly no \
        --dir "$REDIS_DIR" --pidfile "$PID_FILE" --logfile "$LOG_FILE" </dev/null 9>&-; then
        err "redis-server failed to start"
        log_tail 30
        exit 1
    fi

    local started=$SECONDS deadline=$((SECONDS + REDIS_START_TIMEOUT))
    while :; do
        if pong "$REDIS_PORT"; then
            if pid=$(our_pid); then
                echo "redis ready on $REDIS_HOST:$REDIS_PORT (pid $pid)"
                return 0
            fi
        fi
        if ((SECONDS >= deadline)); then
            err "redis-server did not answer PING on $REDIS_HOST:$REDIS_PORT within ${REDIS_START_TIMEOUT}s"
            log_tail 30
            if pid=$(our_pid); then stop_pid "$pid" || true; fi
            exit 1
        fi
        # the daemon writes its pid file right after forking; without one after a second
        # (or with a dead pid) it has exited, e.g. because the port could not be bound
        if ((SECONDS - started >= 2)) && ! our_pid >/dev/null; then
            err "redis-server exited during startup"
            log_tail 30
            exit 1
        fi
        sleep 0.2
    done
}

case ${1:-} in
start) cmd_start ;;
stop) cmd_stop ;;
restart) cmd_restart ;;
status) cmd_status ;;
-h | --help | help) usage ;;
*)
    usage >&2
    exit 2
    ;;
esac
