"""schemas/asyncapi.json is valid AsyncAPI by AsyncAPI's own parser (@asyncapi/parser, run with
node: the AsyncAPI 3.0 JSON Schema plus the spec's rules), and the validator does fail on a
broken document. Its node modules come from `make examples` (make test runs it); a missing node
fails the test, naming it: CI has it."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from service.schema_export import ASYNCAPI_FILE, REPO_ROOT, SCHEMA_DIR

VALIDATOR = REPO_ROOT / "deploy/asyncapi/validate.mjs"


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("node") is None:
        pytest.fail("node is not on PATH: the AsyncAPI document cannot be validated (CI has it)")
    if not (VALIDATOR.parent / "node_modules/@asyncapi/parser").is_dir():
        pytest.fail("@asyncapi/parser is not installed: run make examples (make test does)")
    return subprocess.run(
        ["node", str(VALIDATOR), str(path)], capture_output=True, text=True, timeout=120
    )


def test_the_committed_asyncapi_document_is_valid() -> None:
    checked = validate(REPO_ROOT / SCHEMA_DIR / ASYNCAPI_FILE)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "valid AsyncAPI 3.0.0" in checked.stdout


def test_the_validator_fails_on_a_broken_document(tmp_path: Path) -> None:
    document = json.loads((REPO_ROOT / SCHEMA_DIR / ASYNCAPI_FILE).read_text(encoding="utf-8"))
    first = next(iter(document["operations"].values()))
    first["channel"] = {"$ref": "#/channels/no-such-channel"}
    first["action"] = "publish"  # AsyncAPI 2's word: 3.0 takes send or receive
    broken = tmp_path / "asyncapi.json"
    broken.write_text(json.dumps(document), encoding="utf-8")
    checked = validate(broken)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "error" in checked.stdout
