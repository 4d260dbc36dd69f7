"""What the service publishes: result and snapshot examples, and results built by the service's
own code (decoder, planner, model constructors), against the committed schemas."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from service import schema_export
from service.domain import commands as c
from service.domain.decode import Rejection, decode_command
from service.domain.plan import plan
from service.domain.results import (
    ErrorCode,
    ErrorInfo,
    Outcome,
    RequestEcho,
    Result,
    Snapshot,
    Source,
)
from service.domain.sinch_answers import normalize_call

EXAMPLES = schema_export.REPO_ROOT / "schemas" / "examples"
RESULTS = sorted((EXAMPLES / "results").glob("*.json"))
SNAPSHOTS = sorted((EXAMPLES / "snapshots").glob("*.json"))
VALID_COMMANDS = sorted((EXAMPLES / "commands" / "valid").glob("*.json"))
INVALID_COMMANDS = sorted((EXAMPLES / "commands" / "invalid").glob("*.json"))
NOW = datetime(2026, 11, 26, 23, 41, 7, 123000, tzinfo=UTC)
SOURCE = Source(topic="call-control.commands.v1", partition=0, offset=42)


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def errors(validator: Draft202012Validator, instance: Any) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(instance)]


def command(path: Path) -> c.Command:
    decoded = decode_command(None, path.read_bytes(), max_bytes=65_536)
    assert not isinstance(decoded, Rejection), decoded
    return decoded


# --- examples ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", RESULTS, ids=lambda p: p.stem)
def test_result_example_matches_schema_and_model(
    path: Path, results_validator: Draft202012Validator
) -> None:
    example = load(path)
    assert errors(results_validator, example) == []
    result = Result.model_validate_json(path.read_bytes())
    # Exactly what the service would write for it: no field missing, none extra.
    assert json.loads(result.to_bytes()) == example


@pytest.mark.parametrize("path", SNAPSHOTS, ids=lambda p: p.stem)
def test_snapshot_example_matches_schema_and_model(
    path: Path, snapshots_validator: Draft202012Validator
) -> None:
    example = load(path)
    assert errors(snapshots_validator, example) == []
    snapshot = Snapshot.model_validate_json(path.read_bytes())
    assert json.loads(snapshot.to_bytes()) == example


def test_result_examples_cover_the_outcomes_that_matter() -> None:
    results = [load(path) for path in RESULTS]
    assert {r["outcome"] for r in results} == {o.value for o in Outcome}
    assert any(r["duplicate"] for r in results)
    assert any(
        r["error"]
        and r["error"]["code"] == "call_not_found"
        and r["error"]["sinchErrorCode"] == 40400
        for r in results
    )
    assert any(r["outcome"] == "rejected" and r["commandId"] is None for r in results)
    assert any(
        r["outcome"] == "rejected"
        and r["commandId"]
        and not re.fullmatch(c.COMMAND_ID_PATTERN, r["commandId"])
        for r in results
    ), "an example of an invalid commandId echoed for correlation"
    assert any(r["error"] and r["error"]["retryable"] for r in results)


def test_result_examples_never_show_a_secret() -> None:
    for path in RESULTS:
        assert "example-secret-value" not in path.read_text(encoding="utf-8"), path.name
    recording = load(EXAMPLES / "results" / "succeeded-start-recording-redacted.json")
    options = recording["request"]["body"]["instructions"][0]["options"]
    assert options["credentials"] == c.REDACTED


# --- the schemas are not vacuous ---------------------------------------------------------


def _succeeded() -> dict[str, Any]:
    return load(EXAMPLES / "results" / "succeeded-say.json")  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda r: r.pop("duplicate"), "every field is always written"),
        (lambda r: r.pop("error"), "null fields are written, not left out"),
        (lambda r: r.update(outcome="done"), "outcome is an enum"),
        (lambda r: r.update(attempts="1"), "attempts is an integer"),
        (lambda r: r.update(receivedAt="2026-11-26T23:41:07"), "timestamps are UTC with Z"),
        (lambda r: r["source"].pop("offset"), "source names the record"),
        (lambda r: r.update(error={"code": "oops", "message": "x"}), "error codes are stable"),
    ],
)
def test_results_schema_rejects_a_broken_result(
    change: Any, why: str, results_validator: Draft202012Validator
) -> None:
    result = _succeeded()
    change(result)
    assert not results_validator.is_valid(result), why


def test_snapshots_schema_rejects_a_broken_snapshot(
    snapshots_validator: Draft202012Validator,
) -> None:
    snapshot = load(SNAPSHOTS[0])
    del snapshot["call"]
    assert not snapshots_validator.is_valid(snapshot)


# --- results built by the service's code path ---------------------------------------------


def _result(
    cmd: c.Command | None,
    outcome: Outcome,
    *,
    attempts: int = 0,
    http_status: int | None = None,
    error: ErrorInfo | None = None,
    with_request: bool = False,
    duplicate: bool = False,
) -> Result:
    request = plan(cmd) if cmd is not None and with_request else None
    return Result(
        command_id=cmd.command_id if cmd else None,
        call_id=cmd.about_call() if cmd else None,
        type=cmd.type if cmd else None,
        outcome=outcome,
        duplicate=duplicate,
        attempts=attempts,
        http_status=http_status,
        error=error,
        request=RequestEcho(**request.echo()) if request is not None and cmd else None,
        received_at=NOW,
        completed_at=NOW + timedelta(milliseconds=35),
        duration_ms=35.25,
        source=SOURCE,
        metadata=cmd.metadata if cmd else None,
    )


@pytest.mark.parametrize("path", VALID_COMMANDS, ids=lambda p: p.stem)
def test_succeeded_and_replayed_results_validate(
    path: Path, results_validator: Draft202012Validator
) -> None:
    cmd = command(path)
    status = 200 if cmd.type == "getCallInfo" else 204
    result = _result(cmd, Outcome.SUCCEEDED, attempts=1, http_status=status, with_request=True)
    published = json.loads(result.to_bytes())
    assert errors(results_validator, published) == []
    on_a_call = cmd.about_conference() is None and not isinstance(cmd, c.Callout)
    prefix = "/calling/v1/calls/id/" if on_a_call else "/calling/v1/"
    assert published["request"]["path"].startswith(prefix)

    replay = Result.model_validate_json(result.to_bytes()).model_copy(update={"duplicate": True})
    assert errors(results_validator, json.loads(replay.to_bytes())) == []


@pytest.mark.parametrize("code", list(ErrorCode), ids=str)
def test_failed_results_validate_for_every_error_code(
    code: ErrorCode, results_validator: Draft202012Validator
) -> None:
    cmd = command(VALID_COMMANDS[0])
    error = ErrorInfo(
        code=code,
        message=f"{code.value} happened",
        retryable=code in {ErrorCode.RATE_LIMITED, ErrorCode.UPSTREAM_UNAVAILABLE},
        sinch_error_code=40400 if code is ErrorCode.CALL_NOT_FOUND else None,
        sinch_reference="ref-1" if code is ErrorCode.CALL_NOT_FOUND else None,
    )
    result = _result(cmd, Outcome.FAILED, attempts=2, http_status=404, error=error)
    assert errors(results_validator, json.loads(result.to_bytes())) == []


def test_expired_result_validates(results_validator: Draft202012Validator) -> None:
    cmd = command(VALID_COMMANDS[0])
    error = ErrorInfo(code=ErrorCode.EXPIRED, message="expiresAt passed before the command's turn")
    result = _result(cmd, Outcome.EXPIRED, error=error)
    published = json.loads(result.to_bytes())
    assert errors(results_validator, published) == []
    assert published["attempts"] == 0
    assert published["request"] is None


@pytest.mark.parametrize("path", INVALID_COMMANDS, ids=lambda p: p.stem)
def test_rejected_results_validate(path: Path, results_validator: Draft202012Validator) -> None:
    rejection = decode_command(None, json.dumps(load(path)["record"]).encode(), max_bytes=65_536)
    assert isinstance(rejection, Rejection)
    result = rejection.result(received_at=NOW, completed_at=NOW, duration_ms=0.5, source=SOURCE)
    assert errors(results_validator, json.loads(result.to_bytes())) == []


@pytest.mark.parametrize(
    "value",
    [b"", b"{not json", b"[]", b'"text"', b"\xff\xfe", b"x" * 70_000],
    ids=["empty", "not-json", "array", "string", "not-utf8", "too-large"],
)
def test_unreadable_records_give_valid_rejected_results(
    value: bytes, results_validator: Draft202012Validator
) -> None:
    rejection = decode_command(b"call-1", value, max_bytes=65_536)
    assert isinstance(rejection, Rejection)
    result = rejection.result(received_at=NOW, completed_at=NOW, duration_ms=0.1, source=SOURCE)
    published = json.loads(result.to_bytes())
    assert errors(results_validator, published) == []
    assert published["commandId"] is None
    assert published["callId"] == "call-1"


@pytest.mark.parametrize(
    "value",
    [
        b'{"commandId":"a\\r\\n\\u001b[2J","callId":"x y","type":"hangup"}',
        b'{"commandId":"' + b"c" * 5_000 + b'","callId":"\\u202e","type":"say"}',
        b'{"commandId":"c-1","callId":"call-1","type":"hangup","\\u0000' + b"k" * 9_000 + b'":1}',
        b'{"commandId":"c-1","callId":"call-1","type":"hangup","commandId":"c-2"}',
        b'{"commandId":"c-1","callId":"call-1","type":"hangup","issuedAt":"0001-01-01T00:00:00+01:00"}',
        b"[" * 5_000,
    ],
    ids=["control-characters", "long-ids", "long-field-name", "duplicate-key", "no-utc", "deep"],
)
def test_hostile_records_give_valid_rejected_results(
    value: bytes, results_validator: Draft202012Validator
) -> None:
    rejection = decode_command(b"call-1", value, max_bytes=65_536)
    assert isinstance(rejection, Rejection)
    published = json.loads(
        rejection.result(
            received_at=NOW, completed_at=NOW, duration_ms=0.1, source=SOURCE
        ).to_bytes()
    )
    assert errors(results_validator, published) == []
    assert len(published["error"]["message"].encode()) <= 1024


SINCH_CALLS: list[Any] = [
    {
        "from": {"type": "number", "endpoint": "+46700000001"},
        "to": {"type": "number", "endpoint": "+46700000002"},
        "domain": "pstn",
        "duration": 12,
        "status": "ONGOING",
        "result": "ANSWERED",
        "reason": "N/A",
        "timestamp": "2026-11-26T23:41:07Z",
        "custom": "customData",
        "userRate": {"currencyId": "EUR", "amount": 0.0312},
        "debit": {"currencyId": "EUR", "amount": 0.0064},
    },
    {
        "from": {"type": "Number", "endpoint": 46700000001},
        "to": {"type": "Username", "endpoint": "alice"},
        "domain": "MXP",
        "duration": "15",
        "status": "final",
        "timestamp": "2023-04-21T14:45:51",
        "custom": {"nested": [1, 2]},
        "userRate": {"currencyId": "EUR", "amount": "0.1"},
    },
    {"status": "SOMETHING_NEW", "duration": 1.5, "timestamp": "not a time", "debit": "free"},
    {"from": "sip:bob@example.com", "to": None, "duration": True, "custom": 7},
    {},
    [],
    None,
]


@pytest.mark.parametrize("payload", SINCH_CALLS, ids=lambda p: str(p)[:20])
def test_snapshots_of_any_sinch_answer_validate(
    payload: Any, snapshots_validator: Draft202012Validator
) -> None:
    snapshot = Snapshot(
        call_id="call-1", observed_at=NOW, command_id="cmd-1", call=normalize_call(payload)
    )
    published = json.loads(snapshot.to_bytes())
    assert errors(snapshots_validator, published) == []
    assert published["observedAt"] == "2026-11-26T23:41:07.123Z"
