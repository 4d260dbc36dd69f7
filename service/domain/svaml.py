"""SVAML, Sinch's call-control language: typed instructions and actions, and endpoint rules.

Pure: no Kafka, no HTTP. Every rule here is listed with its source in docs/sinch-fidelity.md.
The models follow Sinch's OpenAPI definition (the models generated from it in Sinch's SDKs):
a field is required only where Sinch requires it, and a limit exists only where Sinch documents
one. The typed commands (commands.py) add their own, stricter project choices on top.

Bodies are serialized once, camelCase, with absent fields left out (never `null`).
One module, past 400 lines, on purpose: it is the whole SVAML vocabulary (seven instructions,
nine actions) with the endpoint rules that refer to all of it; split, each half would import
the other.

Which parts each endpoint takes:
- E1 `PATCH /calls/id/{callId}`: actions hangup, continue, park, and the incoming-call (ICE)
  actions that unpark a parked call; any instruction but answer.
- E3 `PATCH /calls/id/{callId}/leg/{leg}`: instructions say and playFiles; actions continue, hangup.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    Field,
    StringConstraints,
    ValidationInfo,
    model_validator,
)

from service.domain.wire import WireModel

# Sinch: "Default maximum length is 600 characters. To change this limit, please contact
# support" (say); the same default for text-to-speech in prompts. Raised per deployment by
# passing {TTS_LIMIT: n} as the validation context (CALLCTL_TTS_MAX_CHARS).
DEFAULT_TTS_MAX_CHARS = 600
TTS_LIMIT = "tts_max_chars"
CONNECT_MAX_DURATION_S = 14_400  # connectPstn, connectSip, connectStream
PARK_MAX_DURATION_S = 600
COOKIE_MAX_BYTES = 1024  # keys and values together, per body
CONFERENCE_ID_MAX_CHARS = 64

_URL = re.compile(r"https?://\S+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def tts_limit(info: ValidationInfo | None) -> int:
    context = info.context if info is not None else None
    if isinstance(context, Mapping):
        limit = context.get(TTS_LIMIT)
        if isinstance(limit, int) and limit > 0:
            return limit
    return DEFAULT_TTS_MAX_CHARS


def split_prompts(value: str) -> list[str]:
    """A prompt's `;`-separated parts; a `;` inside `#tts[...]` brackets does not split."""
    parts: list[str] = []
    depth = start = 0
    for index, char in enumerate(value):
        if char == "[":
            depth += 1
        elif char == "]" and depth:
            depth -= 1
        elif char == ";" and depth == 0:
            parts.append(value[start:index])
            start = index + 1
    parts.append(value[start:])
    return parts


def _bracketed(part: str, tag: str) -> str | None:
    """The text inside `#tag[...]`, or None when `part` is not in that form."""
    prefix = f"#{tag}["
    if part.startswith(prefix) and part.endswith("]"):
        return part[len(prefix) : -1]
    return None


def check_prompt_part(part: str, max_tts: int) -> None:
    """One prompt: `#tts[text]`, `#ssml[...]`, `#href[url]`, a URL or a pre-recorded name."""
    if not part:
        raise ValueError("a prompt must not be empty")
    if (text := _bracketed(part, "tts")) is not None:
        if not text:
            raise ValueError("#tts[...] must hold text")
        if len(text) > max_tts:
            raise ValueError(f"#tts[...] text: at most {max_tts} characters (got {len(text)})")
        return
    if (text := _bracketed(part, "ssml")) is not None:
        if not text:
            raise ValueError("#ssml[...] must hold SSML")
        return
    if (url := _bracketed(part, "href")) is not None:
        if not _URL.fullmatch(url):
            raise ValueError("#href[...] must hold an http(s) URL")
        return
    if part.startswith("#"):
        raise ValueError(
            "a prompt starting with # must be #tts[...], #ssml[...] or #href[url] "
            "(anything else is a URL or the name of a pre-recorded prompt)"
        )
    if _CONTROL.search(part):
        raise ValueError("a prompt must not contain control characters")


def check_prompt(value: str, info: ValidationInfo) -> str:
    """A prompt string: one or more `;`-separated prompts, each checked."""
    max_tts = tts_limit(info)
    for part in split_prompts(value):
        # Spaces around a `;` are layout; any other whitespace is part of the prompt.
        check_prompt_part(part.strip(" "), max_tts)
    return value


def check_tts_text(value: str, info: ValidationInfo) -> str:
    limit = tts_limit(info)
    if len(value) > limit:
        raise ValueError(f"at most {limit} characters (got {len(value)})")
    return value


def needs_locale(ids: list[str]) -> bool:
    parts = (part.strip(" ") for item in ids for part in split_prompts(item))
    return any(part.startswith(("#tts[", "#ssml[")) for part in parts)


Prompt = Annotated[str, AfterValidator(check_prompt)]
TtsText = Annotated[str, StringConstraints(min_length=1), AfterValidator(check_tts_text)]
Locale = Annotated[str, StringConstraints(min_length=1)]
# Sinch: digits, # and w (a 500 ms pause); no length is documented.
Dtmf = Annotated[str, StringConstraints(pattern=r"^[0-9#w]+$")]
ConnectDuration = Annotated[int, Field(ge=1, le=CONNECT_MAX_DURATION_S)]
ParkDuration = Annotated[int, Field(ge=1, le=PARK_MAX_DURATION_S)]
Count = Annotated[int, Field(ge=0)]
Leg = Literal["caller", "callee", "both"]


class Svaml(WireModel):
    """Base of every instruction and action: a `name` tag plus its fields."""


# --- instructions ------------------------------------------------------------------------


class PlayFiles(Svaml):
    name: Literal["playFiles"] = "playFiles"
    """The instruction's name."""
    ids: Annotated[list[Prompt], Field(min_length=1)]
    """Prompts played in order: an http(s) URL, `#tts[text]`, `#ssml[...]`, `#href[url]` or
    the name of a pre-recorded prompt."""
    locale: Locale | None = None
    """Locale of the `#tts[...]`/`#ssml[...]` prompts (required when there is one)."""

    @model_validator(mode="after")
    def _locale_for_tts(self) -> Self:
        if self.locale is None and needs_locale(self.ids):
            raise ValueError("locale: required when an id is #tts[...] or #ssml[...]")
        return self


class Say(Svaml):
    name: Literal["say"] = "say"
    """The instruction's name."""
    text: TtsText | None = None
    """The text to speak (at most 600 characters by default)."""
    locale: Locale | None = None
    """The voice's locale, e.g. `en-US`."""


class SendDtmf(Svaml):
    name: Literal["sendDtmf"] = "sendDtmf"
    """The instruction's name."""
    value: Dtmf | None = None
    """The tones: `0-9`, `#` and `w` (a 500 ms pause)."""


class SetCookie(Svaml):
    name: Literal["setCookie"] = "setCookie"
    """The instruction's name."""
    key: str | None = None
    """The cookie's name; Sinch sends cookies back in the call's later callbacks."""
    value: str | None = None
    """The cookie's value (keys and values together at most 1024 bytes per body)."""

    def size(self) -> int:
        return len((self.key or "").encode()) + len((self.value or "").encode())


class Answer(Svaml):
    name: Literal["answer"] = "answer"
    """The instruction's name."""


class TranscriptionOptions(WireModel):
    enabled: bool | None = None
    """Transcribe the recording."""
    locale: Locale | None = None
    """The spoken language's locale, e.g. `en-US`."""


class RecordingOptions(WireModel):
    """Sinch's OpenAPI requires none of these (recording to Sinch's own storage)."""

    destination_url: Annotated[str, StringConstraints(min_length=1)] | None = None
    """Where the recording is stored, e.g. `s3://bucket/path` or an Azure URL."""
    # A secret: kept out of repr, and replaced by "***" wherever a command is echoed.
    credentials: Annotated[str, StringConstraints(min_length=1)] | None = Field(
        default=None, repr=False
    )
    """Credentials for the destination (secret: replaced by `***` in results and logs)."""
    format: Annotated[str, StringConstraints(min_length=1)] | None = None
    """The recording's file format, e.g. `mp3` or `wav`."""
    notification_events: bool | None = None
    """Have Sinch send notification callbacks about the recording."""
    transcription_options: TranscriptionOptions | None = None
    """Transcription of the recording."""


class StartRecording(Svaml):
    name: Literal["startRecording"] = "startRecording"
    """The instruction's name."""
    options: RecordingOptions | None = None
    """Where and how to record."""


class StopRecording(Svaml):
    name: Literal["stopRecording"] = "stopRecording"
    """The instruction's name."""


Instruction = Annotated[
    PlayFiles | Say | SendDtmf | SetCookie | Answer | StartRecording | StopRecording,
    Field(discriminator="name"),
]

# --- actions -------------------------------------------------------------------------------


class Hangup(Svaml):
    name: Literal["hangup"] = "hangup"
    """The action's name."""


class Continue(Svaml):
    name: Literal["continue"] = "continue"
    """The action's name."""


class Amd(WireModel):
    """Answering machine detection."""

    enabled: bool | None = None
    """Detect whether a person or a machine answers."""
    async_: bool | None = Field(default=None, alias="async")
    """Connect at once and report the detection later in a callback."""


class ConnectPstn(Svaml):
    name: Literal["connectPstn"] = "connectPstn"
    """The action's name."""
    # E.164 with its plus (Sinch's 40005 is "number missing leading plus").
    number: Annotated[str, StringConstraints(pattern=r"^\+[0-9]{1,15}$")] | None = Field(
        default=None, examples=["+46700000099"]
    )
    """The number to call, E.164 with its leading `+`."""
    locale: Locale | None = None
    """Locale of the prompts Sinch plays on this connection."""
    max_duration: ConnectDuration | None = None
    """Seconds the connected call may last at most (1 to 14400)."""
    dial_timeout: Annotated[int, Field(ge=1)] | None = None
    """Seconds to let the number ring before giving up."""
    cli: Annotated[str, StringConstraints(min_length=1)] | None = None
    """The caller id shown to the called number (`private` hides it)."""
    suppress_callbacks: bool | None = None
    """Have Sinch send no ACE/DiCE callbacks for this connection."""
    dtmf: Dtmf | None = None
    """Tones sent once the called number answers: `0-9`, `#`, `w` (a 500 ms pause)."""
    # Sinch lists ringback countries, but its own SDK fixture sends other values: open.
    indications: Annotated[str, StringConstraints(min_length=1)] | None = None
    """The country whose ringback tone the caller hears, e.g. `se`, `us`."""
    amd: Amd | None = None
    """Answering machine detection."""


class Destination(WireModel):
    type: Annotated[str, StringConstraints(min_length=1)] | None = None
    """The endpoint's kind, e.g. `number`, `username`, `sip`, `websocket`."""
    endpoint: Annotated[str, StringConstraints(min_length=1)]
    """The endpoint: a number, a user name, a SIP URI or a websocket URL."""


class CallHeader(WireModel):
    key: str | None = None
    """The header's name."""
    value: str | None = None
    """The header's value."""


class ConnectMxp(Svaml):
    name: Literal["connectMxp"] = "connectMxp"
    """The action's name."""
    destination: Destination | None = None
    """The app user to connect to (`type` `username`)."""
    # Sinch's OpenAPI spells it `callheaders`, its newer SDKs and pages `callHeaders`: either
    # is taken and sent on as written.
    call_headers: list[CallHeader] | None = None
    """Headers passed to the app (give this or `callheaders`, not both)."""
    callheaders: list[CallHeader] | None = None
    """Sinch's OpenAPI spelling of `callHeaders`: either is taken, sent on as written."""

    @model_validator(mode="after")
    def _one_spelling(self) -> Self:
        if self.call_headers is not None and self.callheaders is not None:
            raise ValueError("callHeaders and callheaders: give one of them, not both")
        return self


MusicOnHold = Literal["ring", "music1", "music2", "music3"]


class ConferenceDtmfOptions(WireModel):
    mode: Literal["ignore", "forward", "detect"] | None = None
    """What happens to the participant's tones: `ignore`, `forward` to the others, or
    `detect` (reported in a PIE callback)."""
    max_digits: Count | None = None
    """Digits collected before they are reported (`detect`)."""
    timeout_mills: Count | None = None
    """Milliseconds of silence after which the digits are reported (`detect`)."""


class ConnectConf(Svaml):
    name: Literal["connectConf"] = "connectConf"
    """The action's name."""
    conference_id: Annotated[
        str, StringConstraints(min_length=1, max_length=CONFERENCE_ID_MAX_CHARS)
    ]
    """The conference to join (1 to 64 characters); created by the first participant."""
    conference_dtmf_options: ConferenceDtmfOptions | None = None
    """How the participant's DTMF tones are handled."""
    moh: MusicOnHold | None = None
    """Music on hold while the participant waits: `ring`, `music1`, `music2`, `music3`."""


class ConnectSip(Svaml):
    name: Literal["connectSip"] = "connectSip"
    """The action's name."""
    destination: Destination
    """The SIP endpoint to call (`type` `sip`, `endpoint` a SIP URI)."""
    max_duration: ConnectDuration | None = None
    """Seconds the connected call may last at most (1 to 14400)."""
    cli: Annotated[str, StringConstraints(min_length=1)] | None = None
    """The caller id presented to the SIP endpoint."""
    transport: Annotated[str, StringConstraints(pattern=r"^(?i:udp|tcp|tls)$")] | None = None
    """SIP transport: `udp`, `tcp` or `tls` (any case)."""
    suppress_callbacks: bool | None = None
    """Have Sinch send no ACE/DiCE callbacks for this connection."""
    call_headers: list[CallHeader] | None = None
    """SIP headers sent with the INVITE."""
    moh: MusicOnHold | None = None
    """Music on hold while the SIP side holds the call: `ring`, `music1`, `music2`,
    `music3`."""


class StreamingOptions(WireModel):
    version: int | None = None
    """Version of Sinch's streaming protocol."""
    sample_rate: Annotated[int, Field(ge=1)] | None = None
    """Sample rate of the streamed audio, in Hz."""


class ConnectStream(Svaml):
    name: Literal["connectStream"] = "connectStream"
    """The action's name."""
    destination: Destination
    """The websocket server that receives the call's audio (`type` `websocket`)."""
    streaming_options: StreamingOptions | None = None
    """How the audio is streamed."""
    max_duration: ConnectDuration | None = None
    """Seconds the stream may last at most (1 to 14400)."""
    call_headers: list[CallHeader] | None = None
    """Headers sent to the websocket server when it connects."""


MENU_ACTION = r"^(menu\s*\(\s*[^()\s][^()]*\)|return(\s*\([^()]*\))?)$"


class MenuOption(WireModel):
    # A string in Sinch's OpenAPI, a number in its own examples: both are taken.
    dtmf: Annotated[str, StringConstraints(pattern=r"^[0-9#*w]+$")] | Annotated[int, Field(ge=0)]
    """The key(s) that pick this option: a string of `0-9 # * w`, or a number."""
    action: Annotated[str, StringConstraints(pattern=MENU_ACTION)] = Field(examples=["return(1)"])
    """What the option does: `menu(<menu id>)` goes to that menu, `return` or `return(<value>)`
    ends the menu and reports the value in a PIE callback."""


class Menu(WireModel):
    id: Annotated[str, StringConstraints(min_length=1)]
    """The menu's id; the first menu run is `main` (or `mainMenu` of the runMenu)."""
    main_prompt: Prompt | None = None
    """Played when the menu starts: prompts as in playFiles, `;`-separated."""
    repeat_prompt: Prompt | None = None
    """Played when the caller gave no valid input, before the menu repeats."""
    repeats: Count | None = None
    """How many times the menu repeats without valid input."""
    max_digits: Count | None = None
    """Digits read before the input is taken."""
    timeout_mills: Count | None = None
    """Milliseconds to wait for input after the prompt."""
    max_timeout_mills: Count | None = None
    """Milliseconds the caller has to finish a multi-digit input."""
    options: list[MenuOption] | None = None
    """The choices the caller has."""


class RunMenu(Svaml):
    name: Literal["runMenu"] = "runMenu"
    """The action's name."""
    barge: bool | None = None
    """The caller may answer while a prompt is still playing."""
    locale: Locale | None = None
    """Locale of the prompts and of voice input (required with `enableVoice`)."""
    main_menu: str | None = None
    """Id of the menu to start with (default `main`)."""
    enable_voice: bool | None = None
    """Accept spoken input as well as DTMF."""
    menus: list[Menu] | None = None
    """The menus, each with its prompts and options."""

    @model_validator(mode="after")
    def _voice_locale(self) -> Self:
        if self.enable_voice and self.locale is None:
            raise ValueError("locale: required when enableVoice is true")
        return self


class Park(Svaml):
    name: Literal["park"] = "park"
    """The action's name."""
    locale: Locale | None = None
    """Locale of the prompts."""
    intro_prompt: Prompt | None = None
    """Played once when parking."""
    hold_prompt: Prompt | None = None
    """Played in a loop while parked."""
    max_duration: ParkDuration | None = None
    """Seconds the call stays parked at most (1 to 600)."""


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
# What a parked call may be unparked with: the answer one would have given its ICE.
UnparkAction = Annotated[
    ConnectPstn | ConnectSip | ConnectConf | ConnectMxp | RunMenu | Hangup,
    Field(discriminator="name"),
]


def check_cookies(instructions: list[Instruction] | None) -> None:
    total = sum(i.size() for i in instructions or () if isinstance(i, SetCookie))
    if total > COOKIE_MAX_BYTES:
        raise ValueError(
            f"setCookie: keys and values together at most {COOKIE_MAX_BYTES} bytes (got {total})"
        )


class SvamlBody(WireModel):
    """`{instructions?, action?}`: what the PATCH endpoints take.

    Sinch: instructions "must always accompany an action and will not work standalone".
    An empty body `{}` is taken (Sinch's OpenAPI makes both fields optional).
    """

    instructions: list[Instruction] | None = None
    """Instructions carried out in order before the action (e.g. say, playFiles)."""
    action: Action | None = None
    """What the call does next (required when there are instructions)."""

    @model_validator(mode="after")
    def _action_with_instructions(self) -> Self:
        if self.instructions and self.action is None:
            raise ValueError("action: required when instructions are sent")
        check_cookies(self.instructions)
        return self


UNPARK_ACTIONS = frozenset({"connectPstn", "connectSip", "connectConf", "connectMxp", "runMenu"})
CALL_ACTIONS = frozenset({"hangup", "continue", "park"}) | UNPARK_ACTIONS
LEG_ACTIONS = frozenset({"hangup", "continue"})
LEG_INSTRUCTIONS = frozenset({"say", "playFiles"})
CALL_FORBIDDEN_INSTRUCTIONS = frozenset({"answer"})


def instruction_violations(
    instructions: list[Instruction] | None, *, leg: bool, field: str
) -> list[str]:
    """Each instruction its endpoint does not take, naming the field."""
    endpoint = "the per-leg endpoint" if leg else "an in-progress call"
    problems = []
    for index, instruction in enumerate(instructions or ()):
        name = instruction.name
        allowed = name in LEG_INSTRUCTIONS if leg else name not in CALL_FORBIDDEN_INSTRUCTIONS
        if not allowed:
            problems.append(f"{field}[{index}].name: '{name}' is not allowed on {endpoint}")
    return problems


def endpoint_violations(body: SvamlBody, *, leg: bool) -> list[str]:
    """Each reason the body is not allowed on its endpoint, naming the field."""
    problems = instruction_violations(body.instructions, leg=leg, field="svaml.instructions")
    if body.action is not None:
        endpoint = "the per-leg endpoint" if leg else "an in-progress call"
        allowed_actions = LEG_ACTIONS if leg else CALL_ACTIONS
        if body.action.name not in allowed_actions:
            problems.append(
                f"svaml.action.name: '{body.action.name}' is not allowed on {endpoint} "
                f"(allowed: {', '.join(sorted(allowed_actions))})"
            )
    return problems
