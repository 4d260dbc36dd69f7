"""The message contract as files: one JSON Schema per topic, and the app's AsyncAPI document.

    uv run python -m service.schema_export            write schemas/*.json from the models
    uv run python -m service.schema_export --check    exit 1, naming each file that drifted

Everything is generated from the code, never edited by hand:

- `call-control.commands.v1.schema.json`: the `Command` union as producers write it (camelCase
  aliases, validation mode), discriminated on `type`, unknown fields forbidden;
- `call-control.results.v1.schema.json`, `call-control.snapshots.v1.schema.json` and
  `call-control.conferences.v1.schema.json`: `Result`, `Snapshot` and `ConferenceSnapshot` as
  the service serializes them (every field is always written, `null` included, so
  every field is required);
- `asyncapi.json`: the AsyncAPI 3.0 document of `create_app(settings)`, completed with these
  schemas, message names, keys, headers, correlation and the reply relation by
  `service.asyncapi_export` (its docstring says what and why).

Field docstrings are the properties' descriptions (`use_attribute_docstrings`); each is written
as one line per paragraph (`tidy_descriptions`).

Three things the models know and pydantic does not write into a schema are added here (see
`ContractSchema`): module-qualified definition names become readable ones (`SayCommand` for the
command, `Say` for the SVAML instruction); timezone-aware input timestamps get an RFC 3339
`pattern` with a zone (a `format` alone is only an annotation in draft 2020-12), so a timestamp
without a zone fails the schema as it fails the model; and the timestamps the service writes
(`format_timestamp`) are described as what they are, `date-time` strings in UTC with `Z`.

Rules written as validators (prompt id schemes, `locale` required with `#tts[`, the 4 KiB metadata
limit, which SVAML parts each endpoint takes) are not expressible from the models' types; the
schema documents them in its description and the service enforces them.

Output is deterministic: sorted keys, 2-space indent, UTF-8, one trailing newline.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import CoreModeRef, DefsRef, GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from service.domain.commands import COMMAND, Command
from service.domain.events import CallEvent
from service.domain.results import ConferenceSnapshot, Result, Snapshot
from service.domain.wire import format_timestamp
from service.settings import TopicSettings

DIALECT = "https://json-schema.org/draft/2020-12/schema"
ID_PREFIX = "urn:call-control:schema:"
REPO_ROOT = Path(__file__).resolve().parent.parent
SCHEMA_DIR = "schemas"
ASYNCAPI_FILE = "asyncapi.json"
REGENERATE = "uv run python -m service.schema_export"

# RFC 3339 date-time (section 5.6, with the space its note allows), a zone required.
RFC3339_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)

# What the service writes (`service.domain.wire.format_timestamp`): UTC, milliseconds, `Z`.
WIRE_TIMESTAMP_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$"

TOPICS = TopicSettings()

COMMANDS_DESCRIPTION = (
    "A command on the commands topic (key: the callId, UTF-8; conference commands: the "
    "conferenceId; a callout: any key, the destination recommended). One object per record, "
    "camelCase, discriminated on `type`; unknown fields are rejected. Enforced by the service "
    "beyond this schema: `ids` items are an http(s) URL, #tts[...], #ssml[...] or #href[...]; "
    "`locale` is required when an id is #tts[...] or #ssml[...]; park prompts are #tts[...] or "
    "#ssml[...]; `metadata` is at most 4096 bytes serialized; a raw `svaml` command takes, "
    "with `leg`, only say/playFiles instructions and a continue/hangup action, and without "
    "`leg` any instruction but answer and a hangup/continue/park action; the record key, when "
    "set, equals `callId` (conference commands: `conferenceId`); a custom callout's inline "
    "SVAML is checked as SVAML; the record is at most the configured size (default 64 KiB). "
    "A command "
    "breaking a rule gets a `rejected` result with error code `invalid_command`."
)
RESULTS_DESCRIPTION = (
    "One result per command record on the results topic (key: the command's record key: its "
    "callId, conferenceId, or a callout's key). Every field is "
    "always present, `null` included. `outcome` is `rejected` when no request was made "
    "because the command broke the contract, `failed` when a request was made and did not "
    "succeed; `duplicate` is true when the result replays an earlier execution of the same "
    "commandId. `request.body` has recording credentials replaced by `***`. A callout's "
    "`callId` is the call it placed."
)
CONFERENCES_DESCRIPTION = (
    "The latest participants of a conference as Sinch reports them, on the compacted "
    "conferences topic (key: the conferenceId). Published after a successful conference "
    "command and for every getConferenceInfo; empty once Sinch no longer knows the conference."
)
SNAPSHOTS_DESCRIPTION = (
    "The latest state of a call as Sinch reports it, normalized, on the compacted snapshots "
    "topic (key: the callId). Published after a successful command (unless switched off) and "
    "for every getCallInfo. Unknown values are kept as text; fields Sinch left out are null."
)


EVENTS_DESCRIPTION = (
    "One event per Sinch callback on the events topic (key: the callId). `eventType` is ice, "
    "ace, pie, dice, notify, or unknown for a callback type this version does not know; "
    "`timestamp` is Sinch's, `receivedAt` the service's; `region` and `callResourceUrl` come "
    "from ICE; the normalised fields are null where Sinch left them out; `answer` is the SVAML "
    "the service answered with (null for DiCE and Notify); `callback` is the callback as "
    "received. A callback delivered twice is published once (`eventId` identifies it)."
)


# --- JSON Schema generation -------------------------------------------------------------


def _command_classes() -> tuple[type[BaseModel], ...]:
    union = typing.get_args(Command)[0]
    return tuple(typing.get_args(union))


_COMMAND_DEF_NAMES = {
    f"{cls.__module__}.{cls.__qualname__}": f"{cls.__name__}Command" for cls in _command_classes()
}
_CORE_REF = re.compile(r"^(?P<path>[\w.]+):(?P<id>\d+)$")


class ContractSchema(GenerateJsonSchema):
    """Pydantic's generator, with the contract's readable names and RFC 3339 timestamps."""

    def get_defs_ref(self, core_mode_ref: CoreModeRef) -> DefsRef:
        core_ref, mode = core_mode_ref
        match = _CORE_REF.match(core_ref)
        if match and match["path"] in _COMMAND_DEF_NAMES:
            module = match["path"].rsplit(".", 1)[0]
            renamed = f"{module}.{_COMMAND_DEF_NAMES[match['path']]}:{match['id']}"
            return super().get_defs_ref((typing.cast(Any, renamed), mode))
        return super().get_defs_ref(core_mode_ref)

    def datetime_schema(self, schema: core_schema.DatetimeSchema) -> JsonSchemaValue:
        value = super().datetime_schema(schema)
        if schema.get("tz_constraint") == "aware":
            value["pattern"] = RFC3339_PATTERN
        return value

    def ser_schema(
        self,
        schema: core_schema.SerSchema
        | core_schema.IncExSeqSerSchema
        | core_schema.IncExDictSerSchema,
    ) -> JsonSchemaValue | None:
        if schema.get("type") == "function-plain" and schema.get("function") is format_timestamp:
            return {"type": "string", "format": "date-time", "pattern": WIRE_TIMESTAMP_PATTERN}
        return super().ser_schema(schema)

    def field_is_required(
        self,
        field: core_schema.ModelField | core_schema.DataclassField | core_schema.TypedDictField,
        total: bool,
    ) -> bool:
        # Published models are dumped whole (`to_bytes` excludes nothing): every field is there.
        if self.mode == "serialization":
            return True
        return super().field_is_required(field, total)


_PARAGRAPH = re.compile(r"\n\s*\n")


def tidy_descriptions(value: Any) -> Any:
    """Descriptions come from docstrings wrapped at 100 columns: one line per paragraph."""
    if isinstance(value, dict):
        return {
            key: (
                "\n\n".join(" ".join(part.split()) for part in _PARAGRAPH.split(item))
                if key == "description" and isinstance(item, str)
                else tidy_descriptions(item)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [tidy_descriptions(item) for item in value]
    return value


def _document(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "$schema": DIALECT,
        "$id": f"{ID_PREFIX}{name}",
        **tidy_descriptions(schema),
        "title": name,
        "description": description,
    }


def commands_schema() -> dict[str, Any]:
    """The commands topic's schema: what producers may write."""
    schema = COMMAND.json_schema(by_alias=True, mode="validation", schema_generator=ContractSchema)
    return _document(TOPICS.commands, COMMANDS_DESCRIPTION, schema)


def results_schema() -> dict[str, Any]:
    """The results topic's schema: what the service writes."""
    schema = Result.model_json_schema(
        by_alias=True, mode="serialization", schema_generator=ContractSchema
    )
    return _document(TOPICS.results, RESULTS_DESCRIPTION, schema)


def snapshots_schema() -> dict[str, Any]:
    """The snapshots topic's schema: what the service writes."""
    schema = Snapshot.model_json_schema(
        by_alias=True, mode="serialization", schema_generator=ContractSchema
    )
    return _document(TOPICS.snapshots, SNAPSHOTS_DESCRIPTION, schema)


def events_schema() -> dict[str, Any]:
    """The events topic's schema: what the callback endpoint writes."""
    schema = CallEvent.model_json_schema(
        by_alias=True, mode="serialization", schema_generator=ContractSchema
    )
    return _document(TOPICS.events, EVENTS_DESCRIPTION, schema)


def conferences_schema() -> dict[str, Any]:
    """The conferences topic's schema: what the service writes."""
    schema = ConferenceSnapshot.model_json_schema(
        by_alias=True, mode="serialization", schema_generator=ContractSchema
    )
    return _document(TOPICS.conferences, CONFERENCES_DESCRIPTION, schema)


# --- files -------------------------------------------------------------------------------


def render(document: Any) -> str:
    """The one text form of a generated file."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def asyncapi_document() -> dict[str, Any]:
    """`service.asyncapi_export`'s document (imported late: it builds on this module)."""
    from service.asyncapi_export import asyncapi_document as document

    return document()


GENERATORS: dict[str, Callable[[], dict[str, Any]]] = {
    f"{SCHEMA_DIR}/{TOPICS.commands}.schema.json": commands_schema,
    f"{SCHEMA_DIR}/{TOPICS.results}.schema.json": results_schema,
    f"{SCHEMA_DIR}/{TOPICS.snapshots}.schema.json": snapshots_schema,
    f"{SCHEMA_DIR}/{TOPICS.events}.schema.json": events_schema,
    f"{SCHEMA_DIR}/{TOPICS.conferences}.schema.json": conferences_schema,
    f"{SCHEMA_DIR}/{ASYNCAPI_FILE}": asyncapi_document,
}


def artifacts() -> dict[str, str]:
    """Every generated file: path relative to the repository root, and its exact text."""
    return {path: render(generate()) for path, generate in GENERATORS.items()}


def write(root: Path = REPO_ROOT) -> list[str]:
    """Write every file under `root`; returns the paths whose content changed."""
    changed = []
    for path, text in artifacts().items():
        target = root / path
        if target.exists() and target.read_text(encoding="utf-8") == text:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        changed.append(path)
    return changed


def drift(root: Path = REPO_ROOT) -> list[str]:
    """The paths whose committed content differs from what the models produce (or is missing)."""
    stale = []
    for path, text in artifacts().items():
        target = root / path
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            stale.append(path)
    return stale


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m service.schema_export",
        description="Generate the JSON Schemas and the AsyncAPI document from the models.",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 and name each file that differs from the models",
    )
    parser.add_argument(
        "--root", type=Path, default=REPO_ROOT, help="repository root (default: this checkout)"
    )
    args = parser.parse_args(argv)
    if args.check:
        stale = drift(args.root)
        for path in stale:
            print(f"drift: {path} differs from the models", file=sys.stderr)
        if stale:
            print(f"regenerate with: {REGENERATE}", file=sys.stderr)
            return 1
        print(f"{len(GENERATORS)} files match the models")
        return 0
    changed = write(args.root)
    for path in changed:
        print(f"wrote {path}")
    print(f"{len(GENERATORS)} files generated, {len(changed)} changed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
