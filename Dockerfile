# call-control: the service image (the default target) and the Sinch simulator image
# (`--target simulator`: the same venv, `python -m simulator` on 8700).
#
# Two stages, after astral-sh/uv-docker-example:
#   builder  installs uv with pip, then `uv sync --frozen --no-dev --no-editable` into /app/.venv
#            (dependencies first, from pyproject.toml + uv.lock only, so a source change does not
#            reinstall them; then the project itself, built as a wheel: no source tree needed later)
#   runtime  the same base, /app/.venv only, non-root uid 10001, no uv, no pip, no compiler.
#
# Build (BuildKit is needed for the secret and cache mounts):
#   docker build -t call-control:dev .
#   docker build -t call-control:dev --build-arg BASE_IMAGE=callctl-base:bookworm \
#       --secret id=cacert,src=/etc/ssl/certs/ca-certificates.crt --network host .
# The optional `cacert` secret is a CA bundle for reaching the package index through a TLS
# proxy; it is mounted for the install steps only and never copied into a layer.
# No `# syntax=` line on purpose: it would pull a frontend image from a registry; the built-in
# Dockerfile frontend (Docker >= 20.10) has RUN --mount.
#
# Run: the image writes only under /app/var (the SQLite idempotency store), a declared volume,
# so it runs with a read-only root filesystem: `--read-only --tmpfs /tmp -v state:/app/var`.

# The base by digest: a tag moves, a digest names one image. The default is the multi-arch index
# of python:3.11-slim-bookworm as recorded from a public reference: it could not be re-checked
# from the machine this was written on (no registry). Refresh it where a registry answers:
#   docker buildx imagetools inspect python:3.11-slim-bookworm   (the "Digest:" line)
# deploy/docker/build.sh builds on the local debootstrapped base instead (BASE_IMAGE).
ARG BASE_IMAGE=python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91

# ---------------------------------------------------------------------------------- builder
FROM ${BASE_IMAGE} AS builder

ARG UV_VERSION=0.13.9
# optional: a package index other than PyPI (as `pip config` / PIP_INDEX_URL name it)
ARG PIP_INDEX_URL=""

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=python3 \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# uv itself, from PyPI, in a throw-away venv of the builder (the runtime never sees it)
RUN --mount=type=secret,id=cacert \
    set -eu; \
    if [ -s /run/secrets/cacert ]; then export PIP_CERT=/run/secrets/cacert; fi; \
    if [ -n "$PIP_INDEX_URL" ]; then export PIP_INDEX_URL; else unset PIP_INDEX_URL; fi; \
    python3 -m venv /opt/uv; \
    /opt/uv/bin/pip install --quiet "uv==${UV_VERSION}"; \
    /opt/uv/bin/uv --version

WORKDIR /app

# 1. third-party dependencies only: this layer changes only when the lock file does
COPY pyproject.toml uv.lock ./
RUN --mount=type=secret,id=cacert \
    --mount=type=cache,target=/root/.cache/uv \
    set -eu; \
    if [ -s /run/secrets/cacert ]; then export SSL_CERT_FILE=/run/secrets/cacert; fi; \
    /opt/uv/bin/uv sync --frozen --no-dev --no-editable --no-install-project

# 2. the project, installed as a wheel into the venv (service and simulator packages)
COPY README.md ./
COPY service/ service/
COPY callctl/ callctl/
COPY simulator/ simulator/
COPY call_control_testing/ call_control_testing/
RUN --mount=type=secret,id=cacert \
    --mount=type=cache,target=/root/.cache/uv \
    set -eu; \
    if [ -s /run/secrets/cacert ]; then export SSL_CERT_FILE=/run/secrets/cacert; fi; \
    /opt/uv/bin/uv sync --frozen --no-dev --no-editable; \
    /app/.venv/bin/python -c "import service.__main__, simulator.__main__"

# ---------------------------------------------------------------------------------- runtime
FROM ${BASE_IMAGE} AS runtime

ARG VERSION=0.1.0
ARG REVISION=""
ARG CREATED=""
ARG SOURCE_URL=""
ARG LICENSES="Apache-2.0"

LABEL org.opencontainers.image.title="call-control" \
      org.opencontainers.image.description="Kafka-driven call control for the Sinch Calling API: ordered per call, concurrent across calls, idempotent." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="${LICENSES}"

# No package manager for Python in the final image: the official python image ships pip
# (and setuptools/wheel) in the system interpreter; Debian's python3-venv ships pip wheels for
# ensurepip. Neither is needed to run the venv. Then the unprivileged user that runs it.
RUN set -eu; \
    python3 -m pip uninstall --yes --quiet pip setuptools wheel 2>/dev/null || true; \
    rm -rf /usr/local/bin/pip /usr/local/bin/pip3* /usr/share/python-wheels \
        /usr/local/lib/python3*/ensurepip/_bundled /usr/lib/python3*/ensurepip/_bundled \
        /root/.cache; \
    groupadd --gid 10001 app; \
    useradd --uid 10001 --gid 10001 --home-dir /app --no-create-home --no-log-init \
        --shell /usr/sbin/nologin app; \
    mkdir -p /app/var; \
    chown 10001:10001 /app/var

# the venv, owned by root and so read-only for the service's user
COPY --from=builder /app/.venv /app/.venv

WORKDIR /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CALLCTL_LOG_FORMAT=json \
    CALLCTL_IDEMPOTENCY__SQLITE_PATH=/app/var/idempotency.sqlite3

# the only writable place: mount an emptyDir/volume here when the root filesystem is read-only
VOLUME ["/app/var"]
USER 10001:10001
# CALLCTL_HTTP_PORT: /healthz (liveness), /readyz (readiness), /metrics (Prometheus)
EXPOSE 8080

HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CALLCTL_HTTP_PORT', '8080'), timeout=2)"]

# Exec form: Python is PID 1 and receives SIGTERM itself; the service handles it (stops
# consuming, finishes or abandons in-flight commands within CALLCTL_SHUTDOWN_GRACE_S, commits,
# exits 0), so no init shim is needed.
ENTRYPOINT ["python", "-m", "service"]

# ---------------------------------------------------------------------------------- simulator
# The Sinch Calling API stand-in, for container-based tests (deploy/docker/build.sh simulator).
FROM runtime AS simulator
LABEL org.opencontainers.image.title="call-control-simulator" \
      org.opencontainers.image.description="Sinch Calling API simulator for call-control's tests."
ENV SIM_HOST=0.0.0.0 \
    SIM_PORT=8700
EXPOSE 8700
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/_admin/health' % os.environ.get('SIM_PORT', '8700'), timeout=2)"]
ENTRYPOINT ["python", "-m", "simulator"]

# ---------------------------------------------------------------------------------- service
# the default target: the runtime stage as it is
FROM runtime AS service
