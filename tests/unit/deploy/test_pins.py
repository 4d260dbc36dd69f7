"""One uv version everywhere it is pinned: a drift would make CI, `make` and the image differ."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

PINS = {
    "Makefile": r"^export UV_VERSION := (\S+)$",
    ".ci/run": r"^export UV_VERSION=(\S+)$",
    "deploy/uv.sh": r"^UV_VERSION=\$\{UV_VERSION:-(\S+)\}$",
    "Dockerfile": r"^ARG UV_VERSION=(\S+)$",
}


def test_uv_is_pinned_to_one_version_everywhere() -> None:
    found = {}
    for path, pattern in PINS.items():
        match = re.search(pattern, (ROOT / path).read_text(), re.M)
        assert match, f"{path}: no uv pin matching {pattern}"
        found[path] = match.group(1)
    assert len(set(found.values())) == 1, found
    assert re.fullmatch(r"\d+\.\d+\.\d+", next(iter(found.values())))
