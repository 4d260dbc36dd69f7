#!/usr/bin/env bash
# deploy/docker/build.sh - build call-control's images on a machine with no container registry.
#
#   deploy/docker/build.sh [service|simulator|kafka|all ...]      (default: service)
#
#   1. a Docker engine (deploy/docker/engine.sh): uses the one that answers, else starts dockerd
#      (installing Debian's docker.io when missing) with --iptables=false --bridge=none, so
#      builds and containers use host networking; it is left running (log: DOCKERD_LOG)
#   2. the base image callctl-base:bookworm (deploy/docker/make-base.sh: debootstrap + import)
#   3. each image asked for, with BASE_IMAGE=callctl-base:bookworm and the machine's CA bundle as
#      the BuildKit secret `cacert` (never copied into an image):
#        service    the Dockerfile's default target, tagged $IMAGE
#        simulator  the Dockerfile's `simulator` target, tagged $SIMULATOR_IMAGE
#        kafka      deploy/kafka/Dockerfile: Debian's JRE + the jars of `deploy/kafka.sh
#                   download` (Maven Central), tagged $KAFKA_IMAGE
#   4. checks on each result (the service image: uid 10001, no uv, pip or compiler inside,
#      imports work; the others: their entrypoint's program answers --help / java -version)
#
# Env: IMAGE (call-control:dev), SIMULATOR_IMAGE (call-control-simulator:dev),
#      KAFKA_IMAGE (call-control-kafka:dev), BASE_IMAGE (callctl-base:bookworm; set it to
#      python:3.11-slim-bookworm where a registry is reachable and SKIP_MAKE_BASE=1),
#      CA_BUNDLE (pip's `cert`, else SSL_CERT_FILE, else /etc/ssl/certs/ca-certificates.crt),
#      PIP_INDEX_URL (default: pip's global.index-url, if any), DOCKERD_LOG (/tmp/dockerd.log).
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/../.." && pwd)
IMAGE=${IMAGE:-call-control:dev}
SIMULATOR_IMAGE=${SIMULATOR_IMAGE:-call-control-simulator:dev}
KAFKA_IMAGE=${KAFKA_IMAGE:-call-control-kafka:dev}
BASE_IMAGE=${BASE_IMAGE:-callctl-base:bookworm}

log() { printf 'build: %s\n' "$*"; }
err() { printf 'build: error: %s\n' "$*" >&2; }
t_start=$SECONDS

targets=()
for arg in "${@:-service}"; do
    case $arg in
    service | simulator | kafka) targets+=("$arg") ;;
    all) targets+=(service simulator kafka) ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) err "unknown image '$arg' (service, simulator, kafka or all)"; exit 2 ;;
    esac
done

# ------------------------------------------------------------------ 1. engine
"$SCRIPT_DIR/engine.sh"

# ------------------------------------------------------------------ 2. base
if [[ ${SKIP_MAKE_BASE:-} != 1 ]]; then
    BASE_IMAGE=$BASE_IMAGE "$SCRIPT_DIR/make-base.sh"
fi
t_base=$SECONDS

# ------------------------------------------------------------------ 3. build
# A client that can use BuildKit: the buildx plugin, or a pre-23 docker CLI (those talk to the
# engine's built-in BuildKit when DOCKER_BUILDKIT=1; newer CLIs insist on buildx).
build_cmd=()
if docker buildx version >/dev/null 2>&1; then
    build_cmd=(docker buildx build --load)
else
    for client in $(type -ap docker | awk '!seen[$0]++'); do
        v=$("$client" version --format '{{.Client.Version}}' 2>/dev/null || true)
        if [[ ${v%%.*} =~ ^[0-9]+$ ]] && ((${v%%.*} < 23)); then
            build_cmd=(env DOCKER_BUILDKIT=1 "$client" build)
            break
        fi
    done
fi
if ((${#build_cmd[@]} == 0)); then
    err "no BuildKit-capable client: install the buildx plugin (Debian: docker-buildx, where"
    err "packaged) or use a docker CLI older than 23 (Debian bookworm's docker.io is 20.10)"
    exit 1
fi

ca=${CA_BUNDLE:-$(pip config get global.cert 2>/dev/null || true)}
ca=${ca:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}
[[ -s $ca ]] || { err "CA bundle $ca not found (set CA_BUNDLE)"; exit 1; }
index=${PIP_INDEX_URL:-$(pip config get global.index-url 2>/dev/null || true)}

cd "$REPO_ROOT"
version=$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml","rb"))["project"]["version"])')
revision=$(git rev-parse HEAD 2>/dev/null || true)
source_url=$(git remote get-url origin 2>/dev/null || true)
common=(
    --network host
    --secret "id=cacert,src=$ca"
    --build-arg "BASE_IMAGE=$BASE_IMAGE"
    --build-arg "VERSION=$version"
    --build-arg "REVISION=$revision"
    --build-arg "CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    --build-arg "SOURCE_URL=$source_url"
)

# build TAG CONTEXT [more build args]: one image, its output indented, its time and size logged
build() {
    local tag=$1 context=$2 t0=$SECONDS
    shift 2
    log "${build_cmd[*]} -> $tag (base $BASE_IMAGE, CA bundle $ca${index:+, index $index})"
    "${build_cmd[@]}" "${common[@]}" "$@" --tag "$tag" --progress=plain "$context" 2>&1 |
        sed -u 's/^/  /'
    local size
    size=$(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}')
    log "$tag: $size, built in $((SECONDS - t0)) s"
}

check_service() {
    log "checking $IMAGE"
    docker run --rm -i --network none --read-only --entrypoint python "$IMAGE" - <<'EOF'
import os, shutil, sys, importlib.util
problems = []
if os.getuid() != 10001 or os.getgid() != 10001:
    problems.append(f"runs as uid {os.getuid()} gid {os.getgid()}, not 10001")
for tool in ("uv", "uvx", "pip", "pip3", "gcc", "cc", "make"):
    if shutil.which(tool):
        problems.append(f"{tool} is on PATH: {shutil.which(tool)}")
for module in ("pip", "uv", "setuptools"):
    if importlib.util.find_spec(module) is not None:
        problems.append(f"python module {module} is importable")
import service.__main__, simulator.__main__  # noqa: E401,F401
if not os.access("/app/var", os.W_OK):
    problems.append("/app/var (the declared volume) is not writable by uid 10001")
print(f"  python {sys.version.split()[0]} at {sys.executable}, uid {os.getuid()}")
if problems:
    print("\n".join("  PROBLEM: " + p for p in problems))
    sys.exit(1)
print("  no uv/pip/gcc/cc/make on PATH; pip/uv/setuptools not importable")
EOF
}

build_service() {
    build "$IMAGE" . --build-arg "PIP_INDEX_URL=$index"
    check_service
}

build_simulator() {
    build "$SIMULATOR_IMAGE" . --target simulator --build-arg "PIP_INDEX_URL=$index"
    log "checking $SIMULATOR_IMAGE"
    docker run --rm --network none --read-only "$SIMULATOR_IMAGE" --help >/dev/null
}

# the jars come from the local stack's download (Maven Central, deploy/kafka/pom.xml); the
# context holds only what the image needs
build_kafka() {
    "$REPO_ROOT/deploy/kafka.sh" download
    local lib=${KAFKA_LIB_DIR:-${CALLCTL_LOCAL_DIR:-$REPO_ROOT/.local}/kafka/lib}
    local context="${CALLCTL_LOCAL_DIR:-$REPO_ROOT/.local}/docker/kafka-context"
    rm -rf "$context"
    mkdir -p "$context/deploy/lib" "$context/deploy/kafka"
    cp -r "$lib" "$context/lib"
    cp deploy/kafka/Dockerfile "$context/"
    cp deploy/kafka.sh "$context/deploy/"
    cp deploy/lib/process.sh "$context/deploy/lib/"
    cp deploy/kafka/log4j2.properties deploy/kafka/pom.xml "$context/deploy/kafka/"
    build "$KAFKA_IMAGE" "$context"
    log "checking $KAFKA_IMAGE"
    docker run --rm --network none --entrypoint java "$KAFKA_IMAGE" -version 2>&1 | sed 's/^/  /'
}

for target in "${targets[@]}"; do
    "build_$target"
done
log "images: ${targets[*]}; base $((t_base - t_start)) s, total $((SECONDS - t_start)) s"
