"""Where the commands schema and the decoder must agree, record by record.

Producers validate against the schema; the service decides with `decode_command`. A record the
schema rejects but the service executes (or the reverse) is a contract bug in one of them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from service.domain.decode import Rejection, decode_command

CALL = "call-1"


def decode(record: dict[str, Any]) -> object:
    """Decoded as a producer keys it: by its callId (the record key is not under test here)."""
    key = record.get("callId", record.get("call_id", CALL))
    return decode_command(str(key).encode(), json.dumps(record).encode(), max_bytes=65_536)


AGREED_VALID: list[dict[str, Any]] = [
    {"commandId": "a", "callId": CALL, "type": "hangup"},
    {"commandId": "a", "callId": CALL, "type": "hangup", "issuedAt": "2026-11-26T23:41:07Z"},
    {"commandId": "a", "callId": CALL, "type": "hangup", "issuedAt": "2026-11-26T23:41:07+05:30"},
    {"commandId": "a", "callId": CALL, "type": "hangup", "expiresAt": "2026-11-26t23:41:07.5z"},
    {"commandId": "a", "callId": CALL, "type": "say", "text": "x" * 600, "locale": "en-US"},
    {"commandId": "a", "callId": CALL, "type": "say", "text": "hi", "locale": "x", "leg": None},
    {"commandId": "a", "callId": CALL, "type": "park", "maxDuration": 600},
    {
        "commandId": "a" * 128,
        "callId": "b" * 128,
        "type": "unpark",
        "region": "apse2",
        "action": {"name": "hangup"},
    },
]


@pytest.mark.parametrize("record", AGREED_VALID)
def test_both_accept(record: dict[str, Any], commands_validator: Draft202012Validator) -> None:
    assert commands_validator.is_valid(record)
    assert not isinstance(decode(record), Rejection)


@pytest.mark.parametrize(
    "record",
    [
        # The contract's field names are camelCase; the models also accept their Python names
        # (`populate_by_name=True`), which the schema (by alias, no additional properties) and
        # the contract ("unknown fields are rejected") do not.
        {"command_id": "a", "call_id": CALL, "type": "hangup"},
        {"commandId": "a", "callId": CALL, "type": "park", "max_duration": 60},
        {"commandId": "a", "callId": CALL, "type": "hangup", "issued_at": "2026-11-26T23:41:07Z"},
        {
            "commandId": "a",
            "callId": CALL,
            "type": "startRecording",
            "options": {"destination_url": "s3://bucket/", "credentials": "k:s:eu-central-1"},
        },
        {
            "commandId": "a",
            "callId": CALL,
            "type": "svaml",
            "svaml": {"action": {"name": "park", "intro_prompt": "#tts[Hold]"}},
        },
    ],
    ids=["command_id", "max_duration", "issued_at", "destination_url", "svaml-intro_prompt"],
)
def test_snake_case_field_names_are_unknown_fields(
    record: dict[str, Any], commands_validator: Draft202012Validator
) -> None:
    assert not commands_validator.is_valid(record)
    decoded = decode(record)
    assert isinstance(decoded, Rejection), f"executed a command the schema rejects: {decoded!r}"
    assert "unknown field" in decoded.message


@pytest.mark.parametrize(
    "timestamp",
    [
        "1795736467",  # epoch seconds in a string: no zone, not RFC 3339
        "2026-11-26T23:41Z",  # no seconds: not RFC 3339
    ],
)
def test_timestamps_that_are_not_rfc3339_are_rejected(
    timestamp: str, commands_validator: Draft202012Validator
) -> None:
    record = {"commandId": "a", "callId": CALL, "type": "hangup", "expiresAt": timestamp}
    assert not commands_validator.is_valid(record)
    decoded = decode(record)
    assert isinstance(decoded, Rejection), f"read {timestamp!r} as {decoded!r}"
    assert decoded.message.startswith("expiresAt: ")


@pytest.mark.parametrize(
    "timestamp", ["2026-11-26T23:41:07", "2026-11-26", "23:41:07Z", "", "tomorrow"]
)
def test_timestamps_without_a_zone_are_rejected_by_both(
    timestamp: str, commands_validator: Draft202012Validator
) -> None:
    record = {"commandId": "a", "callId": CALL, "type": "hangup", "issuedAt": timestamp}
    assert not commands_validator.is_valid(record)
    decoded = decode(record)
    assert isinstance(decoded, Rejection)
    assert decoded.message.startswith("issuedAt: ")
