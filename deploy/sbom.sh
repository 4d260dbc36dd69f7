#!/usr/bin/env bash
# deploy/sbom.sh - CycloneDX SBOMs (JSON) into $SBOM_DIR (`make sbom`), each made by a CycloneDX tool:
#
#   lock.cdx.json   the locked runtime dependencies: `uv export` (uv.lock, no dev group, with
#                   hashes) read by cyclonedx-py (CycloneDX's own Python tool, cyclonedx-bom on PyPI)
#   image.cdx.json  the image $IMAGE, when a Docker engine answers and has it: with syft when it is
#                   on PATH (Debian and Python packages); else cyclonedx-py run inside the image
#                   against its /app/.venv (Python packages only; the file's metadata says so)
#   env.cdx.json    otherwise: a runtime-only environment made from the lock (uv sync --no-dev
#                   into a temporary venv), read by cyclonedx-py
#
# Env: SBOM_DIR (dist/sbom), IMAGE (call-control:dev), CYCLONEDX_BOM_VERSION (7.5.0), UV.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
UV=${UV:-$("$SCRIPT_DIR/uv.sh")}
SBOM_DIR=${SBOM_DIR:-$REPO_ROOT/dist/sbom}
IMAGE=${IMAGE:-call-control:dev}
CYCLONEDX_BOM_VERSION=${CYCLONEDX_BOM_VERSION:-7.5.0}

log() { printf 'sbom: %s\n' "$*" >&2; }
cyclonedx_py() { "$UV" tool run --quiet --from "cyclonedx-bom==$CYCLONEDX_BOM_VERSION" cyclonedx-py "$@"; }
summary() {
    python3 - "$1" <<'PY'
import json, sys
bom = json.load(open(sys.argv[1]))
print(f"{sys.argv[1]}: CycloneDX {bom['specVersion']}, {len(bom.get('components', []))} components")
PY
}

mkdir -p "$SBOM_DIR"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$REPO_ROOT"

# ------------------------------------------------------------------ the lock file
"$UV" export --frozen --format requirements.txt --no-dev --no-emit-project --quiet \
    --output-file "$work/requirements.txt"
cyclonedx_py requirements --spec-version 1.6 --output-format JSON --output-reproducible \
    --output-file "$SBOM_DIR/lock.cdx.json" "$work/requirements.txt"
summary "$SBOM_DIR/lock.cdx.json"

# ------------------------------------------------------------------ the image, or an environment
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    if command -v syft >/dev/null; then
        log "image $IMAGE with syft"
        syft -q "docker:$IMAGE" -o "cyclonedx-json=$SBOM_DIR/image.cdx.json"
    else
        log "image $IMAGE: no syft on PATH, so Python packages only (cyclonedx-py inside the image)"
        # cyclonedx-bom into a host folder, mounted read-only; the image itself has no pip
        python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-warn-conflicts \
            --target "$work/cyclonedx" "cyclonedx-bom==$CYCLONEDX_BOM_VERSION"
        docker run --rm --network none --user 10001 --entrypoint /app/.venv/bin/python \
            -v "$work/cyclonedx:/opt/cyclonedx:ro" -e PYTHONPATH=/opt/cyclonedx \
            "$IMAGE" -m cyclonedx_py environment --spec-version 1.6 --output-format JSON \
            --output-reproducible /app/.venv/bin/python >"$SBOM_DIR/image.cdx.json"
    fi
    summary "$SBOM_DIR/image.cdx.json"
else
    log "no Docker engine with $IMAGE: the runtime environment built from the lock instead"
    UV_PROJECT_ENVIRONMENT="$work/venv" "$UV" sync --frozen --no-dev --no-editable --quiet
    cyclonedx_py environment --spec-version 1.6 --output-format JSON --output-reproducible \
        --output-file "$SBOM_DIR/env.cdx.json" "$work/venv/bin/python"
    summary "$SBOM_DIR/env.cdx.json"
fi
