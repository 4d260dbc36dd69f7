"""Building a command from `callctl send`'s flags, and validating it with the service's own
decoder, so that what the service would reject is never produced. Pure: no Kafka, no I/O."""

from __future__ import annotations

import argparse
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from callctl.common import EXIT_USAGE, CliError
from service.domain.commands import COMMAND_TYPES, CONFERENCE_TYPES, Callout, Command
from service.domain.decode import Rejection, decode_command
from service.domain.wire import format_timestamp


@dataclass(frozen=True, slots=True)
class Prepared:
    """A validated command and the exact record that will be produced."""

    command: Command
    key: bytes | None
    value: bytes


def new_command_id() -> str:
    return f"cli-{uuid.uuid4().hex}"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_field_value(raw: str) -> Any:
    """`--field` values: JSON when they parse (numbers, booleans, arrays, objects, null,
    quoted strings), else the text as a string."""
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except ValueError:
        return raw


def json_object(raw: str, flag: str) -> dict[str, Any]:
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except ValueError as error:
        detail = str(error).split(":")[0]
        raise CliError(f"{flag}: not valid JSON ({detail})", EXIT_USAGE) from None
    if not isinstance(value, dict):
        raise CliError(f"{flag}: must be a JSON object", EXIT_USAGE)
    return value


def split_ids(raw: str) -> list[str]:
    """`--ids`: comma separated, except inside `[...]` (so `#tts[Hello, world]` stays whole);
    a JSON array is taken as is."""
    if raw.lstrip().startswith("["):
        value = parse_field_value(raw)
        if isinstance(value, list):
            return value
    ids: list[str] = []
    depth, current = 0, list[str]()
    for char in raw:
        if char == "," and depth == 0:
            ids.append("".join(current).strip())
            current = []
            continue
        depth += {"[": 1, "]": -1}.get(char, 0)
        depth = max(depth, 0)
        current.append(char)
    ids.append("".join(current).strip())
    return [item for item in ids if item]


def _set_field(target: dict[str, Any], assignment: str) -> None:
    name, sep, raw = assignment.partition("=")
    if not sep or not name:
        raise CliError(f"--field {assignment!r}: expected name=value", EXIT_USAGE)
    *parents, leaf = name.split(".")
    for part in parents:
        child = target.setdefault(part, {})
        if not isinstance(child, dict):
            raise CliError(f"--field {name}: {part} is not an object", EXIT_USAGE)
        target = child
    target[leaf] = parse_field_value(raw)


# flag attribute → command field, for the type-specific convenience flags
CONVENIENCE_FIELDS = {
    "text": "text",
    "locale": "locale",
    "leg": "leg",
    "then": "then",
    "value": "value",
    "max_duration": "maxDuration",
    "intro_prompt": "introPrompt",
    "hold_prompt": "holdPrompt",
    "moh": "moh",
}


def _flag(args: argparse.Namespace, name: str) -> Any:
    return getattr(args, name, None)  # a type's own page does not define the other types' flags


def build_command(args: argparse.Namespace, *, now: datetime | None = None) -> dict[str, Any]:
    """The command object the flags describe. Later sources win: `--json`, then the common
    flags, then the type-specific flags, then `--field`."""
    command: dict[str, Any] = {}
    if _flag(args, "json") is not None:
        command.update(json_object(args.json, "--json"))
    if _flag(args, "type") is not None:
        command["type"] = args.type
    if _flag(args, "call_id") is not None:
        command["callId"] = args.call_id
    if _flag(args, "conference_id") is not None:
        command["conferenceId"] = args.conference_id
    if _flag(args, "command_id") is not None:
        command["commandId"] = args.command_id
    command.setdefault("commandId", new_command_id())
    if _flag(args, "region") is not None:
        command["region"] = args.region
    if _flag(args, "expires_in") is not None:
        moment = (now or datetime.now(UTC)) + timedelta(seconds=args.expires_in)
        command["expiresAt"] = format_timestamp(moment)
    if _flag(args, "snapshot") is not None:
        command["snapshot"] = args.snapshot
    if _flag(args, "metadata") is not None:
        command["metadata"] = json_object(args.metadata, "--metadata")
    for attribute, field in CONVENIENCE_FIELDS.items():
        value = _flag(args, attribute)
        if value is not None:
            command[field] = value
    if _flag(args, "ids") is not None:
        command["ids"] = split_ids(args.ids)
    if _flag(args, "svaml") is not None:
        command["svaml"] = json_object(args.svaml, "--svaml")
    if _flag(args, "callout") is not None:
        command["callout"] = json_object(args.callout, "--callout")
    for assignment in _flag(args, "field") or []:
        _set_field(command, assignment)
    return command


def callout_destination(command: dict[str, Any]) -> str | None:
    """A callout's destination endpoint: the key the contract recommends for callouts."""
    body = command.get("callout")
    if not isinstance(body, dict):
        return None
    inner = body.get(body.get("method")) if isinstance(body.get("method"), str) else None
    destination = inner.get("destination") if isinstance(inner, dict) else None
    endpoint = destination.get("endpoint") if isinstance(destination, dict) else None
    return endpoint if isinstance(endpoint, str) and endpoint else None


def validate(command: dict[str, Any], *, max_bytes: int, key: str | None = None) -> Prepared:
    """The service's own reading of the record (`decode_command`), so that what it would reject
    is never produced. The error names the field and never echoes a value. The record key is
    the command's callId or conferenceId; a callout's is `key`, else its destination."""
    value = json.dumps(command, separators=(",", ":"), ensure_ascii=False).encode()
    named = command.get("callId") if command.get("type") not in CONFERENCE_TYPES else None
    named = named or command.get("conferenceId")
    if command.get("type") == "callout":
        named = key or callout_destination(command)
    record_key = named.encode() if isinstance(named, str) and named else None
    decoded = decode_command(record_key, value, max_bytes=max_bytes)
    if isinstance(decoded, Rejection):
        kind = command.get("type") if command.get("type") in COMMAND_TYPES else None
        what = f"invalid {kind} command" if kind else "invalid command"
        raise CliError(f"{what}: {decoded.message}", EXIT_USAGE)
    if key is not None and not isinstance(decoded, Callout):
        raise CliError("--key: only for callout (other commands are keyed by their id)", 2)
    expected = decoded.record_key()
    return Prepared(decoded, expected.encode() if expected else record_key, value)


def prepare(args: argparse.Namespace, *, max_bytes: int) -> Prepared:
    return validate(build_command(args), max_bytes=max_bytes, key=_flag(args, "key"))
