"""Commands: what other services send on the commands topic (contract-v1.md, "Commands").

Strict models, one per `type`, discriminated on `type`; unknown fields are errors. Recording
credentials are a secret: every echo of a command goes through `redacted()`.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, Self, get_args

from pydantic import Field, StringConstraints, TypeAdapter, field_validator, model_validator

from service.domain import svaml
from service.domain.paths import CALL_ID_PATTERN
from service.domain.svaml import Leg, Locale
from service.domain.wire import Timestamp, WireModel

COMMAND_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
MAX_METADATA_BYTES = 4096
REDACTED = "***"

CommandId = Annotated[str, StringConstraints(pattern=COMMAND_ID_PATTERN)]
CallId = Annotated[str, StringConstraints(pattern=CALL_ID_PATTERN)]
Region = Literal["use1", "euc1", "sae1", "apse1", "apse2"]
Then = Literal["continue", "hangup"]


class BaseCommand(WireModel):
    command_id: CommandId
    call_id: CallId
    issued_at: Timestamp | None = None
    expires_at: Timestamp | None = None
    region: Region | None = None
    snapshot: bool | None = None
    metadata: dict[str, Any] | None = None

    @field_validator("metadata")
    @classmethod
    def _metadata_size(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
            if size > MAX_METADATA_BYTES:
                raise ValueError(f"at most {MAX_METADATA_BYTES} bytes serialized (got {size})")
        return value

    def redacted(self) -> dict[str, Any]:
        """The command as JSON-ready data with secrets replaced by `***`."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Hangup(BaseCommand):
    type: Literal["hangup"]


class Say(BaseCommand):
    type: Literal["say"]
    text: Annotated[str, StringConstraints(min_length=1, max_length=600)]
    locale: Locale
    leg: Leg | None = None
    then: Then = "continue"


class PlayFiles(BaseCommand):
    type: Literal["playFiles"]
    ids: Annotated[list[str], Field(min_length=1, max_length=64)]
    locale: Locale | None = None
    leg: Leg | None = None
    then: Then = "continue"

    @field_validator("ids")
    @classmethod
    def _ids(cls, ids: list[str]) -> list[str]:
        for item in ids:
            svaml.check_prompt_id(item)
        return ids

    @model_validator(mode="after")
    def _locale_for_tts(self) -> Self:
        if self.locale is None and svaml.needs_locale(self.ids):
            raise ValueError("locale: required when an id is #tts[...] or #ssml[...]")
        return self


class SendDtmf(BaseCommand):
    type: Literal["sendDtmf"]
    value: svaml.Dtmf


class Park(BaseCommand):
    type: Literal["park"]
    intro_prompt: str | None = None
    hold_prompt: str | None = None
    locale: Locale | None = None
    max_duration: svaml.Duration | None = None

    @field_validator("intro_prompt", "hold_prompt")
    @classmethod
    def _prompt(cls, value: str | None) -> str | None:
        return svaml.check_tts_prompt(value)


class Unpark(BaseCommand):
    type: Literal["unpark"]


class StartRecording(BaseCommand):
    type: Literal["startRecording"]
    options: svaml.RecordingOptions

    def redacted(self) -> dict[str, Any]:
        data = super().redacted()
        data["options"]["credentials"] = REDACTED
        return data


class StopRecording(BaseCommand):
    type: Literal["stopRecording"]


class RawSvaml(BaseCommand):
    type: Literal["svaml"]
    svaml: svaml.SvamlBody
    leg: Leg | None = None

    @model_validator(mode="after")
    def _allowed_on_endpoint(self) -> Self:
        problems = svaml.endpoint_violations(self.svaml, leg=self.leg is not None)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def redacted(self) -> dict[str, Any]:
        data = super().redacted()
        for instruction in data["svaml"].get("instructions", []):
            if instruction.get("name") == "startRecording":
                instruction["options"]["credentials"] = REDACTED
        return data


class GetCallInfo(BaseCommand):
    type: Literal["getCallInfo"]


Command = Annotated[
    Hangup
    | Say
    | PlayFiles
    | SendDtmf
    | Park
    | Unpark
    | StartRecording
    | StopRecording
    | RawSvaml
    | GetCallInfo,
    Field(discriminator="type"),
]
COMMAND = TypeAdapter[Command](Command)
# Derived from the models, so a new type cannot be forgotten here.
COMMAND_TYPES: tuple[str, ...] = tuple(
    get_args(model.model_fields["type"].annotation)[0] for model in get_args(get_args(Command)[0])
)
