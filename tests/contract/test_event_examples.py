"""The events topic: committed examples against the schema, and rebuilt by the service's code
from the callback they hold (so an example cannot drift from what the endpoint publishes)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from service import schema_export
from service.domain.events import CallEvent, build_event
from tests.contract.conftest import validator

EXAMPLES = sorted((schema_export.REPO_ROOT / "schemas" / "examples" / "events").glob("*.json"))


@pytest.fixture(scope="module")
def events_validator() -> Draft202012Validator:
    return validator(schema_export.TOPICS.events)


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_every_event_type_has_an_example() -> None:
    assert {p.stem for p in EXAMPLES} == {"ice", "ace", "pie", "dice", "notify", "unknown"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_matches_schema_model_and_code(
    path: Path, events_validator: Draft202012Validator
) -> None:
    example = load(path)
    assert [e.message for e in events_validator.iter_errors(example)] == []
    rebuilt = build_event(
        example["callback"],
        received_at=datetime.fromisoformat(example["receivedAt"]),
        answer=example["answer"],
    )
    assert rebuilt.model_dump(mode="json", by_alias=True) == example
    assert CallEvent.model_validate(example) == rebuilt
    assert example["eventType"] == path.stem


def test_schema_rejects_an_event_without_call_id(events_validator: Draft202012Validator) -> None:
    example = load(EXAMPLES[0])
    del example["callId"]
    assert not events_validator.is_valid(example)
