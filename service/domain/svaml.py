"""SVAML, Sinch's call-control language: typed instructions and actions, and endpoint rules.

Pure: no Kafka, no HTTP. Models follow ../shared/reference/sinch-calling-api.md §2; bodies are
serialized once, camelCase, with absent fields left out (never `null`).

Which parts each endpoint takes (§2.4):
- E1 `PATCH /calls/id/{callId}`: actions hangup, continue, park; any instruction but answer.
- E3 `PATCH /calls/id/{callId}/leg/{leg}`: instructions say and playFiles; actions continue, hangup.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Self

from pydantic import Field, StringConstraints, TypeAdapter, field_validator, model_validator

from service.domain.wire import WireModel

MAX_DURATION_S = 14_400
# fullmatch, not match: `$` would let a trailing newline through. `#href[...]` holds a URL.
_PROMPT_ID = re.compile(r"#tts\[.+\]|#ssml\[.+\]|#href\[https?://\S+\]|https?://\S+", re.DOTALL)
_TTS_PROMPT = re.compile(r"#tts\[.+\]|#ssml\[.+\]", re.DOTALL)

Locale = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Dtmf = Annotated[str, StringConstraints(pattern=r"^[0-9#w]{1,64}$")]
Duration = Annotated[int, Field(ge=1, le=MAX_DURATION_S)]
Leg = Literal["caller", "callee", "both"]


def needs_locale(ids: list[str]) -> bool:
    return any(i.startswith(("#tts[", "#ssml[")) for i in ids)


def check_prompt_id(value: str) -> str:
    if not _PROMPT_ID.fullmatch(value):
        raise ValueError("must be an http(s) URL, #tts[...], #ssml[...] or #href[...]")
    return value


def check_tts_prompt(value: str | None) -> str | None:
    if value is not None and not _TTS_PROMPT.fullmatch(value):
        raise ValueError("must be #tts[...] or #ssml[...]")
    return value


class Svaml(WireModel):
    """Base of every instruction and action: a `name` tag plus its fields."""


# --- instructions ------------------------------------------------------------------------


class PlayFiles(Svaml):
    name: Literal["playFiles"] = "playFiles"
    ids: Annotated[list[str], Field(min_length=1, max_length=64)]
    locale: Locale | None = None

    @field_validator("ids")
    @classmethod
    def _ids(cls, ids: list[str]) -> list[str]:
        for item in ids:
            check_prompt_id(item)
        return ids

    @model_validator(mode="after")
    def _locale_for_tts(self) -> Self:
        if self.locale is None and needs_locale(self.ids):
            raise ValueError("locale: required when an id is #tts[...] or #ssml[...]")
        return self


class Say(Svaml):
    name: Literal["say"] = "say"
    text: Annotated[str, StringConstraints(min_length=1, max_length=600)]
    locale: Locale


class SendDtmf(Svaml):
    name: Literal["sendDtmf"] = "sendDtmf"
    value: Dtmf


class SetCookie(Svaml):
    name: Literal["setCookie"] = "setCookie"
    key: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    value: Annotated[str, StringConstraints(max_length=1024)]


class Answer(Svaml):
    name: Literal["answer"] = "answer"


class TranscriptionOptions(WireModel):
    enabled: bool | None = None
    locale: Locale | None = None


class RecordingOptions(WireModel):
    destination_url: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    # A secret: kept out of repr, and replaced by "***" wherever a command is echoed.
    credentials: Annotated[str, StringConstraints(min_length=1, max_length=4096)] = Field(
        repr=False
    )
    format: Annotated[str, StringConstraints(min_length=1, max_length=16)] | None = None
    notification_events: bool | None = None
    transcription_options: TranscriptionOptions | None = None


class StartRecording(Svaml):
    name: Literal["startRecording"] = "startRecording"
    options: RecordingOptions


class StopRecording(Svaml):
    name: Literal["stopRecording"] = "stopRecording"


Instruction = Annotated[
    PlayFiles | Say | SendDtmf | SetCookie | Answer | StartRecording | StopRecording,
    Field(discriminator="name"),
]

# --- actions -------------------------------------------------------------------------------


class Hangup(Svaml):
    name: Literal["hangup"] = "hangup"


class Continue(Svaml):
    name: Literal["continue"] = "continue"


class Amd(WireModel):
    enabled: bool | None = None
    async_: bool | None = Field(default=None, alias="async")


class ConnectPstn(Svaml):
    name: Literal["connectPstn"] = "connectPstn"
    number: Annotated[str, StringConstraints(pattern=r"^\+?[0-9]{1,20}$")] | None = None
    locale: Locale | None = None
    max_duration: Duration | None = None
    dial_timeout: Annotated[int, Field(ge=1, le=MAX_DURATION_S)] | None = None
    cli: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    suppress_callbacks: bool | None = None
    dtmf: Dtmf | None = None
    indications: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")] | None = None
    amd: Amd | None = None


class MxpDestination(WireModel):
    type: Literal["username", "Username"]
    endpoint: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class CallHeader(WireModel):
    key: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    value: Annotated[str, StringConstraints(max_length=1024)]


class ConnectMxp(Svaml):
    name: Literal["connectMxp"] = "connectMxp"
    destination: MxpDestination | None = None
    call_headers: list[CallHeader] | None = None


MusicOnHold = Literal["ring", "music1", "music2", "music3"]


class ConferenceDtmfOptions(WireModel):
    mode: Literal["ignore", "forward", "detect"]
    max_digits: Annotated[int, Field(ge=1, le=64)] | None = None
    timeout_mills: Annotated[int, Field(ge=0, le=600_000)] | None = None


class ConnectConf(Svaml):
    name: Literal["connectConf"] = "connectConf"
    conference_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    conference_dtmf_options: ConferenceDtmfOptions | None = None
    moh: MusicOnHold | None = None


class SipDestination(WireModel):
    type: Literal["sip", "Sip", "SIP"]
    endpoint: Annotated[str, StringConstraints(min_length=3, max_length=512)]


class ConnectSip(Svaml):
    name: Literal["connectSip"] = "connectSip"
    destination: SipDestination
    max_duration: Duration | None = None
    cli: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    transport: Annotated[str, StringConstraints(pattern=r"^(?i:udp|tcp|tls)$")] | None = None
    suppress_callbacks: bool | None = None
    call_headers: list[CallHeader] | None = None
    moh: MusicOnHold | None = None


class StreamDestination(WireModel):
    type: Literal["Websocket", "websocket"]
    endpoint: Annotated[str, StringConstraints(pattern=r"^wss?://\S+$")]


class StreamingOptions(WireModel):
    version: int | None = None
    sample_rate: Annotated[int, Field(ge=1)] | None = None


class ConnectStream(Svaml):
    name: Literal["connectStream"] = "connectStream"
    destination: StreamDestination
    streaming_options: StreamingOptions | None = None
    max_duration: Duration | None = None
    call_headers: list[CallHeader] | None = None


class MenuOption(WireModel):
    dtmf: Annotated[str, StringConstraints(pattern=r"^[0-9#*w]{1,16}$")]
    action: Annotated[str, StringConstraints(pattern=r"^(menu|return)\(.+\)$")]


class Menu(WireModel):
    id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    main_prompt: str | None = None
    repeat_prompt: str | None = None
    repeats: Annotated[int, Field(ge=0, le=100)] | None = None
    max_digits: Annotated[int, Field(ge=1, le=64)] | None = None
    timeout_mills: Annotated[int, Field(ge=0, le=600_000)] | None = None
    max_timeout_mills: Annotated[int, Field(ge=0, le=600_000)] | None = None
    options: list[MenuOption] | None = None


class RunMenu(Svaml):
    name: Literal["runMenu"] = "runMenu"
    barge: bool | None = None
    locale: Locale | None = None
    main_menu: str | None = None
    enable_voice: bool | None = None
    menus: list[Menu] | None = None

    @model_validator(mode="after")
    def _menus(self) -> Self:
        if self.menus is not None and [m.id for m in self.menus].count("main") != 1:
            raise ValueError("menus: exactly one menu must have id 'main'")
        if self.enable_voice and self.locale is None:
            raise ValueError("locale: required when enableVoice is true")
        return self


class Park(Svaml):
    name: Literal["park"] = "park"
    locale: Locale | None = None
    intro_prompt: str | None = None
    hold_prompt: str | None = None
    max_duration: Duration | None = None

    @field_validator("intro_prompt", "hold_prompt")
    @classmethod
    def _prompt(cls, value: str | None) -> str | None:
        return check_tts_prompt(value)


Action = Annotated[
    Hangup
    | Continue
    | ConnectPstn
    | ConnectMxp
    | ConnectConf
    | ConnectSip
    | ConnectStream
    | RunMenu
    | Park,
    Field(discriminator="name"),
]


class SvamlBody(WireModel):
    """`{instructions?, action?}`: what the PATCH endpoints take."""

    instructions: list[Instruction] | None = None
    action: Action | None = None

    def to_bytes(self) -> bytes:
        """Compact JSON, absent fields left out: these exact bytes are signed and sent."""
        return self.model_dump_json(by_alias=True, exclude_none=True).encode()


CALL_ACTIONS = frozenset({"hangup", "continue", "park"})
LEG_ACTIONS = frozenset({"hangup", "continue"})
LEG_INSTRUCTIONS = frozenset({"say", "playFiles"})
CALL_FORBIDDEN_INSTRUCTIONS = frozenset({"answer"})


def endpoint_violations(body: SvamlBody, *, leg: bool) -> list[str]:
    """Each reason the body is not allowed on its endpoint, naming the field (§2.4)."""
    problems = []
    endpoint = "the per-leg endpoint" if leg else "an in-progress call"
    for index, instruction in enumerate(body.instructions or []):
        name = instruction.name
        allowed = name in LEG_INSTRUCTIONS if leg else name not in CALL_FORBIDDEN_INSTRUCTIONS
        if not allowed:
            problems.append(
                f"svaml.instructions[{index}].name: '{name}' is not allowed on {endpoint}"
            )
    if body.action is not None:
        allowed_actions = LEG_ACTIONS if leg else CALL_ACTIONS
        if body.action.name not in allowed_actions:
            problems.append(
                f"svaml.action.name: '{body.action.name}' is not allowed on {endpoint} "
                f"(allowed: {', '.join(sorted(allowed_actions))})"
            )
    return problems


SVAML_BODY = TypeAdapter(SvamlBody)
