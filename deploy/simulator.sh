#!/usr/bin/env bash
# deploy/simulator.sh - run the Sinch Calling API simulator in the background for local use.
#   start | stop | status        (SIM_PORT, default 8700; logs in .local/simulator/simulator.log)
# Like Sinch, the simulator answers 404 for calls it does not know: it starts with the demo calls
# of the README's quick start (SIM_CREATE_CALLS, default demo-1,demo-2,demo-3); create others
# with `curl -X POST localhost:8700/_admin/calls -d '{"callId":"my-call"}'`.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
HOME_DIR="${CALLCTL_LOCAL_DIR:-$REPO_ROOT/.local}/simulator"
PID_FILE="$HOME_DIR/simulator.pid"
LOG_FILE="$HOME_DIR/simulator.log"
SIM_PORT=${SIM_PORT:-8700}
SIM_CREATE_CALLS=${SIM_CREATE_CALLS-demo-1,demo-2,demo-3}
# the uv the Makefile chose (exported as UV), else the same pinned one it would choose
UV=${UV:-$("$SCRIPT_DIR/uv.sh")}

running() { [[ -f $PID_FILE ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; }

answering() { curl -fsS "http://127.0.0.1:$SIM_PORT/_admin/health" >/dev/null 2>&1; }

case "${1:-}" in
start)
    mkdir -p "$HOME_DIR"
    if running; then echo "simulator already running (pid $(cat "$PID_FILE"))"; exit 0; fi
    cd "$REPO_ROOT"
    SIM_PORT=$SIM_PORT SIM_CREATE_CALLS=$SIM_CREATE_CALLS setsid nohup "$UV" run --frozen python -m simulator >"$LOG_FILE" 2>&1 </dev/null &
    echo $! >"$PID_FILE"
    for _ in $(seq 1 100); do
        if answering; then echo "simulator ready on http://127.0.0.1:$SIM_PORT"; exit 0; fi
        running || { echo "simulator exited; last lines of $LOG_FILE:" >&2; tail -n 30 "$LOG_FILE" >&2; exit 1; }
        sleep 0.2
    done
    echo "simulator did not answer within 20 s" >&2; exit 1
    ;;
stop)
    if running; then
        pid=$(cat "$PID_FILE")
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        echo "simulator stopped"
    else
        echo "simulator not running"
    fi
    rm -f "$PID_FILE"
    ;;
status)
    if running; then echo "running (pid $(cat "$PID_FILE")) on http://127.0.0.1:$SIM_PORT"; else echo "stopped"; exit 1; fi
    ;;
*)
    echo "usage: deploy/simulator.sh start|stop|status" >&2; exit 2
    ;;
esac
