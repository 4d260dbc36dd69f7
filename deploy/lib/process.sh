# shellcheck shell=bash
# deploy/lib/process.sh - helpers shared by deploy/kafka.sh and deploy/redis.sh, which each manage
# one background server process recorded in a pid file. Sourced, never run; defines functions only
# (no options are set and nothing runs at source time).
#
# The caller sets, before sourcing this file:
#   SCRIPT_NAME   prefix of log/err messages, e.g. kafka.sh (the lock message says deploy/$SCRIPT_NAME)
#   SERVICE_HOST  host the server listens on (port_open, cmd_status)
#   SERVICE_NAME  what cmd_stop calls the process: "stopping $SERVICE_NAME (pid N)"
#   STATE_DIR     directory holding the lock, pid and log files (take_lock creates it)
#   PID_FILE, LOCK_FILE, LOG_FILE
#   LOCK_TIMEOUT  seconds take_lock waits for a concurrent invocation
#   STOP_TIMEOUT  seconds stop_pid waits after SIGTERM before sending SIGKILL
#   KILL_WAIT_TENTHS  tenths of a second stop_pid waits after SIGKILL (5 = 0.5 s)
# and defines these functions:
#   pid_is_ours PID        true if PID is this script's live server (use pid_alive)
#   service_port PID       prints the port the running server PID listens on
#   service_ready PORT     true if the server answers on PORT
#   status_not_ready PID PORT  prints cmd_status's line for a live server that does not answer
#   cmd_start              (for cmd_restart)
# The lock is held on file descriptor 9: commands started while holding it should close it (9>&-).

log() { printf '%s: %s\n' "$SCRIPT_NAME" "$*"; }
err() { printf '%s: error: %s\n' "$SCRIPT_NAME" "$*" >&2; }

# serialise start/stop/download between concurrent invocations (no-op without flock)
take_lock() {
    mkdir -p "$STATE_DIR"
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$LOCK_FILE"
        if ! flock -w "$LOCK_TIMEOUT" 9; then
            err "another deploy/$SCRIPT_NAME is busy (lock $LOCK_FILE)"
            exit 1
        fi
    fi
}

# alive = exists and is not a zombie (a server that died while this script is its parent
# stays a zombie until reaped, and kill -0 would still succeed)
pid_alive() {
    local state
    [[ -r /proc/$1/stat ]] || return 1
    state=$(sed -e 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [[ -n $state && $state != Z ]]
}

# prints the recorded pid if it is our live server (pid_is_ours); removes a stale pid file
our_pid() {
    local pid
    [[ -f $PID_FILE ]] || return 1
    pid=$(tr -dc '0-9' <"$PID_FILE")
    if [[ -n $pid ]] && pid_is_ours "$pid"; then
        echo "$pid"
        return 0
    fi
    rm -f "$PID_FILE"
    return 1
}

# something accepts TCP connections on SERVICE_HOST:$1
port_open() {
    timeout 2 bash -c "exec 3<>/dev/tcp/$SERVICE_HOST/$1" 2>/dev/null
}

# the last $1 (default 50) lines of LOG_FILE, on stderr
log_tail() {
    local n=${1:-50}
    if [[ -f $LOG_FILE ]]; then
        echo "---- last $n lines of $LOG_FILE ----" >&2
        tail -n "$n" "$LOG_FILE" >&2
        echo "----" >&2
    fi
}

# true as soon as pid $1 is gone (pid_alive fails); checks now, then every 0.1 s for $2 tenths
# of a second
wait_gone() {
    local pid=$1 tenths=$2 i
    for ((i = 0; i <= tenths; i++)); do
        ((i == 0)) || sleep 0.1
        pid_alive "$pid" || return 0
    done
    return 1
}

# SIGTERM, wait up to STOP_TIMEOUT s, then SIGKILL and wait up to KILL_WAIT_TENTHS/10 s;
# only for a pid that pid_is_ours
stop_pid() {
    local pid=$1
    pid_is_ours "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid" $((STOP_TIMEOUT * 10)) && return 0
    err "pid $pid still alive after ${STOP_TIMEOUT}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" "$KILL_WAIT_TENTHS" && return 0
    err "pid $pid did not exit after SIGKILL"
    return 1
}

# ---------------------------------------------------------------- commands

cmd_stop() {
    take_lock
    local pid
    if ! pid=$(our_pid); then
        log "not running"
        return 0
    fi
    log "stopping $SERVICE_NAME (pid $pid)"
    stop_pid "$pid" || exit 1
    rm -f "$PID_FILE"
    log "stopped"
}

cmd_restart() {
    cmd_stop
    exec 9>&- # release the lock before start takes it again
    cmd_start
}

# "running (pid N) on HOST:PORT" (0), status_not_ready's line (1) or "stopped" (1)
cmd_status() {
    local pid port
    if pid=$(our_pid); then
        port=$(service_port "$pid")
        if service_ready "$port"; then
            echo "running (pid $pid) on $SERVICE_HOST:$port"
            return 0
        fi
        status_not_ready "$pid" "$port"
        return 1
    fi
    echo "stopped"
    return 1
}
