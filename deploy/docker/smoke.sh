#!/usr/bin/env bash
# deploy/docker/smoke.sh - one command through the built image, the way production runs it.
#
# Runs $IMAGE with --network host, a read-only root filesystem, a tmpfs /tmp and a host folder
# as /app/var, against the local broker (deploy/kafka.sh start; 127.0.0.1:9092) and a simulator
# started on the host (port 8701). Topics and consumer group are unique to the run. Then:
#   1. waits for /healthz on the service's HTTP port (then for `service_started` in its logs)
#   2. produces one `hangup` command (aiokafka, from the project's venv)
#   3. waits for its result on the results topic, and requires outcome `succeeded`
#   4. `docker stop` (SIGTERM) and requires exit code 0, within the grace period
# Exits non-zero on any failure, printing the container's logs.
#
# Env: IMAGE (call-control:dev), SIM_PORT (8701), HTTP_PORT (18080, the service's health port),
#      KAFKA_BOOTSTRAP (127.0.0.1:9092), STOP_TIMEOUT (30: docker stop's wait before SIGKILL).
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/../.." && pwd)
# the uv the Makefile chose (exported as UV), else the same pinned one it would choose
UV=${UV:-$("$REPO_ROOT/deploy/uv.sh")}
IMAGE=${IMAGE:-call-control:dev}
SIM_PORT=${SIM_PORT:-8701}
HTTP_PORT=${HTTP_PORT:-18080}
KAFKA_BOOTSTRAP=${KAFKA_BOOTSTRAP:-127.0.0.1:9092}
STOP_TIMEOUT=${STOP_TIMEOUT:-30}
GRACE_S=20
RUN_ID="smoke-$(date +%s)-$$"
CONTAINER="callctl-$RUN_ID"
SIM_APPLICATION_KEY=sim-key
SIM_APPLICATION_SECRET=c2ltLXNlY3JldC0xMjM0NTY= # the simulator's public test secret

log() { printf 'smoke: %s\n' "$*"; }
err() { printf 'smoke: FAIL: %s\n' "$*" >&2; }
t0=$SECONDS
elapsed() { echo "$((SECONDS - t0)) s"; }

cd "$REPO_ROOT"
docker image inspect "$IMAGE" >/dev/null 2>&1 ||
    { err "no image $IMAGE (deploy/docker/build.sh makes it)"; exit 1; }

state_dir=$(mktemp -d /tmp/callctl-smoke.XXXXXX)
sim_log="$state_dir/simulator.log"
sim_pid=""
started_kafka=""
cleanup() {
    local rc=$?
    if ((rc != 0)) && docker container inspect "$CONTAINER" >/dev/null 2>&1; then
        echo "---- container logs (last 40 lines) ----" >&2
        docker logs --tail 40 "$CONTAINER" >&2 2>&1 || true
        echo "---- simulator log (last 10 lines) ----" >&2
        tail -n 10 "$sim_log" >&2 2>/dev/null || true
    fi
    docker rm -f "$CONTAINER" >/dev/null 2>&1 || true
    if [[ -n $sim_pid ]]; then kill -TERM -- "-$sim_pid" 2>/dev/null || kill -TERM "$sim_pid" 2>/dev/null || true; fi
    [[ -n $started_kafka ]] && deploy/kafka.sh stop >/dev/null 2>&1
    rm -rf "$state_dir"
    exit "$rc"
}
trap cleanup EXIT

# ------------------------------------------------------------------ broker and simulator
if ! deploy/kafka.sh status >/dev/null 2>&1; then started_kafka=1; fi
deploy/kafka.sh start | tail -n 1

setsid "$UV" run --frozen python -m simulator --port "$SIM_PORT" --auto-create-calls >"$sim_log" 2>&1 </dev/null &
sim_pid=$!
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$SIM_PORT/_admin/health" >/dev/null 2>&1 && break
    kill -0 "$sim_pid" 2>/dev/null || { err "simulator exited:"; cat "$sim_log" >&2; exit 1; }
    sleep 0.2
done
curl -fsS "http://127.0.0.1:$SIM_PORT/_admin/health" >/dev/null ||
    { err "simulator not answering on $SIM_PORT"; exit 1; }
log "simulator on 127.0.0.1:$SIM_PORT ($(elapsed))"

# ------------------------------------------------------------------ the container
chown 10001:10001 "$state_dir" # the image's user writes the SQLite store here
topic_commands="$RUN_ID.commands"
topic_results="$RUN_ID.results"
t_run=$SECONDS
docker run -d --name "$CONTAINER" \
    --network host --read-only --tmpfs /tmp -v "$state_dir:/app/var" \
    --stop-timeout "$STOP_TIMEOUT" \
    -e CALLCTL_KAFKA__BOOTSTRAP_SERVERS="$KAFKA_BOOTSTRAP" \
    -e CALLCTL_KAFKA__CREATE_TOPICS=true \
    -e CALLCTL_KAFKA__GROUP_ID="$RUN_ID" \
    -e CALLCTL_KAFKA__TOPIC_PARTITIONS=2 \
    -e CALLCTL_TOPICS__COMMANDS="$topic_commands" \
    -e CALLCTL_TOPICS__RESULTS="$topic_results" \
    -e CALLCTL_TOPICS__SNAPSHOTS="$RUN_ID.snapshots" \
    -e CALLCTL_TOPICS__DEAD_LETTER="$RUN_ID.dead-letter" \
    -e CALLCTL_SINCH__BASE_URL="http://127.0.0.1:$SIM_PORT" \
    -e CALLCTL_SINCH__APPLICATION_KEY="$SIM_APPLICATION_KEY" \
    -e CALLCTL_SINCH__APPLICATION_SECRET="$SIM_APPLICATION_SECRET" \
    -e CALLCTL_SHUTDOWN_GRACE_S="$GRACE_S" \
    -e CALLCTL_HTTP_PORT="$HTTP_PORT" \
    "$IMAGE" >/dev/null
log "container $CONTAINER started (read-only root, /app/var -> $state_dir)"

running() { [[ $(docker inspect -f '{{.State.Running}}' "$CONTAINER" 2>/dev/null) == true ]]; }
healthy=""
for _ in $(seq 1 120); do
    running || { err "the container exited (code $(docker inspect -f '{{.State.ExitCode}}' "$CONTAINER"))"; exit 1; }
    if curl -fsS "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null 2>&1; then healthy=healthz; fi
    if docker logs "$CONTAINER" 2>&1 | grep -q service_started; then
        healthy="${healthy:-logs}"
        break
    fi
    sleep 0.5
done
[[ -n $healthy ]] || { err "no /healthz and no service_started within 60 s"; exit 1; }
if [[ $healthy == healthz ]]; then
    log "/healthz answered 200 and service_started logged after $((SECONDS - t_run)) s"
else
    log "service_started logged after $((SECONDS - t_run)) s; /healthz on $HTTP_PORT NOT answering"
fi
log "its log: $(docker logs "$CONTAINER" 2>&1 | grep -m1 service_started)"
# the image's HEALTHCHECK command, run now (docker would first run it after its interval)
python3 - "$CONTAINER" <<'EOF' || { err "the image's HEALTHCHECK command failed"; exit 1; }
import json, subprocess, sys
test = json.loads(subprocess.check_output(
    ["docker", "inspect", "-f", "{{json .Config.Healthcheck.Test}}", sys.argv[1]]))
if test[0] != "CMD":
    sys.exit(f"unexpected HEALTHCHECK form {test[0]}")
sys.exit(subprocess.call(["docker", "exec", sys.argv[1], *test[1:]]))
EOF
log "the image's HEALTHCHECK command passes"
ready=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/readyz" || true)
log "/readyz: ${ready:-no answer}; /metrics: $(curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | grep -c '^[a-z]' || true) samples"

# ------------------------------------------------------------------ one command, one result
KAFKA_BOOTSTRAP=$KAFKA_BOOTSTRAP TOPIC_COMMANDS=$topic_commands TOPIC_RESULTS=$topic_results \
    RUN_ID=$RUN_ID "$UV" run --frozen python - <<'EOF'
import asyncio, json, os, sys, time
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

async def main() -> int:
    bootstrap, run_id = os.environ["KAFKA_BOOTSTRAP"], os.environ["RUN_ID"]
    call_id, command_id = f"call-{run_id}", f"cmd-{run_id}"
    command = {"commandId": command_id, "callId": call_id, "type": "hangup"}
    consumer = AIOKafkaConsumer(
        os.environ["TOPIC_RESULTS"], bootstrap_servers=bootstrap,
        auto_offset_reset="earliest", enable_auto_commit=False, group_id=None,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await consumer.start()
    await producer.start()
    try:
        sent = time.monotonic()
        await producer.send_and_wait(
            os.environ["TOPIC_COMMANDS"], json.dumps(command).encode(), key=call_id.encode()
        )
        print(f"smoke: produced {command}")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                for record in records:
                    result = json.loads(record.value)
                    if result.get("commandId") != command_id:
                        continue
                    print("smoke: result", json.dumps({k: result.get(k) for k in (
                        "outcome", "attempts", "httpStatus", "duplicate", "error", "durationMs")}),
                        f"{(time.monotonic() - sent) * 1000:.0f} ms after the send")
                    return 0 if result.get("outcome") == "succeeded" else 1
        print("smoke: no result within 60 s", file=sys.stderr)
        return 1
    finally:
        await producer.stop()
        await consumer.stop()

sys.exit(asyncio.run(main()))
EOF
log "command -> result: succeeded"
[[ -f $state_dir/idempotency.sqlite3 ]] || { err "no SQLite store in /app/var"; exit 1; }

# ------------------------------------------------------------------ graceful stop
t_stop=$SECONDS
docker stop -t "$STOP_TIMEOUT" "$CONTAINER" >/dev/null
code=$(docker inspect -f '{{.State.ExitCode}}' "$CONTAINER")
oom=$(docker inspect -f '{{.State.OOMKilled}}' "$CONTAINER")
took=$((SECONDS - t_stop))
if [[ $code != 0 ]]; then err "exit code $code after docker stop (${took} s, OOM $oom)"; exit 1; fi
docker logs "$CONTAINER" 2>&1 | grep -q service_stopped ||
    { err "exit 0 but no service_stopped in the logs"; exit 1; }
log "docker stop (SIGTERM): exit 0 in ${took} s, service_stopped logged"
log "PASS in $(elapsed)"
