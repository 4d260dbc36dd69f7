"""Sinch's callout request body (`POST /calling/v1/callouts`), field by field.

`method` names one of `ttsCallout`, `conferenceCallout`, `customCallout` and the object of that
name holds the call to place. Fields, enums and required marks are Sinch's (OAS, as generated
into the Java SDK's `callouts/request/internal/*CalloutInternalImpl.java`, and its fixtures
`CalloutRequest{Tts,Conference,Custom}Dto.json`); the few project choices on top are listed in
docs/sinch-fidelity.md, "Callouts".
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal, Self

from pydantic import Field, StringConstraints, ValidationInfo, field_validator, model_validator

from service.domain import svaml
from service.domain.wire import WireModel

CALLOUT_METHODS: tuple[str, ...] = ("ttsCallout", "conferenceCallout", "customCallout")
# Project caps (Sinch documents none): a display number, an opaque value, an inline SVAML or URL.
MAX_CLI_CHARS = 64
MAX_CUSTOM_CHARS = 1024
MAX_CONTROL_CHARS = 16_384
_URL = re.compile(r"https?://[^\s]+")

# Sinch's destination types (spec oneOf; NODE `destination.ts` in both spellings).
DestinationType = Literal["number", "Number", "username", "Username", "sip", "Sip", "did", "Did"]
# OAS `Domain`: "pstn" for a PSTN endpoint, "mxp" for data (app or web) clients; both cases.
CalloutDomain = Literal["pstn", "mxp", "PSTN", "MXP"]
Cli = Annotated[str, StringConstraints(min_length=1, max_length=MAX_CLI_CHARS)]
Custom = Annotated[str, StringConstraints(max_length=MAX_CUSTOM_CHARS)]
MaxDuration = Annotated[int, Field(ge=1, le=svaml.CONNECT_MAX_DURATION_S)]


class CalloutDestination(WireModel):
    """Who is called: `type` and `endpoint` are both required (OAS `DestinationPstnImpl`)."""

    type: DestinationType = Field(description="number, username, sip or did (either case).")
    endpoint: Annotated[str, StringConstraints(min_length=1, max_length=256)] = Field(
        description="The number (E.164), user name or SIP address called."
    )


# Fields several callouts share, declared in each model in the order of Sinch's fixtures (the
# body is sent in declaration order).
def _cli() -> Any:
    return Field(default=None, description="The number shown to the callee (E.164).")


def _dtmf() -> Any:
    return Field(default=None, description="DTMF played on answer: 0-9, # and w (500 ms).")


def _custom() -> Any:
    return Field(default=None, description="Opaque data Sinch passes back in callbacks.")


def _enable(event: str) -> Any:
    return Field(default=None, description=f"Send the {event} callback for this call.")


def _max_duration() -> Any:
    return Field(default=None, description="Longest the call may last, in seconds.")


def _domain() -> Any:
    return Field(default=None, description="pstn (a phone) or mxp (an app or web client).")


def _control(event: str) -> Any:
    return Field(default=None, description=f"The {event}: SVAML as a JSON string, or a URL.")


class TtsCallout(WireModel):
    """Calls a number and plays text-to-speech or prompts (OAS `TtsCalloutInternalImpl`)."""

    cli: Cli | None = _cli()
    destination: CalloutDestination = Field(description="Who is called (required).")
    dtmf: svaml.Dtmf | None = _dtmf()
    domain: CalloutDomain | None = _domain()
    custom: Custom | None = _custom()
    locale: svaml.Locale | None = Field(
        default=None, description="Voice and language of the text-to-speech, e.g. en-US."
    )
    text: svaml.TtsText | None = Field(
        default=None, description="The text spoken (at most the TTS limit, 600 by default)."
    )
    prompts: svaml.Prompt | None = Field(
        default=None,
        description="`;`-separated prompts: #tts[...], #ssml[...], #href[url], a URL or a name.",
    )
    enable_ace: bool | None = _enable("answered-call (ACE)")
    enable_dice: bool | None = _enable("disconnected-call (DiCE)")
    enable_pie: bool | None = _enable("menu-input (PIE)")

    @model_validator(mode="after")
    def _something_to_say(self) -> Self:
        if self.text is None and self.prompts is None:
            raise ValueError("text: required unless prompts is given")
        spoken = self.text is not None or svaml.needs_locale([self.prompts or ""])
        if spoken and self.locale is None:
            raise ValueError("locale: required with text, #tts[...] or #ssml[...]")
        return self


class ConferenceCallout(WireModel):
    """Calls a number and joins it to a conference (OAS `ConferenceCalloutInternalImpl`)."""

    cli: Cli | None = _cli()
    destination: CalloutDestination = Field(description="Who is called (required).")
    locale: svaml.Locale | None = Field(default=None, description="Voice of the greeting.")
    greeting: svaml.TtsText | None = Field(
        default=None, description="Text spoken to the participant on joining."
    )
    conference_id: Annotated[
        str, StringConstraints(min_length=1, max_length=svaml.CONFERENCE_ID_MAX_CHARS)
    ] = Field(description="The conference joined; created by the first participant (required).")
    conference_dtmf_options: svaml.ConferenceDtmfOptions | None = Field(
        default=None, description="How DTMF from the participant is handled."
    )
    dtmf: svaml.Dtmf | None = _dtmf()
    max_duration: MaxDuration | None = _max_duration()
    enable_ace: bool | None = _enable("answered-call (ACE)")
    enable_dice: bool | None = _enable("disconnected-call (DiCE)")
    enable_pie: bool | None = _enable("menu-input (PIE)")
    moh_class: svaml.MusicOnHold | None = Field(
        default=None, description="Music while alone in the conference: ring, music1-3."
    )
    custom: Custom | None = _custom()
    domain: CalloutDomain | None = _domain()


Control = Annotated[str, StringConstraints(max_length=MAX_CONTROL_CHARS)]


class CustomCallout(WireModel):
    """A call whose progress is given as inline SVAML or callback URLs per event
    (OAS `CustomCalloutInternalImpl`; the fixture sends `ice`/`ace` as SVAML in a string)."""

    cli: Cli | None = _cli()
    destination: CalloutDestination | None = Field(
        default=None, description="Who is called; left out when `ice` is inline SVAML."
    )
    dtmf: svaml.Dtmf | None = _dtmf()
    custom: Custom | None = _custom()
    max_duration: MaxDuration | None = _max_duration()
    ice: Control | None = _control("incoming-call answer")
    ace: Control | None = _control("answered-call answer")
    pie: Control | None = _control("menu-input answer")

    @field_validator("ice", "ace", "pie")
    @classmethod
    def _control(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            check_control(value, info)
        return value

    @model_validator(mode="after")
    def _someone_to_call(self) -> Self:
        # Sinch's text says inline ICE SVAML excludes cli and destination, its own fixture
        # sends all three: the lenient reading is taken, only "nobody to call" is refused.
        if self.destination is None and (self.ice is None or not is_inline_svaml(self.ice)):
            raise ValueError("destination: required unless ice is inline SVAML")
        return self


def is_inline_svaml(control: str) -> bool:
    return control.lstrip().startswith("{")


def check_control(value: str, info: ValidationInfo | None = None) -> None:
    """A custom callout's `ice`/`ace`/`pie`: an http(s) URL, or one SVAML object as JSON text."""
    if not is_inline_svaml(value):
        if not _URL.fullmatch(value):
            raise ValueError("must be an http(s) URL or SVAML as a JSON string")
        return
    try:
        data = json.loads(value)
    except (ValueError, RecursionError):
        raise ValueError("inline SVAML is not valid JSON") from None
    context = info.context if info is not None else None
    try:
        svaml.SvamlBody.model_validate(data, context=context)
    except ValueError as error:
        raise ValueError(f"inline SVAML is not valid SVAML ({_first_line(error)})") from None


def _first_line(error: ValueError) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return " ".join(lines[1:3]) if len(lines) > 1 else (lines[0] if lines else "invalid")


class CalloutBody(WireModel):
    """The callout request body as Sinch defines it: `method` and the object of that name."""

    method: Literal["ttsCallout", "conferenceCallout", "customCallout"] = Field(
        description="Which kind of callout; the object of this name must be given, no other."
    )
    tts_callout: TtsCallout | None = Field(default=None, description="For ttsCallout.")
    conference_callout: ConferenceCallout | None = Field(
        default=None, description="For conferenceCallout."
    )
    custom_callout: CustomCallout | None = Field(default=None, description="For customCallout.")

    @model_validator(mode="after")
    def _one_object(self) -> Self:
        given = {
            "ttsCallout": self.tts_callout,
            "conferenceCallout": self.conference_callout,
            "customCallout": self.custom_callout,
        }
        if given[self.method] is None:
            raise ValueError(f"{self.method}: required when method is {self.method}")
        others = [
            name for name, value in given.items() if value is not None and name != self.method
        ]
        if others:
            raise ValueError(f"{others[0]}: not allowed when method is {self.method}")
        return self

    def conference_id(self) -> str | None:
        """The conference a conferenceCallout joins."""
        return self.conference_callout.conference_id if self.conference_callout else None
