"""Reading a command record: size check, JSON, the command models, the record key.

Pure: takes the record's key and value bytes, returns a `Command` or a `Rejection` whose message
names what is wrong (the field and the rule), never echoing input values: a rejected value may
be a secret.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from service.domain import svaml
from service.domain.commands import COMMAND, COMMAND_ID_PATTERN, COMMAND_TYPES, Command
from service.domain.paths import CALL_ID_PATTERN
from service.domain.results import ErrorCode, ErrorInfo, Outcome, Result, Source

_COMMAND_ID = re.compile(COMMAND_ID_PATTERN)
_CALL_ID = re.compile(CALL_ID_PATTERN)
_SVAML_TAGS = frozenset(typ.model_fields["name"].default for typ in svaml.Svaml.__subclasses__())
MAX_REPORTED_ERRORS = 10
_NAMED_RULE = re.compile(r"^[A-Za-z][A-Za-z0-9_.\[\]]*: ")


@dataclass(frozen=True, slots=True)
class Rejection:
    """A record that is not a valid command; it becomes a dead letter and a `rejected` result."""

    code: ErrorCode
    message: str
    command_id: str | None = None
    call_id: str | None = None
    type: str | None = None

    def result(
        self,
        *,
        received_at: datetime,
        completed_at: datetime,
        duration_ms: float,
        source: Source,
        metadata: dict[str, Any] | None = None,
    ) -> Result:
        """The `rejected` result that answers this record: no request was made."""
        return Result(
            command_id=self.command_id,
            call_id=self.call_id,
            type=self.type,
            outcome=Outcome.REJECTED,
            error=ErrorInfo(code=self.code, message=self.message),
            received_at=received_at,
            completed_at=completed_at,
            duration_ms=duration_ms,
            source=source,
            metadata=metadata,
        )


def decode_command(
    key: bytes | None,
    value: bytes | None,
    *,
    max_bytes: int,
    tts_max_chars: int = svaml.DEFAULT_TTS_MAX_CHARS,
) -> Command | Rejection:
    size = len(value or b"")
    if size > max_bytes:
        return Rejection(
            ErrorCode.TOO_LARGE,
            f"record value is {size} bytes, the limit is {max_bytes}",
            call_id=_readable_call_id(key),
        )
    if not value:
        return Rejection(
            ErrorCode.NOT_JSON, "record value is empty", call_id=_readable_call_id(key)
        )
    try:
        # by_name=False: only the camelCase names of the contract; `command_id` is unknown
        command = COMMAND.validate_json(
            value, by_name=False, context={svaml.TTS_LIMIT: tts_max_chars}
        )
    except ValidationError as error:
        return _explain(key, value, error)
    if key is not None and key != command.call_id.encode():
        return Rejection(
            ErrorCode.KEY_MISMATCH,
            "callId differs from the record key: producers must key each command by its callId",
            command.command_id,
            command.call_id,
            command.type,
        )
    return command


def _readable_call_id(key: bytes | None) -> str | None:
    """The record key, when it is a well-formed call id: where the producer awaits results."""
    if key is None:
        return None
    try:
        text = key.decode()
    except UnicodeDecodeError:
        return None
    return text if _CALL_ID.fullmatch(text) else None


def _explain(key: bytes | None, value: bytes, error: ValidationError) -> Rejection:
    try:
        data: Any = json.loads(value)
    except (UnicodeDecodeError, ValueError) as parse_error:
        detail = str(parse_error).split(":")[0]
        return Rejection(
            ErrorCode.NOT_JSON,
            f"record value is not UTF-8 JSON ({detail})",
            call_id=_readable_call_id(key),
        )
    if not isinstance(data, dict):
        return Rejection(
            ErrorCode.INVALID_COMMAND,
            f"a command is a JSON object, got {_json_kind(data)}",
            call_id=_readable_call_id(key),
        )
    command_id = _matching(data.get("commandId"), _COMMAND_ID)
    call_id = _matching(data.get("callId"), _CALL_ID)
    kind = data.get("type") if data.get("type") in COMMAND_TYPES else None
    details = error.errors(include_input=False, include_url=False)
    lines = [_describe(d) for d in details[:MAX_REPORTED_ERRORS]]
    if len(details) > MAX_REPORTED_ERRORS:
        lines.append(f"and {len(details) - MAX_REPORTED_ERRORS} more")
    return Rejection(ErrorCode.INVALID_COMMAND, "; ".join(lines), command_id, call_id, kind)


def _matching(value: Any, pattern: re.Pattern[str]) -> str | None:
    return value if isinstance(value, str) and pattern.fullmatch(value) else None


def _json_kind(data: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(data), "a number")


def field_path(loc: tuple[int | str, ...]) -> str:
    """`('say', 'svaml', 'instructions', 0, 'say', 'text')` → `svaml.instructions[0].text`.

    Pydantic puts the tag of a discriminated union into the location; readers want the field.
    """
    parts: list[str] = []
    for index, item in enumerate(loc):
        if isinstance(item, int):
            parts.append(f"[{item}]")
            continue
        previous = loc[index - 1] if index else None
        is_tag = (index == 0 and item in COMMAND_TYPES) or (
            item in _SVAML_TAGS and (isinstance(previous, int) or previous == "action")
        )
        if not is_tag:
            parts.append(f".{item}" if parts else item)
    return "".join(parts)


def _describe(detail: ErrorDetails) -> str:
    kind = detail["type"]
    if kind == "union_tag_not_found":
        return f"type: required, one of {', '.join(COMMAND_TYPES)}"
    if kind == "union_tag_invalid":
        where = field_path(detail["loc"])
        tag = detail.get("ctx", {}).get("discriminator", "'type'").strip("'")
        expected = detail.get("ctx", {}).get("expected_tags", "")
        name = f"{where}.{tag}" if where else tag
        return f"{name}: not a known value (expected {expected})"
    message = detail["msg"].removeprefix("Value error, ")
    where = field_path(detail["loc"])
    if kind == "extra_forbidden":
        message = "unknown field"
    elif kind == "missing":
        message = "required"
    named = _NAMED_RULE.match(message)
    if named:  # a model-level rule of ours, already naming its field relative to the model
        if not where or message.startswith(where):
            return message
        return f"{where}.{message}"
    return f"{where}: {message}" if where else message
