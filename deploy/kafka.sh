#!/usr/bin/env bash
# deploy/kafka.sh - a local single-node Apache Kafka 4.x broker (KRaft, combined broker+controller)
# run from the plain Maven Central jars, without Docker. For `make dev` and the integration tests.
#
# See usage() below, or run: deploy/kafka.sh --help
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
POM="$SCRIPT_DIR/kafka/pom.xml"
LOG4J_CONFIG="$SCRIPT_DIR/kafka/log4j2.properties"

KAFKA_VERSION=${KAFKA_VERSION:-4.1.2}
LOG4J2_VERSION=${LOG4J2_VERSION:-2.25.3}
DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1

LOCAL_DIR=${CALLCTL_LOCAL_DIR:-$REPO_ROOT/.local}
# state (config, data, log, pid) and jars apart, so a second broker (the secured one of the
# tests, the container image) reuses the jars with its own state dir and ports
KAFKA_HOME=${KAFKA_STATE_DIR:-$LOCAL_DIR/kafka}
LIB_DIR=${KAFKA_LIB_DIR:-$LOCAL_DIR/kafka/lib}
STAMP="$LIB_DIR/.version"
CONF_DIR="$KAFKA_HOME/config"
CONF="$CONF_DIR/server.properties"
DATA_DIR="$KAFKA_HOME/data"
LOG_FILE="$KAFKA_HOME/kafka.log"
PID_FILE="$KAFKA_HOME/kafka.pid"
LOCK_FILE="$KAFKA_HOME/.lock"

KAFKA_HOST=${KAFKA_HOST:-127.0.0.1}
KAFKA_ADVERTISED_HOST=${KAFKA_ADVERTISED_HOST:-$KAFKA_HOST}
KAFKA_PORT=${KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9093}
KAFKA_NUM_PARTITIONS=${KAFKA_NUM_PARTITIONS:-1}
# fixed cluster id (the one testcontainers-python and faststream use): restarts reuse the data dir
KAFKA_CLUSTER_ID=${KAFKA_CLUSTER_ID:-MkU3OEVBNTcwNTJENDM2Qk}
KAFKA_START_TIMEOUT=${KAFKA_START_TIMEOUT:-120}
KAFKA_JVM_OPTS=${KAFKA_JVM_OPTS:--Xms256m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true}
JAVA=${KAFKA_JAVA_HOME:+$KAFKA_JAVA_HOME/bin/}java
MVN=${MVN:-mvn}
STOP_TIMEOUT=30
# optional: a properties file appended to the generated config (later keys win: listeners,
# security, ...), and SCRAM credentials for `format --add-scram`, one entry a line
KAFKA_EXTRA_CONFIG=${KAFKA_EXTRA_CONFIG:-}
KAFKA_ADD_SCRAM=${KAFKA_ADD_SCRAM:-}

INSTALL_HINT="install them with: apt-get install openjdk-17-jre-headless maven"

# for deploy/lib/process.sh (log/err, take_lock, pid helpers, cmd_stop/restart/status)
SCRIPT_NAME=kafka.sh
# where readiness is probed: a broker bound to every address answers on loopback
SERVICE_HOST=$KAFKA_HOST
[[ $SERVICE_HOST == 0.0.0.0 ]] && SERVICE_HOST=127.0.0.1
SERVICE_NAME=broker
STATE_DIR=$KAFKA_HOME
LOCK_TIMEOUT=300
KILL_WAIT_TENTHS=100
# shellcheck source-path=SCRIPTDIR source=lib/process.sh
source "$SCRIPT_DIR/lib/process.sh"

usage() {
    cat <<EOF
Usage: deploy/kafka.sh COMMAND [ARGS]

Local single-node Apache Kafka $KAFKA_VERSION broker (KRaft combined broker+controller) on
$KAFKA_HOST, run from the Maven Central jars (no Docker). State lives in $KAFKA_HOME.

Commands:
  download [--force]  copy the broker's runtime classpath into lib/ with Maven (skipped when
                      lib/.version already records the same versions; --force re-downloads)
  start               download if needed, write config/server.properties, format the storage
                      (--ignore-formatted, fixed cluster id), start kafka.Kafka in the background
                      and wait until $KAFKA_HOST:\$KAFKA_PORT accepts connections.
                      No-op if this script's broker is already running.
  run                 write the config, format, and run the broker in the foreground (exec; for
                      containers: the jars must be in lib/ already, nothing is downloaded).
                      Every KAFKA_* variable that is not one of the settings below becomes a
                      broker property as in the apache/kafka image (KAFKA_LOG_RETENTION_MS ->
                      log.retention.ms; "__" -> "_", "___" -> "-"), and CLUSTER_ID is honoured
  stop                SIGTERM this script's broker (by its pid file), SIGKILL after ${STOP_TIMEOUT}s
  restart             stop, then start (the data dir is kept)
  status              "running (pid N) on HOST:PORT" (exit 0) or "stopped" (exit 1)
  logs [N] [-f]       print the last N lines of kafka.log (default 100); -f follows
  reset               stop, then delete the data dir (topics, offsets, consumer groups)
  -h, --help          this help

Environment (value in effect now):
  KAFKA_HOST             address the broker binds ($KAFKA_HOST; 0.0.0.0: every interface)
  KAFKA_ADVERTISED_HOST  host clients are told to use ($KAFKA_ADVERTISED_HOST)
  KAFKA_PORT             broker (PLAINTEXT) port ($KAFKA_PORT)
  KAFKA_CONTROLLER_PORT  KRaft controller port, on 127.0.0.1 ($KAFKA_CONTROLLER_PORT)
  KAFKA_EXTRA_CONFIG     properties file appended to the config, overriding it (${KAFKA_EXTRA_CONFIG:-none})
  KAFKA_ADD_SCRAM        SCRAM credentials made when the storage is formatted, one a line,
                         e.g. SCRAM-SHA-512=[name=alice,password=...] ($([[ -n $KAFKA_ADD_SCRAM ]] && echo set || echo none))
  KAFKA_NUM_PARTITIONS   num.partitions for auto-created topics ($KAFKA_NUM_PARTITIONS)
  KAFKA_START_TIMEOUT    seconds to wait for the broker to accept connections ($KAFKA_START_TIMEOUT)
  KAFKA_JVM_OPTS         JVM options (${KAFKA_JVM_OPTS})
  KAFKA_CLUSTER_ID       cluster id used to format the data dir ($KAFKA_CLUSTER_ID)
  KAFKA_VERSION          org.apache.kafka:kafka_2.13 version ($KAFKA_VERSION)
  LOG4J2_VERSION         log4j2 version, keep in step with KAFKA_VERSION ($LOG4J2_VERSION)
  KAFKA_JAVA_HOME        JDK/JRE to use (unset: java on PATH; Java 17+ required)
  CALLCTL_LOCAL_DIR      state root; Kafka uses \$CALLCTL_LOCAL_DIR/kafka ($LOCAL_DIR)
  KAFKA_STATE_DIR        config, data, log and pid of this broker ($KAFKA_HOME)
  KAFKA_LIB_DIR          the jars ($LIB_DIR)

Files: lib/ (jars), config/server.properties, data/, kafka.log (previous run: kafka.log.1), kafka.pid
Requires Java 17+ and Maven (for download); $INSTALL_HINT
EOF
}

# ---------------------------------------------------------------- prerequisites

require_java() {
    if ! command -v "$JAVA" >/dev/null 2>&1; then
        err "java not found (${JAVA}); the Kafka $KAFKA_VERSION broker needs Java 17+"
        err "$INSTALL_HINT"
        exit 2
    fi
    local spec major
    spec=$("$JAVA" -XshowSettings:properties -version 2>&1 |
        awk -F'= ' '/java\.specification\.version/ {print $2; exit}') || true
    major=${spec%%.*}
    [[ $major == 1 ]] && major=$(cut -d. -f2 <<<"$spec") # 1.8 -> 8
    if ! [[ $major =~ ^[0-9]+$ ]] || ((major < 17)); then
        err "$JAVA is Java '${spec:-unknown}'; the Kafka $KAFKA_VERSION broker needs Java 17+"
        err "$INSTALL_HINT (or point KAFKA_JAVA_HOME at a JDK 17+)"
        exit 2
    fi
}

require_mvn() {
    if ! command -v "$MVN" >/dev/null 2>&1; then
        err "mvn not found; it is needed once to download the Kafka jars from Maven Central"
        err "$INSTALL_HINT"
        exit 2
    fi
}

# ---------------------------------------------------------------- download

stamp_text() {
    printf 'kafka=%s log4j2=%s pom=%s\n' "$KAFKA_VERSION" "$LOG4J2_VERSION" \
        "$(sha256sum "$POM" | cut -d' ' -f1)"
}

lib_present() { compgen -G "$LIB_DIR/kafka_2.13-*.jar" >/dev/null; }

lib_ready() {
    [[ -f $STAMP ]] && [[ "$(cat "$STAMP")" == "$(stamp_text)" ]] && lib_present
}

do_download() {
    local force=${1:-}
    if [[ $force != --force ]] && lib_ready; then
        log "jars for Kafka $KAFKA_VERSION already in $LIB_DIR ($(du -sh "$LIB_DIR" | cut -f1))"
        return 0
    fi
    require_java
    require_mvn
    log "downloading Kafka $KAFKA_VERSION (log4j2 $LOG4J2_VERSION) runtime jars into $LIB_DIR ..."
    local tmp="$LIB_DIR.tmp"
    rm -rf "$tmp"
    mkdir -p "$(dirname "$LIB_DIR")"
    if ! "$MVN" -B -q -f "$POM" "$DEP_PLUGIN:copy-dependencies" \
        -Dstyle.color=never -DincludeScope=runtime -DoutputDirectory="$tmp" \
        -Dkafka.version="$KAFKA_VERSION" -Dlog4j2.version="$LOG4J2_VERSION" </dev/null 2>&1 |
        sed -e $'s/\x1b\\[[0-9;]*m//g' -e '/^$/d'; then # Maven 3.8 -q still emits colour resets
        rm -rf "$tmp"
        err "mvn could not resolve org.apache.kafka:kafka_2.13:$KAFKA_VERSION (see the output above)"
        exit 1
    fi
    # never mix the jars of two Kafka versions in one folder: replace lib/ as a whole
    rm -rf "$LIB_DIR"
    mv "$tmp" "$LIB_DIR"
    stamp_text >"$STAMP"
    log "$(find "$LIB_DIR" -name '*.jar' | wc -l) jars, $(du -sh "$LIB_DIR" | cut -f1) in $LIB_DIR"
}

# ---------------------------------------------------------------- process helpers

# the pid is a java kafka.Kafka process started with this script's config file
pid_is_ours() {
    local pid=$1 cmd
    pid_alive "$pid" || return 1
    cmd=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ "$(head -n1 <<<"$cmd")" == *java ]] &&
        grep -qxF kafka.Kafka <<<"$cmd" &&
        grep -qxF "$CONF" <<<"$cmd"
}

# port of the broker described by the config file (the running one), else $KAFKA_PORT: the
# first listener of the last advertised.listeners line (KAFKA_EXTRA_CONFIG may override it)
running_port() {
    local p=""
    [[ -f $CONF ]] && p=$(sed -n 's|^advertised\.listeners=[A-Za-z_]*://[^:]*:\([0-9]*\).*|\1|p' "$CONF" | tail -n1)
    echo "${p:-$KAFKA_PORT}"
}

# cmd_status (deploy/lib/process.sh): the broker is ready once its port accepts connections
service_port() { running_port; }
service_ready() { port_open "$1"; }
status_not_ready() { echo "starting (pid $1), $KAFKA_HOST:$2 not accepting connections yet"; }

# wait until our broker answers on $1; returns 1 (after printing the log tail) on death/timeout
wait_ready() {
    local pid=$1 port=$2 deadline=$((SECONDS + KAFKA_START_TIMEOUT)) rc
    while :; do
        if ! pid_alive "$pid"; then
            rc=0
            wait "$pid" 2>/dev/null || rc=$? # only works when it is our child (127 otherwise)
            rm -f "$PID_FILE"
            if ((rc == 127)); then
                err "the broker (pid $pid) exited during startup"
            else
                err "the broker (pid $pid) exited during startup (status $rc)"
            fi
            log_tail 50
            return 1
        fi
        if port_open "$port"; then
            return 0
        fi
        if ((SECONDS >= deadline)); then
            err "the broker (pid $pid) did not accept connections on $KAFKA_HOST:$port within ${KAFKA_START_TIMEOUT}s"
            log_tail 50
            local dirs
            dirs=$(find "$DATA_DIR" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | wc -l)
            if ((dirs > 2000)); then
                # A broker loads every partition before it listens; thousands of old test
                # topics make that slower than the timeout.
                err "$DATA_DIR holds $dirs partition directories: wipe them with 'deploy/kafka.sh reset'"
                err "or allow more time with KAFKA_START_TIMEOUT=600"
            fi
            stop_pid "$pid" >/dev/null || true
            rm -f "$PID_FILE"
            return 1
        fi
        sleep 0.5
    done
}

# ---------------------------------------------------------------- config

write_config() {
    mkdir -p "$CONF_DIR" "$DATA_DIR"
    local tmp="$CONF.tmp"
    cat >"$tmp" <<EOF
# Generated by deploy/kafka.sh start - edits are overwritten on the next start.
# Single-node KRaft (combined broker+controller), loopback only, static quorum.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$KAFKA_ADVERTISED_HOST:$KAFKA_PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA_DIR
# topics
num.partitions=$KAFKA_NUM_PARTITIONS
auto.create.topics.enable=true
# one broker: internal topics with replication factor 1 (defaults are 3 / 50 partitions)
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=1
# no 3 s wait before the first consumer-group rebalance
group.initial.rebalance.delay.ms=0
# small footprint
num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
log.cleaner.dedupe.buffer.size=2097152
EOF
    if [[ -n ${FROM_ENV:-} ]]; then
        { printf '\n# ---- from the KAFKA_* environment (deploy/kafka.sh run)\n'
          env_properties; } >>"$tmp"
    fi
    if [[ -n $KAFKA_EXTRA_CONFIG ]]; then
        [[ -r $KAFKA_EXTRA_CONFIG ]] || { err "KAFKA_EXTRA_CONFIG $KAFKA_EXTRA_CONFIG is not readable"; exit 2; }
        { printf '\n# ---- from KAFKA_EXTRA_CONFIG=%s (overrides the above)\n' "$KAFKA_EXTRA_CONFIG"
          cat "$KAFKA_EXTRA_CONFIG"; } >>"$tmp"
    fi
    mv "$tmp" "$CONF"
}

check_cluster_id() {
    local meta="$DATA_DIR/meta.properties" id
    [[ -f $meta ]] || return 0
    id=$(sed -n 's/^cluster\.id=//p' "$meta")
    if [[ -n $id && $id != "$KAFKA_CLUSTER_ID" ]]; then
        err "$DATA_DIR was formatted for cluster id $id, not $KAFKA_CLUSTER_ID"
        err "run 'deploy/kafka.sh reset' to wipe it (or set KAFKA_CLUSTER_ID=$id)"
        exit 1
    fi
}

# format (a no-op on an already formatted dir), with the KAFKA_ADD_SCRAM credentials
format_storage() {
    local scram=() entry
    while IFS= read -r entry; do
        [[ -n $entry ]] && scram+=(--add-scram "$entry")
    done <<<"$KAFKA_ADD_SCRAM"
    # shellcheck disable=SC2086 # KAFKA_JVM_OPTS is a list of options
    if ! "$JAVA" $KAFKA_JVM_OPTS -Dlog4j2.configurationFile="$LOG4J_CONFIG" -cp "$LIB_DIR/*" \
        kafka.tools.StorageTool format --cluster-id="$KAFKA_CLUSTER_ID" -c "$CONF" \
        --ignore-formatted "${scram[@]}" </dev/null 9>&-; then
        err "formatting $DATA_DIR failed"
        return 1
    fi
}

# This script's own KAFKA_* variables; every other KAFKA_* variable is a broker property for
# `run`, named as the apache/kafka image names them (KAFKA_ dropped, lower case, `_` -> `.`,
# `__` -> `_`, `___` -> `-`), so a compose file's environment suits both images.
OWN_VARIABLES=" KAFKA_VERSION KAFKA_HOST KAFKA_ADVERTISED_HOST KAFKA_PORT KAFKA_CONTROLLER_PORT
    KAFKA_NUM_PARTITIONS KAFKA_CLUSTER_ID KAFKA_START_TIMEOUT KAFKA_JVM_OPTS KAFKA_JAVA_HOME
    KAFKA_EXTRA_CONFIG KAFKA_ADD_SCRAM KAFKA_STATE_DIR KAFKA_LIB_DIR "

env_properties() {
    local var name
    while IFS= read -r var; do
        [[ $OWN_VARIABLES == *[[:space:]]$var[[:space:]]* ]] && continue
        name=${var#KAFKA_}
        name=${name,,}
        name=${name//___/-}
        name=${name//__/$'\x01'}
        name=${name//_/.}
        name=${name//$'\x01'/_}
        printf '%s=%s\n' "$name" "${!var}"
    done < <(compgen -e | grep '^KAFKA_' | sort)
}

# ---------------------------------------------------------------- commands

# the broker in the foreground, as a container's main process (signals go straight to java)
cmd_run() {
    FROM_ENV=1
    # apache/kafka's name for it
    KAFKA_CLUSTER_ID=${CLUSTER_ID:-$KAFKA_CLUSTER_ID}
    require_java
    lib_present || { err "no Kafka jars in $LIB_DIR (run 'deploy/kafka.sh download' first)"; exit 2; }
    write_config
    check_cluster_id
    format_storage || exit 1
    # shellcheck disable=SC2086 # KAFKA_JVM_OPTS is a list of options
    exec "$JAVA" $KAFKA_JVM_OPTS -Dlog4j2.configurationFile="$LOG4J_CONFIG" \
        -cp "$LIB_DIR/*" kafka.Kafka "$CONF"
}

cmd_start() {
    take_lock
    local pid port
    if pid=$(our_pid); then
        port=$(running_port)
        if port_open "$port"; then
            log "already running (pid $pid)"
            echo "kafka ready on $KAFKA_HOST:$port"
            return 0
        fi
        log "broker pid $pid is running but not answering yet; waiting"
        wait_ready "$pid" "$port" || exit 1
        echo "kafka ready on $KAFKA_HOST:$port"
        return 0
    fi

    require_java
    do_download
    local p
    for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
        if port_open "$p"; then
            err "$KAFKA_HOST:$p is already in use by another process (not this script's broker)"
            err "stop it, or choose other ports with KAFKA_PORT / KAFKA_CONTROLLER_PORT"
            exit 1
        fi
    done
    write_config
    check_cluster_id

    if [[ -f $LOG_FILE ]]; then mv -f "$LOG_FILE" "$LOG_FILE.1"; fi
    # its output starts kafka.log
    format_storage >"$LOG_FILE" 2>&1 || { cat "$LOG_FILE" >&2; exit 1; }

    # own session (setsid), immune to SIGHUP (nohup), no stdin, not holding the lock fd.
    # Without job control the background child is no process-group leader, so setsid and nohup
    # exec in place and $! is the java pid itself.
    set +m
    # shellcheck disable=SC2086 # KAFKA_JVM_OPTS is a list of options
    setsid nohup "$JAVA" $KAFKA_JVM_OPTS -Dlog4j2.configurationFile="$LOG4J_CONFIG" \
        -cp "$LIB_DIR/*" kafka.Kafka "$CONF" </dev/null >>"$LOG_FILE" 2>&1 9>&- &
    pid=$!
    echo "$pid" >"$PID_FILE"
    log "started kafka.Kafka (pid $pid), waiting for $KAFKA_HOST:$KAFKA_PORT (timeout ${KAFKA_START_TIMEOUT}s)"
    wait_ready "$pid" "$KAFKA_PORT" || exit 1
    echo "kafka ready on $KAFKA_HOST:$KAFKA_PORT"
}

cmd_logs() {
    local n=100 follow=()
    while (($#)); do
        case $1 in
        -f | --follow) follow=(-f) ;;
        *[!0-9]* | "")
            err "logs: expected a line count, got '$1'"
            exit 2
            ;;
        *) n=$1 ;;
        esac
        shift
    done
    if [[ ! -f $LOG_FILE ]]; then
        err "no log yet ($LOG_FILE)"
        exit 1
    fi
    tail -n "$n" "${follow[@]}" "$LOG_FILE"
}

cmd_reset() {
    cmd_stop
    rm -rf "$DATA_DIR"
    log "deleted $DATA_DIR"
}

main() {
    local cmd=${1:-}
    (($#)) && shift
    case $cmd in
    download)
        take_lock
        do_download "$@"
        ;;
    start) cmd_start ;;
    run) cmd_run ;;
    stop) cmd_stop ;;
    restart) cmd_restart ;;
    status) cmd_status ;;
    logs) cmd_logs "$@" ;;
    reset) cmd_reset ;;
    -h | --help | help) usage ;;
    *)
        usage >&2
        exit 2
        ;;
    esac
}

main "$@"
