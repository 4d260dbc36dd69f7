#!/usr/bin/env bash
# deploy/cluster.sh - a single-node Kubernetes on this machine, for `helm install` + `helm test`
# of the chart (make test-cluster). No registry and no release downloads: every binary is built
# from the Go module proxy (deploy/cluster/build.sh), the pod sandbox image is a local static
# binary, and images come from the local Docker engine (`docker save | ctr import`).
#
#   deploy/cluster.sh up       build what is missing, then start (idempotent: a running part is kept)
#   deploy/cluster.sh down     stop every part (reverse order), unmount, remove the bridge
#   deploy/cluster.sh reset    down, then remove the state (etcd, images, volumes, certificates)
#   deploy/cluster.sh status   what runs, and the node
#   deploy/cluster.sh load IMAGE...   docker save IMAGE | ctr -n k8s.io images import
#   deploy/cluster.sh env      the KUBECONFIG line to paste into a shell
#
# kubectl is the one built with it ($K8S_BIN/kubectl), the version of the cluster.
# Parts: its own containerd (Debian's, on its own socket and state, CRI v1, cgroupfs, runc),
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet; no kube-proxy and no
# DNS (the chart's pods reach Kafka and Sinch by IP). Pods sit on a Linux bridge ($BRIDGE,
# $POD_SUBNET, gateway $NODE_IP, CNI bridge + host-local from Debian's containernetworking-
# plugins); the host is $NODE_IP to them, so a broker or a simulator listening there is
# reachable from pods. The API server listens on https://$NODE_IP:$APISERVER_PORT only.
# Certificates (openssl, ECDSA P-256, 30 days) and kubeconfigs are made once in $CLUSTER_DIR/pki.
# Logs: $CLUSTER_DIR/logs/<part>.log. Root is needed (kubelet, containerd, the bridge).
#
# Env: CLUSTER_DIR (.local/cluster), CLUSTER_RUN_DIR (/run/callctl-cluster: sockets),
#      BRIDGE (callctl0), NODE_IP (10.87.0.1), POD_SUBNET (10.87.0.0/24),
#      APISERVER_PORT (16443), ETCD_PORT (12379; peers on +1), NODE_NAME (callctl-node),
#      and build.sh's K8S_VERSION, ETCD_VERSION, K8S_CACHE, K8S_BIN.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
CLUSTER_DIR=${CLUSTER_DIR:-${CALLCTL_LOCAL_DIR:-$REPO_ROOT/.local}/cluster}
RUN_DIR=${CLUSTER_RUN_DIR:-/run/callctl-cluster}
BRIDGE=${BRIDGE:-callctl0}
NODE_IP=${NODE_IP:-10.87.0.1}
POD_SUBNET=${POD_SUBNET:-10.87.0.0/24}
SERVICE_SUBNET=${SERVICE_SUBNET:-10.96.0.0/24}
APISERVER_PORT=${APISERVER_PORT:-16443}
ETCD_PORT=${ETCD_PORT:-12379}
NODE_NAME=${NODE_NAME:-callctl-node}
K8S_VERSION=${K8S_VERSION:-v1.34.4}
K8S_CACHE=${K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/callctl-k8s}
K8S_BIN=${K8S_BIN:-$K8S_CACHE/$K8S_VERSION/bin}
export K8S_VERSION K8S_CACHE K8S_BIN
PKI="$CLUSTER_DIR/pki"
LOGS="$CLUSTER_DIR/logs"
PIDS="$CLUSTER_DIR/pids"
CONTAINERD_SOCK="$RUN_DIR/containerd.sock"
PAUSE_IMAGE=registry.k8s.io/pause:3.10
ADMIN_KUBECONFIG="$PKI/admin.kubeconfig"
# start order; down goes backwards
PARTS=(containerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet)

log() { printf 'cluster: %s\n' "$*"; }
err() { printf 'cluster: error: %s\n' "$*" >&2; }
kubectl_admin() { "$K8S_BIN/kubectl" --kubeconfig "$ADMIN_KUBECONFIG" "$@"; }
ctr_k8s() { ctr --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }

pid_of() { [[ -f $PIDS/$1 ]] && kill -0 "$(cat "$PIDS/$1")" 2>/dev/null && cat "$PIDS/$1"; }

# start PART COMMAND...: in its own session, logging to $LOGS/PART.log, unless it runs already
start_part() {
    local part=$1
    shift
    if pid=$(pid_of "$part"); then
        log "$part already running (pid $pid)"
        return
    fi
    setsid nohup "$@" >>"$LOGS/$part.log" 2>&1 </dev/null &
    echo $! >"$PIDS/$part"
    log "$part started (pid $!, log $LOGS/$part.log)"
}

# wait_for WHAT SECONDS COMMAND...: until COMMAND succeeds, or fail with the part's last log lines
wait_for() {
    local what=$1 seconds=$2 part=${3}
    shift 3
    for _ in $(seq 1 $((seconds * 2))); do
        "$@" >/dev/null 2>&1 && return 0
        if ! pid_of "$part" >/dev/null; then
            err "$part exited; last lines of $LOGS/$part.log:"
            tail -n 30 "$LOGS/$part.log" >&2
            exit 1
        fi
        sleep 0.5
    done
    err "$what not within $seconds s; last lines of $LOGS/$part.log:"
    tail -n 30 "$LOGS/$part.log" >&2
    exit 1
}

# ------------------------------------------------------------------ certificates
# cert NAME CN [O] [SUBJECT_ALT_NAMES]: a key and a certificate signed by the cluster's CA
cert() {
    local name=$1 cn=$2 org=${3:-} sans=${4:-} subject
    [[ -f $PKI/$name.crt ]] && return
    subject="/CN=$cn${org:+/O=$org}"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$PKI/$name.key" \
        -subj "$subject" -out "$PKI/$name.csr" 2>/dev/null
    {
        echo "basicConstraints=CA:FALSE"
        echo "keyUsage=critical,digitalSignature,keyEncipherment"
        echo "extendedKeyUsage=serverAuth,clientAuth"
        [[ -n $sans ]] && echo "subjectAltName=$sans"
    } >"$PKI/$name.ext"
    openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
        -days 30 -sha256 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
    rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}

kubeconfig() { # NAME: $PKI/NAME.kubeconfig with NAME's client certificate
    cat >"$PKI/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: callctl
    cluster: {server: "https://$NODE_IP:$APISERVER_PORT", certificate-authority: "$PKI/ca.crt"}
users:
  - name: $1
    user: {client-certificate: "$PKI/$1.crt", client-key: "$PKI/$1.key"}
contexts:
  - name: callctl
    context: {cluster: callctl, user: $1, namespace: default}
current-context: callctl
EOF
}

make_pki() {
    mkdir -p "$PKI"
    chmod 700 "$PKI"
    if [[ ! -f $PKI/ca.crt ]]; then
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
            -keyout "$PKI/ca.key" -out "$PKI/ca.crt" -subj "/CN=callctl-cluster-ca" 2>/dev/null
    fi
    cert apiserver kube-apiserver "" \
        "IP:$NODE_IP,IP:127.0.0.1,IP:${SERVICE_SUBNET%.0/*}.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
    cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
    cert admin callctl-admin system:masters
    cert controller-manager system:kube-controller-manager
    cert scheduler system:kube-scheduler
    cert kubelet "system:node:$NODE_NAME" system:nodes "IP:$NODE_IP,DNS:$NODE_NAME"
    if [[ ! -f $PKI/sa.key ]]; then
        openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/sa.key"
        openssl ec -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
    fi
    for user in admin controller-manager scheduler kubelet; do kubeconfig "$user"; done
}

# ------------------------------------------------------------------ configuration files
write_configs() {
    mkdir -p "$CLUSTER_DIR/cni/net.d" "$CLUSTER_DIR/cni/ipam" "$CLUSTER_DIR/kubelet" "$RUN_DIR"
    cat >"$CLUSTER_DIR/containerd.toml" <<EOF
version = 2
root = "$CLUSTER_DIR/containerd"
state = "$RUN_DIR/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$CONTAINERD_SOCK"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # the pods' network namespaces under $RUN_DIR (not /run/netns), so that down finds them
  netns_mounts_under_state_dir = true
  # no CAP_SYS_RESOURCE in some sandboxes (this machine's): runc cannot lower oom_score_adj
  # below its own (the kubelet asks -998 for sandboxes), so containerd caps it at its own
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$CLUSTER_DIR/cni/net.d"
EOF
    cat >"$CLUSTER_DIR/cni/net.d/10-callctl.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "callctl",
  "plugins": [
    {
      "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": {
        "type": "host-local", "dataDir": "$CLUSTER_DIR/cni/ipam",
        "ranges": [[{"subnet": "$POD_SUBNET", "gateway": "$NODE_IP"}]]
      }
    }
  ]
}
EOF
    cat >"$CLUSTER_DIR/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$PKI/ca.crt"}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
containerRuntimeEndpoint: "unix://$CONTAINERD_SOCK"
failSwapOn: false
failCgroupV1: false
resolvConf: /etc/resolv.conf
podLogsDir: "$CLUSTER_DIR/pod-logs"
tlsCertFile: "$PKI/kubelet.crt"
tlsPrivateKeyFile: "$PKI/kubelet.key"
maxPods: 30
serializeImagePulls: false
# a shared test machine: never evict or collect images for disk or memory pressure
evictionHard: {memory.available: "0%", nodefs.available: "0%", imagefs.available: "0%", nodefs.inodesFree: "0%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
EOF
}

# ------------------------------------------------------------------ up / down / status
up() {
    ((EUID == 0)) || { err "root is needed (kubelet, containerd, the bridge)"; exit 1; }
    for tool in openssl ctr containerd runc; do
        command -v "$tool" >/dev/null 2>&1 || { err "$tool is missing (Debian: containerd runc openssl)"; exit 2; }
    done
    [[ -x /usr/lib/cni/bridge ]] || { err "CNI plugins missing: apt-get install containernetworking-plugins"; exit 2; }
    "$SCRIPT_DIR/cluster/build.sh"
    mkdir -p "$LOGS" "$PIDS" "$CLUSTER_DIR/etcd"
    make_pki
    write_configs
    # the bridge first: the API server and the pods' gateway live on it
    if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
        ip link add "$BRIDGE" type bridge
    fi
    ip addr replace "$NODE_IP/${POD_SUBNET#*/}" dev "$BRIDGE"
    ip link set "$BRIDGE" up

    start_part containerd containerd --config "$CLUSTER_DIR/containerd.toml"
    wait_for "containerd answering" 30 containerd ctr --address "$CONTAINERD_SOCK" version
    if ! ctr_k8s images ls -q | grep -qx "$PAUSE_IMAGE"; then
        ctr_k8s images import "$K8S_BIN/pause.tar" >/dev/null
        log "imported the sandbox image $PAUSE_IMAGE"
    fi

    start_part etcd "$K8S_BIN/etcd" --name callctl --data-dir "$CLUSTER_DIR/etcd" \
        --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
        --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
        --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
        --initial-cluster "callctl=http://127.0.0.1:$((ETCD_PORT + 1))" \
        --unsafe-no-fsync --log-level warn
    wait_for "etcd healthy" 30 etcd curl -fsS "http://127.0.0.1:$ETCD_PORT/health"

    start_part kube-apiserver "$K8S_BIN/kube-apiserver" \
        --bind-address "$NODE_IP" --advertise-address "$NODE_IP" --secure-port "$APISERVER_PORT" \
        --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
        --service-cluster-ip-range "$SERVICE_SUBNET" \
        --client-ca-file "$PKI/ca.crt" --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
        --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" \
        --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
        --kubelet-preferred-address-types InternalIP \
        --service-account-issuer https://kubernetes.default.svc.cluster.local \
        --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
        --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
        --allow-privileged=true --profiling=false --v=1
    wait_for "the API server ready" 90 kube-apiserver kubectl_admin get --raw /readyz

    start_part kube-controller-manager "$K8S_BIN/kube-controller-manager" \
        --kubeconfig "$PKI/controller-manager.kubeconfig" \
        --authentication-kubeconfig "$PKI/controller-manager.kubeconfig" \
        --authorization-kubeconfig "$PKI/controller-manager.kubeconfig" \
        --bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials \
        --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
        --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
        --profiling=false --v=1
    start_part kube-scheduler "$K8S_BIN/kube-scheduler" \
        --kubeconfig "$PKI/scheduler.kubeconfig" \
        --authentication-kubeconfig "$PKI/scheduler.kubeconfig" \
        --authorization-kubeconfig "$PKI/scheduler.kubeconfig" \
        --bind-address 127.0.0.1 --leader-elect=false --profiling=false --v=1
    start_part kubelet "$K8S_BIN/kubelet" --config "$CLUSTER_DIR/kubelet/config.yaml" \
        --kubeconfig "$PKI/kubelet.kubeconfig" --root-dir "$CLUSTER_DIR/kubelet/root" \
        --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --v=1
    wait_for "node $NODE_NAME Ready" 120 kubelet \
        kubectl_admin wait --for=condition=Ready "node/$NODE_NAME" --timeout=1s
    # the chart's SQLite store claims a volume; a local one is ready for it (no provisioner here)
    kubectl_admin apply -f - >/dev/null <<EOF
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: local
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: Immediate
reclaimPolicy: Delete
EOF
    log "up: Kubernetes $K8S_VERSION, node $NODE_NAME Ready; export KUBECONFIG=$ADMIN_KUBECONFIG"
}

# a hostPath PersistentVolume of the default class, for one claim (helm-test.sh asks for them)
add_volume() { # NAME SIZE
    mkdir -p "$CLUSTER_DIR/volumes/$1"
    chmod 777 "$CLUSTER_DIR/volumes/$1"
    kubectl_admin apply -f - >/dev/null <<EOF
apiVersion: v1
kind: PersistentVolume
metadata: {name: $1}
spec:
  capacity: {storage: $2}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: local
  hostPath: {path: "$CLUSTER_DIR/volumes/$1", type: DirectoryOrCreate}
EOF
}

down() {
    local i part pid
    # the pods' containers first, while containerd still answers
    if pid_of containerd >/dev/null; then
        ctr_k8s tasks ls -q 2>/dev/null | while read -r task; do
            ctr_k8s tasks kill -s KILL "$task" >/dev/null 2>&1 || true
        done
    fi
    for ((i = ${#PARTS[@]} - 1; i >= 0; i--)); do
        part=${PARTS[i]}
        if pid=$(pid_of "$part"); then
            kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
            kill -KILL -- "-$pid" 2>/dev/null || true
            log "$part stopped"
        fi
        rm -f "$PIDS/$part"
    done
    # shims outlive containerd: end those of this containerd (their command line names its socket)
    for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $CONTAINERD_SOCK" || true); do
        kill -KILL "$pid" 2>/dev/null || true
    done
    # the kubelet's and containerd's mounts under the state dirs, deepest first
    awk -v a="$CLUSTER_DIR" -v b="$RUN_DIR" 'index($2, a) == 1 || index($2, b) == 1 {print $2}' /proc/mounts |
        sort -r | while read -r mount; do umount -l "$mount" 2>/dev/null || true; done
    ip link show "$BRIDGE" >/dev/null 2>&1 && ip link del "$BRIDGE"
    # the pods are gone with their sandboxes: their addresses are free again
    rm -rf "$CLUSTER_DIR/cni/ipam"
    log "down"
}

status() {
    local part pid rc=0
    for part in "${PARTS[@]}"; do
        if pid=$(pid_of "$part"); then echo "$part: running (pid $pid)"; else echo "$part: stopped"; rc=3; fi
    done
    if ((rc == 0)); then kubectl_admin get nodes -o wide; fi
    return $rc
}

load_images() { # IMAGE...: from the local Docker engine into the cluster's containerd
    local image
    for image in "$@"; do
        docker image inspect "$image" >/dev/null || { err "no image $image in Docker"; exit 1; }
        docker save "$image" | ctr_k8s images import - >/dev/null
        log "loaded $image"
    done
}

case "${1:-}" in
up) up ;;
down) down ;;
reset) down; rm -rf "$CLUSTER_DIR" "$RUN_DIR"; log "reset: $CLUSTER_DIR removed" ;;
status) status ;;
load) shift; load_images "$@" ;;
volume) shift; add_volume "$@" ;;
env) echo "export KUBECONFIG=$ADMIN_KUBECONFIG" ;;
-h | --help | "") sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' ;;
*) err "unknown command '$1' (up, down, reset, status, load, volume, env)"; exit 2 ;;
esac
