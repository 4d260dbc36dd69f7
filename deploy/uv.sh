#!/usr/bin/env bash
# deploy/uv.sh - the one uv every make target and deploy script uses: uv $UV_VERSION, pinned.
#
#   deploy/uv.sh           print its path, installing it first when there is none
#   deploy/uv.sh --path    print the path it has or would have; install nothing
#
# A uv of exactly $UV_VERSION on PATH, or in ~/.local/bin (where uv's own installer puts it,
# often not on PATH), is used as it is. Otherwise the pinned version is installed from PyPI with
# `pip install --target` into $UV_HOME: no change to PATH or to the user's own uv, and no clash
# with a system Python that refuses `pip install --user` (PEP 668, Debian 12).
#
# Env: UV_VERSION (0.13.9; the Makefile, .ci/run and the Dockerfile pin the same),
#      UV_HOME (${XDG_CACHE_HOME:-~/.cache}/call-control/uv-$UV_VERSION), PYTHON (python3).
set -euo pipefail

UV_VERSION=${UV_VERSION:-0.13.9}
UV_HOME=${UV_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/call-control/uv-$UV_VERSION}
PYTHON=${PYTHON:-python3}

version_of() { "$1" --version 2>/dev/null | awk '{print $2}'; }

for candidate in "$(command -v uv || true)" "$HOME/.local/bin/uv" "$UV_HOME/bin/uv"; do
    if [[ -n $candidate && -x $candidate && $(version_of "$candidate") == "$UV_VERSION" ]]; then
        echo "$candidate"
        exit 0
    fi
done
if [[ ${1:-} == --path ]]; then
    echo "$UV_HOME/bin/uv"
    exit 0
fi
echo "uv.sh: installing uv $UV_VERSION from PyPI into $UV_HOME" >&2
command -v "$PYTHON" >/dev/null || { echo "uv.sh: $PYTHON not found: Python 3 with pip is needed to install uv" >&2; exit 2; }
"$PYTHON" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    --target "$UV_HOME" "uv==$UV_VERSION" >&2
[[ $(version_of "$UV_HOME/bin/uv") == "$UV_VERSION" ]] || { echo "uv.sh: $UV_HOME/bin/uv is not uv $UV_VERSION" >&2; exit 1; }
echo "$UV_HOME/bin/uv"
