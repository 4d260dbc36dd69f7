#!/usr/bin/env bash
# deploy/cluster/helm-test.sh - `helm install` + `helm test` of the chart on deploy/cluster.sh's
# cluster (make test-cluster): a real Kubernetes runs the release and its test hook.
#
#   1. the cluster up (deploy/cluster.sh up; built from the Go module proxy on first use)
#   2. a Kafka broker of its own (deploy/kafka.sh with its own state dir) and the simulator,
#      both on the node's bridge address $NODE_IP, where pods reach them (the shared broker on
#      127.0.0.1:9092 is not touched); the image $IMAGE (deploy/docker/build.sh) loaded into the
#      cluster's containerd, pullPolicy Never
#   3. `helm install` (StatefulSet with SQLite on a local volume, topics created by the
#      service), `helm test`: must PASS (the getCallInfo comes back: succeeded for a call the
#      simulator knows, call_not_found for one it does not; both cases are run)
#   4. the negative case: `helm upgrade` with a wrong application key, `helm test` must FAIL, and
#      its log must name the error code unauthorized
#   5. uninstall, stop the broker and the simulator, and the cluster down (KEEP_CLUSTER=1 keeps it;
#      `helm-test.sh down` ends it later)
# Exits non-zero when any expectation is not met; the hook's logs are printed either way.
#
# Env: IMAGE (call-control:dev), HELM (built by `make helm-check`), KEEP_CLUSTER (0),
#      CLUSTER_KAFKA_PORT (19092), CLUSTER_SIM_PORT (18700), and deploy/cluster.sh's variables.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/../.." && pwd)
CLUSTER="$REPO_ROOT/deploy/cluster.sh"
# the pinned uv (make exports it; CI runs without ~/.local/bin on PATH)
UV_BIN=${UV:-$("$REPO_ROOT/deploy/uv.sh")}
CHART="$REPO_ROOT/helm/call-control"
IMAGE=${IMAGE:-call-control:dev}
NODE_IP=${NODE_IP:-10.87.0.1}
CLUSTER_DIR=${CLUSTER_DIR:-${CALLCTL_LOCAL_DIR:-$REPO_ROOT/.local}/cluster}
KAFKA_PORT=${CLUSTER_KAFKA_PORT:-19092}
SIM_PORT=${CLUSTER_SIM_PORT:-18700}
KEEP_CLUSTER=${KEEP_CLUSTER:-0}
HELM=${HELM:-$(command -v helm || echo "$(go env GOPATH)/bin/helm")}
K8S_BIN=${K8S_BIN:-${K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/callctl-k8s}/${K8S_VERSION:-v1.34.4}/bin}
kubectl() { "$K8S_BIN/kubectl" "$@"; } # the one built with the cluster (deploy/cluster/build.sh)
NAMESPACE=callctl-test
RELEASE=cc
SIM_KEY=cluster-key
SIM_SECRET=Y2x1c3Rlci1zZWNyZXQtMTIzNDU2 # base64 of a test-only secret, not a credential
LIVE_CALL=helm-live-call
export NODE_IP CLUSTER_DIR

log() { printf 'cluster-test: %s\n' "$*"; }
err() { printf 'cluster-test: FAIL: %s\n' "$*" >&2; }
[[ -x $HELM ]] || { err "helm missing: run make helm-check (it builds the pinned helm)"; exit 2; }
t0=$SECONDS
failures=0

kafka() {
    KAFKA_STATE_DIR="$CLUSTER_DIR/kafka" KAFKA_HOST="$NODE_IP" KAFKA_PORT="$KAFKA_PORT" \
        KAFKA_CONTROLLER_PORT=$((KAFKA_PORT + 1)) KAFKA_NUM_PARTITIONS=3 "$REPO_ROOT/deploy/kafka.sh" "$@"
}
SIM_PID_FILE="$CLUSTER_DIR/simulator.pid"
stop_simulator() {
    [[ -f $SIM_PID_FILE ]] || return 0
    kill -TERM -- "-$(cat "$SIM_PID_FILE")" 2>/dev/null || true
    rm -f "$SIM_PID_FILE"
}
VOLUME=callctl-test-data
# the release, its namespace (the StatefulSet's claim with it) and its volume: a fresh store each run
remove_release() {
    "$HELM" uninstall "$RELEASE" -n "$NAMESPACE" --wait --timeout 60s >/dev/null 2>&1 || true
    kubectl delete namespace "$NAMESPACE" --ignore-not-found --wait --timeout 60s >/dev/null 2>&1 || true
    kubectl delete pv "$VOLUME" --ignore-not-found >/dev/null 2>&1 || true
    rm -rf "${CLUSTER_DIR:?}/volumes/$VOLUME"
}
cleanup() {
    local rc=$?
    if ((KEEP_CLUSTER)); then
        log "KEEP_CLUSTER=1: the release, broker, simulator and cluster are left running"
        log "  $("$CLUSTER" env); make cluster-down (deploy/cluster/helm-test.sh down) ends them"
        exit $rc
    fi
    remove_release
    stop_simulator
    kafka stop >/dev/null 2>&1 || true
    "$CLUSTER" down || true
    exit $rc
}
trap cleanup EXIT

if [[ ${1:-} == down ]]; then # what KEEP_CLUSTER=1 left running (make cluster-down)
    export KUBECONFIG="$CLUSTER_DIR/pki/admin.kubeconfig"
    KEEP_CLUSTER=0
    exit 0 # the EXIT trap (cleanup) does it
fi

# ------------------------------------------------------------------ 1-2. cluster, Kafka, Sinch
"$CLUSTER" up
export KUBECONFIG="$CLUSTER_DIR/pki/admin.kubeconfig"
kafka start
mkdir -p "$CLUSTER_DIR"
if [[ ! -f $SIM_PID_FILE ]] || ! kill -0 "$(cat "$SIM_PID_FILE")" 2>/dev/null; then
    # its own session (the pid file names it, and stop_simulator ends the whole group)
    SIM_HOST=$NODE_IP SIM_PORT=$SIM_PORT SIM_APPLICATION_KEY=$SIM_KEY SIM_APPLICATION_SECRET=$SIM_SECRET \
        SIM_CREATE_CALLS=$LIVE_CALL setsid bash -c 'echo $$ >"$1"; cd "$2" && exec "$3" run --frozen python -m simulator' \
        simulator "$SIM_PID_FILE" "$REPO_ROOT" "$UV_BIN" >"$CLUSTER_DIR/simulator.log" 2>&1 </dev/null &
fi
for _ in $(seq 1 100); do
    curl -fsS "http://$NODE_IP:$SIM_PORT/_admin/health" >/dev/null 2>&1 && break
    sleep 0.2
done
curl -fsS "http://$NODE_IP:$SIM_PORT/_admin/health" >/dev/null ||
    { err "the simulator does not answer on $NODE_IP:$SIM_PORT"; tail -n 20 "$CLUSTER_DIR/simulator.log" >&2; exit 1; }
log "Kafka on $NODE_IP:$KAFKA_PORT, simulator on $NODE_IP:$SIM_PORT"
"$CLUSTER" load "$IMAGE"
remove_release
"$CLUSTER" volume "$VOLUME" 1Gi

# ------------------------------------------------------------------ 3. install, test
repository=${IMAGE%:*}
tag=${IMAGE##*:}
kubectl create namespace "$NAMESPACE" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
install() { # helm args...: install or upgrade the release and wait until it is ready
    "$HELM" upgrade --install "$RELEASE" "$CHART" -n "$NAMESPACE" --wait --timeout 5m \
        --set-string image.repository="$repository" --set-string image.tag="$tag" \
        --set image.pullPolicy=Never \
        --set-string kafka.bootstrapServers="$NODE_IP:$KAFKA_PORT" --set kafka.createTopics=true \
        --set kafka.topicPartitions=3 \
        --set-string sinch.baseUrl="http://$NODE_IP:$SIM_PORT" \
        --set-string sinch.applicationSecret="$SIM_SECRET" \
        --set persistence.size=1Gi --set resources.requests.cpu=50m \
        --set tests.timeoutSeconds=60 "$@"
}
# helm_test EXPECT(pass|fail) EXPECTED_LOG_TEXT [helm test args]
helm_test() {
    local expect=$1 text=$2 out rc=0
    shift 2
    out=$("$HELM" test "$RELEASE" -n "$NAMESPACE" --logs --timeout 3m "$@" 2>&1) || rc=$?
    printf '%s\n' "$out" | sed 's/^/    /'
    if [[ $expect == pass && $rc -ne 0 ]] || [[ $expect == fail && $rc -eq 0 ]]; then
        err "helm test: expected to $expect, exited $rc"; failures=$((failures + 1)); return
    fi
    if ! grep -qF -- "$text" <<<"$out"; then
        err "helm test: its output lacks '$text'"; failures=$((failures + 1)); return
    fi
    log "ok   helm test ${expect}ed as expected ('$text')"
}
t=$SECONDS
if ! install --set-string sinch.applicationKey="$SIM_KEY"; then
    err "helm install"; kubectl -n "$NAMESPACE" get pods -o wide >&2
    kubectl -n "$NAMESPACE" describe pods >&2; exit 1
fi
log "installed in $((SECONDS - t)) s: $(kubectl -n "$NAMESPACE" get pods --no-headers | tr -s ' ' | tr '\n' ';')"
helm_test pass "PASS: Sinch answered call_not_found"
install --reuse-values --set-string tests.callId="$LIVE_CALL" >/dev/null
helm_test pass "PASS: the result came back succeeded"

# ------------------------------------------------------------------ 4. wrong credentials
install --reuse-values --set-string sinch.applicationKey=wrong-key --set-string tests.callId= >/dev/null
helm_test fail "FAIL: the result is failed with error code 'unauthorized'"

if ((failures)); then
    err "$failures expectation(s) not met ($((SECONDS - t0)) s)"
    exit 1
fi
log "helm install + helm test on Kubernetes $(kubectl version -o json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])'): all passed in $((SECONDS - t0)) s"
