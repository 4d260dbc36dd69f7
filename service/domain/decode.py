"""Reading a command record: size check, JSON, the command models, the record key.

Pure and total: takes the record's key and value bytes, whatever they are, and returns a
`Command` or a `Rejection`, never an exception. The rejection's message names what is wrong (the
field and the rule), never echoing input values (a rejected value may be a secret); field names
and the ids echoed for correlation are escaped and cut (`service.domain.echo`).

Rules beyond the models, because parsers disagree on them:
- a key may appear once per object: with a duplicate, one reader may see the first value and
  another the last, so a validator upstream could pass a command other than the one executed;
- nesting is bounded by the JSON parser (jiter, 200 levels), never by Python's stack;
- timestamps must be expressible in UTC (`service.domain.wire`).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails, from_json

from service.domain import svaml
from service.domain.commands import COMMAND, COMMAND_TYPES, Command
from service.domain.echo import MAX_ECHOED_ID_CHARS, cut_utf8, escaped, printable
from service.domain.paths import CALL_ID_PATTERN
from service.domain.results import ErrorCode, ErrorInfo, Outcome, Result, Source

_CALL_ID = re.compile(CALL_ID_PATTERN)
_SVAML_TAGS = frozenset(typ.model_fields["name"].default for typ in svaml.Svaml.__subclasses__())
MAX_REPORTED_ERRORS = 10
_NAMED_RULE = re.compile(r"^[A-Za-z][A-Za-z0-9_.\[\]]*: ")
# Bounds of what a rejection echoes: a field name in a message, an id as sent, the message
# (it also travels as a dead-letter header value, hence bytes).
MAX_FIELD_NAME_CHARS = 64
MAX_MESSAGE_BYTES = 1024
MAX_PARSER_DETAIL_CHARS = 120


class Unreadable(bytes):
    """The value of a record that the Kafka client could not read at all (e.g. a header key
    that is not UTF-8 makes it raise): empty bytes carrying the reason. Made only by the
    consume loop, never from the wire, so no producer can forge it."""

    reason: str

    def __new__(cls, reason: str) -> Unreadable:
        made = super().__new__(cls, b"")
        made.reason = reason
        return made


@dataclass(frozen=True, slots=True)
class Rejection:
    """A record that is not a valid command; it becomes a dead letter and a `rejected` result."""

    code: ErrorCode
    message: str
    command_id: str | None = None
    call_id: str | None = None
    type: str | None = None

    def __post_init__(self) -> None:
        # Whoever built it, what leaves the service is one line and bounded.
        object.__setattr__(self, "message", cut_utf8(printable(self.message), MAX_MESSAGE_BYTES))
        for name in ("command_id", "call_id", "type"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, escaped(value, MAX_ECHOED_ID_CHARS))

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
    if isinstance(value, Unreadable):
        return Rejection(
            ErrorCode.INVALID_COMMAND,
            f"the Kafka client could not read this record ({value.reason}); its key and value "
            "are not available to the service: find it by source.partition and source.offset",
        )
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
        return _decode(key, value, tts_max_chars)
    except Exception as error:  # a bug of ours or a library's: still an answer, not a crash
        return Rejection(
            ErrorCode.INVALID_COMMAND,
            f"the record could not be read ({type(error).__name__})",
            call_id=_readable_call_id(key),
        )


def _decode(key: bytes | None, value: bytes, tts_max_chars: int) -> Command | Rejection:
    try:
        # by_name=False: only the camelCase names of the contract; `command_id` is unknown
        command = COMMAND.validate_json(
            value, by_name=False, context={svaml.TTS_LIMIT: tts_max_chars}
        )
    except ValidationError as error:
        return _explain(key, value, error)
    broken = _json_rule_broken(value)
    if broken is not None:
        return Rejection(
            ErrorCode.INVALID_COMMAND,
            broken,
            command.command_id,
            command.about_call(),
            command.type,
        )
    expected = command.record_key()
    if key is not None and expected is not None and key != expected.encode():
        field = "conferenceId" if command.about_conference() is not None else "callId"
        return Rejection(
            ErrorCode.KEY_MISMATCH,
            f"{field} differs from the record key: producers must key each command by its {field}",
            command.command_id,
            command.about_call(),
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


class _Broken(Exception):
    """A rule of the JSON itself that the models cannot see: its message is the rejection's."""


def _unique_pairs(pairs: list[tuple[str, Any]]) -> None:
    if len(dict(pairs)) == len(pairs):
        return
    seen: set[str] = set()
    for name, _ in pairs:
        if name in seen:
            where = escaped(name, MAX_FIELD_NAME_CHARS)
            raise _Broken(f"{where}: a key may appear only once in an object")
        seen.add(name)


def _finite(text: str) -> int:
    if math.isinf(float(text)):
        # jiter reads it as infinity, which JSON cannot write back: the echo would differ
        raise _Broken("a number is out of range (beyond ±1.7e308)")
    return 0


def _json_rule_broken(value: bytes) -> str | None:
    """Duplicate keys and out-of-range numbers. Runs only on values jiter has accepted (valid
    UTF-8, at most 200 levels deep); integers are never converted (no digit limit)."""
    try:
        json.loads(value, object_pairs_hook=_unique_pairs, parse_int=len, parse_float=_finite)
    except _Broken as broken:
        return str(broken)
    except (ValueError, RecursionError):  # stricter than jiter somewhere: jiter's verdict stands
        return None
    return None


def _explain(key: bytes | None, value: bytes, error: ValidationError) -> Rejection:
    try:
        # The same parser as the models' (jiter): bounded nesting, no lone surrogates.
        data: Any = from_json(value, allow_inf_nan=False)
    except ValueError as parse_error:
        detail = escaped(str(parse_error), MAX_PARSER_DETAIL_CHARS)
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
    # Echoed as sent when they are strings, so the sender can correlate the rejection.
    command_id = _string(data.get("commandId"))
    call_id = _string(data.get("callId")) or _readable_call_id(key)
    kind = data.get("type") if data.get("type") in COMMAND_TYPES else None
    details = error.errors(include_input=False, include_url=False)
    lines = [_describe(d) for d in details[:MAX_REPORTED_ERRORS]]
    if len(details) > MAX_REPORTED_ERRORS:
        lines.append(f"and {len(details) - MAX_REPORTED_ERRORS} more")
    return Rejection(ErrorCode.INVALID_COMMAND, "; ".join(lines), command_id, call_id, kind)


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


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
            name = escaped(item, MAX_FIELD_NAME_CHARS)  # an unknown field's name is input
            parts.append(f".{name}" if parts else name)
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
