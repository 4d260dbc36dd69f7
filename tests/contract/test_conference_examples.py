"""Conference snapshots and callout results: examples against the committed schemas and the
models, and snapshots built from any Sinch answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from service import schema_export
from service.domain.results import ConferenceSnapshot
from service.domain.sinch_answers import normalize_participants
from service.domain.wire import utc_now

EXAMPLES = schema_export.REPO_ROOT / "schemas" / "examples"
CONFERENCES = sorted((EXAMPLES / "conferences").glob("*.json"))
RESULTS = sorted((EXAMPLES / "results").glob("*.json"))


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_there_are_conference_examples() -> None:
    assert len(CONFERENCES) >= 3
    assert any(load(p)["participants"] == [] for p in CONFERENCES), "a conference gone"


@pytest.mark.parametrize("path", CONFERENCES, ids=lambda p: p.stem)
def test_conference_example_matches_schema_and_model(
    path: Path, conferences_validator: Draft202012Validator
) -> None:
    example = load(path)
    assert list(conferences_validator.iter_errors(example)) == []
    snapshot = ConferenceSnapshot.model_validate_json(path.read_bytes())
    assert json.loads(snapshot.to_bytes()) == example


def test_conferences_schema_rejects_a_broken_snapshot(
    conferences_validator: Draft202012Validator,
) -> None:
    good = load(CONFERENCES[0])
    assert not conferences_validator.is_valid(
        {k: v for k, v in good.items() if k != "participants"}
    )
    assert not conferences_validator.is_valid({**good, "participants": [{"muted": "yes"}]})


def test_callout_results_carry_the_placed_call() -> None:
    callouts = [load(p) for p in RESULTS if load(p)["type"] == "callout"]
    succeeded = [r for r in callouts if r["outcome"] == "succeeded"]
    assert succeeded and all(r["callId"] for r in succeeded)
    assert any(r["duplicate"] and r["callId"] for r in succeeded), "a replay keeps its callId"
    unknown = [r for r in callouts if r["outcome"] == "failed"]
    assert unknown and unknown[0]["error"]["code"] == "outcome_unknown"
    assert unknown[0]["error"]["retryable"] is False


sinch_values = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=20), st.lists(st.integers())
)
participants = st.lists(
    st.dictionaries(
        st.sampled_from(["cli", "id", "duration", "muted", "onhold", "other"]), sinch_values
    ),
    max_size=5,
)


@settings(max_examples=200, deadline=None)
@given(payload=st.one_of(st.fixed_dictionaries({"participants": participants}), sinch_values))
def test_snapshots_of_any_sinch_answer_validate(
    payload: Any, conferences_validator: Draft202012Validator
) -> None:
    read = normalize_participants(payload)
    if read is None:
        return
    snapshot = ConferenceSnapshot(
        conference_id="room-1", observed_at=utc_now(), command_id=None, participants=read
    )
    assert list(conferences_validator.iter_errors(json.loads(snapshot.to_bytes()))) == []
