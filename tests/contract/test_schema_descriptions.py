"""Every property of every published schema says what it means (code generators and IDEs show
these texts), and the retry rule reads the same in the schema as in docs/integrating.md.

Checked on what the generator writes now (the drift test ties it to the committed files), so a
new field without a docstring fails here with its path."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from callctl.common import RETRY_RULE as CLI_RETRY_RULE
from service import schema_export
from service.domain.results import RETRY_RULE

DOCUMENTS = schema_export.artifacts()
# Where people read about retrying: each states the rule in these words.
RULE_PAGES = (
    "README.md",
    "docs/integrating.md",
    "docs/contract.md",
    f"schemas/topics/{schema_export.TOPICS.results}.md",
    f"schemas/topics/{schema_export.TOPICS.commands}.md",
)


def properties(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every (path, schema) of a named property anywhere in `node`."""
    if isinstance(node, dict):
        for name, schema in (node.get("properties") or {}).items():
            if isinstance(schema, dict):
                yield f"{path}/properties/{name}", schema
        for key, value in node.items():
            yield from properties(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from properties(value, f"{path}/{index}")


def load(path: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DOCUMENTS[path])
    return document


@pytest.mark.parametrize("path", sorted(DOCUMENTS))
def test_every_property_has_a_description(path: str) -> None:
    found = list(properties(load(path), "#"))
    assert found, f"{path}: no properties found"
    missing = [where for where, schema in found if not str(schema.get("description", "")).strip()]
    lacking = f"{len(missing)} of {len(found)} properties lack a description"
    assert not missing, f"{path}: {lacking}: " + ", ".join(missing[:40])


def flat(text: str) -> str:
    """Prose as read: line breaks, quote marks and bold marks do not change the words."""
    return " ".join(re.sub(r"^\s*>", "", text, flags=re.MULTILINE).replace("**", "").split())


def test_the_retry_rule_reads_the_same_everywhere() -> None:
    results = load(f"schemas/{schema_export.TOPICS.results}.schema.json")
    defs = results["$defs"]
    assert RETRY_RULE in defs["ErrorInfo"]["properties"]["retryable"]["description"]
    assert RETRY_RULE in results["properties"]["duplicate"]["description"]
    assert RETRY_RULE in flat(CLI_RETRY_RULE), "callctl's help (send, results)"
    for page in RULE_PAGES:
        text = flat((schema_export.REPO_ROOT / page).read_text(encoding="utf-8"))
        assert RETRY_RULE in text, f"{page} does not state the retry rule as the schema does"


@pytest.mark.parametrize("path", sorted(p for p in DOCUMENTS if p.endswith(".schema.json")))
def test_every_property_example_is_valid_for_its_property(path: str) -> None:
    document = load(path)
    checked = 0
    for where, schema in properties(document, "#"):
        for example in schema.get("examples", []):
            validator = Draft202012Validator({"$defs": document.get("$defs", {}), **schema})
            errors = [error.message for error in validator.iter_errors(example)]
            assert not errors, f"{path} {where}: example {example!r}: {errors}"
            checked += 1
    assert checked, f"{path}: no property examples"
