"""Command examples against the commands schema AND the service's decoder.

`schemas/examples/commands/valid/*.json` must pass both; each file in `invalid/` holds
`{"record", "expectedCode", "expectedMessageContains"}` and must be rejected by the decoder with
that code and a message naming the field and the rule. Where JSON Schema can express the rule
(types, patterns, lengths, enums, unknown fields) the schema must reject it too; the rules only
the service can check (validators) are listed in `SERVICE_ONLY_RULES`, so that a schema that
starts expressing one of them shows up here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from service import schema_export
from service.domain import commands as c
from service.domain.decode import Rejection, decode_command
from service.domain.results import ErrorCode

EXAMPLES = schema_export.REPO_ROOT / "schemas" / "examples" / "commands"
VALID = sorted((EXAMPLES / "valid").glob("*.json"))
INVALID = sorted((EXAMPLES / "invalid").glob("*.json"))
MAX_BYTES = 65_536

# Invalid examples whose rule lives in a validator, not in the schema's types: the schema
# accepts them, the service rejects them.
SERVICE_ONLY_RULES = frozenset(
    {
        "metadata-4097-bytes",  # serialized size
        "park-intro-prompt-bad-href",  # each ;-separated prompt checked
        "play-files-bad-id-scheme",  # prompt forms
        "say-tts-in-prompt-601-chars",  # the TTS limit inside a prompt
        "say-text-601-chars",  # the TTS limit is a setting (CALLCTL_TTS_MAX_CHARS)
        "svaml-say-text-601-chars",
        "call-resource-url-other-host",  # a Sinch calling host
        "play-files-tts-without-locale",  # locale required with #tts[ / #ssml[
        "svaml-play-files-tts-without-locale",
        "svaml-instructions-without-action",  # an action beside instructions
        "svaml-set-cookie-over-1024-bytes",  # cookies' total size
        "call-resource-url-other-call",  # this call's path
        "svaml-e1-action-connect-stream",  # which parts each endpoint takes
        "svaml-e1-answer",
        "svaml-e3-action-park",
        "svaml-e3-instruction-send-dtmf",
        "callout-method-without-its-object",  # the object the method names
        "callout-tts-without-locale",  # locale required with text
        "callout-custom-ice-not-svaml",  # inline SVAML inside a string
    }
)


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def errors(validator: Draft202012Validator, instance: Any) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(instance)]


# --- valid -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_example_matches_the_schema(
    path: Path, commands_validator: Draft202012Validator
) -> None:
    assert errors(commands_validator, load(path)) == []


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_example_is_decoded_as_its_type(path: Path) -> None:
    record = load(path)
    key = record.get("conferenceId") or record.get("callId") or "any-key"
    command = decode_command(key.encode(), path.read_bytes(), max_bytes=MAX_BYTES)
    assert not isinstance(command, Rejection), command
    assert command.type == record["type"]
    assert command.command_id == record["commandId"]
    assert command.about_call() == record.get("callId")


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_the_model_writes_what_the_schema_accepts(
    path: Path, commands_validator: Draft202012Validator
) -> None:
    command = c.COMMAND.validate_json(path.read_bytes())
    dumped = command.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert errors(commands_validator, dumped) == []
    assert c.COMMAND.validate_json(json.dumps(dumped)) == command


def test_every_command_type_has_a_valid_example() -> None:
    types = [load(path)["type"] for path in VALID]
    assert set(types) == set(c.COMMAND_TYPES)


def test_svaml_examples_cover_both_endpoints_and_optional_fields() -> None:
    records = [load(path) for path in VALID]
    svaml = [r for r in records if r["type"] == "svaml"]
    assert any("leg" in r for r in svaml), "an E3 (per-leg) svaml example"
    assert any("leg" not in r for r in svaml), "an E1 svaml example"
    used = {key for r in records for key in r}
    assert {"issuedAt", "expiresAt", "region", "snapshot", "metadata", "leg", "then"} <= used


# --- invalid -----------------------------------------------------------------------------


def test_invalid_examples_cover_at_least_twenty_rules() -> None:
    fragments = {load(path)["expectedMessageContains"] for path in INVALID}
    assert len(fragments) >= 20, "at least twenty different rule violations"


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_example_has_the_documented_shape(path: Path) -> None:
    example = load(path)
    assert set(example) == {"record", "expectedCode", "expectedMessageContains"}
    assert example["expectedCode"] in {code.value for code in ErrorCode}
    assert len(example["expectedMessageContains"]) >= 8


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_example_is_rejected_with_its_code_and_message(path: Path) -> None:
    example = load(path)
    value = json.dumps(example["record"]).encode()
    rejection = decode_command(None, value, max_bytes=MAX_BYTES)
    assert isinstance(rejection, Rejection), f"accepted: {rejection!r}"
    assert rejection.code == example["expectedCode"]
    assert example["expectedMessageContains"] in rejection.message


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_schema_rejects_what_it_can_express(
    path: Path, commands_validator: Draft202012Validator
) -> None:
    record = load(path)["record"]
    if path.stem in SERVICE_ONLY_RULES:
        assert commands_validator.is_valid(record), (
            f"the schema now expresses {path.stem}: move it out of SERVICE_ONLY_RULES"
        )
    else:
        assert not commands_validator.is_valid(record)


def test_service_only_rules_name_existing_examples() -> None:
    assert {path.stem for path in INVALID} >= SERVICE_ONLY_RULES
