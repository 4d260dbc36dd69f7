"""Commands: what other services send on the commands topic (docs/contract.md, "Commands").

Strict models, one per `type`, discriminated on `type`; unknown fields are errors. The SVAML
parts are svaml.py's (Sinch's definition); the typed commands add project choices on top
(listed in docs/sinch-fidelity.md). Every echo of a command goes through `redacted()`.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal, Self, get_args

from pydantic import Field, StringConstraints, TypeAdapter, field_validator, model_validator

from service.domain import svaml
from service.domain.callouts import CalloutBody
from service.domain.paths import CALL_ID_PATTERN, CONFERENCE_ID_PATTERN, call_path
from service.domain.redaction import REDACTED as REDACTED  # re-exported for callers
from service.domain.redaction import redact_command
from service.domain.regions import SINCH_CALLING_HOST
from service.domain.regions import Region as Region  # re-exported for callers
from service.domain.svaml import Leg
from service.domain.wire import Timestamp, WireModel

COMMAND_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
MAX_METADATA_BYTES = 4096
# Project choices, stricter than Sinch (docs/sinch-fidelity.md, "Project limits").
MAX_PLAY_IDS = 64
Locale = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Dtmf = Annotated[str, StringConstraints(pattern=r"^[0-9#w]{1,64}$")]

CommandId = Annotated[str, StringConstraints(pattern=COMMAND_ID_PATTERN)]
CallId = Annotated[str, StringConstraints(pattern=CALL_ID_PATTERN)]
ConferenceId = Annotated[str, StringConstraints(pattern=CONFERENCE_ID_PATTERN)]
Then = Literal["continue", "hangup"]
_CALL_RESOURCE_URL = re.compile(rf"https://(?P<host>{SINCH_CALLING_HOST})(?P<path>/[^?#]*)")


class Envelope(WireModel):
    """What every command carries, whatever it acts on."""

    command_id: CommandId = Field(examples=["ivr-svc:booking-1234:hangup:1"])
    """The idempotency key: one id per intended action, e.g.
    `<your service>:<your entity>:<action>:<attempt>`. The same id again replays the stored
    result and makes no request; a new action, or a new try after a `retryable` failure, needs
    a new id."""
    issued_at: Timestamp | None = None
    """When the producer created the command (RFC 3339 with a zone); informational."""
    expires_at: Timestamp | None = Field(default=None, examples=["2026-11-26T23:41:37Z"])
    """Checked when the command's turn comes: at or after this instant no request is made and
    the outcome is `expired`; a retry is never scheduled past it."""
    region: Region | None = None
    """Sinch region: the request goes to `https://calling-{region}.api.sinch.com` (with
    Sinch's default host). Unset: the global host, or for a call the region remembered from its
    incoming-call callback."""
    snapshot: bool | None = None
    """After a successful command, read the call and publish a snapshot; unset: the
    service's default (`CALLCTL_SNAPSHOT_DEFAULT`, on)."""
    metadata: dict[str, Any] | None = Field(default=None, examples=[{"booking": "1234"}])
    """Any JSON object (at most 4096 bytes serialized), copied unchanged into the result: a
    place for the producer's own correlation data."""

    @field_validator("metadata")
    @classmethod
    def _metadata_size(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
            if size > MAX_METADATA_BYTES:
                raise ValueError(f"at most {MAX_METADATA_BYTES} bytes serialized (got {size})")
        return value

    def record_key(self) -> str | None:
        """The record key the command must carry, when it must carry one (None: any key)."""
        return None

    def about_call(self) -> str | None:
        """The call the command names: the call it steers, or the conference participant."""
        return None

    def about_conference(self) -> str | None:
        return None

    def target(self) -> str:
        """What it acts on, in words: `call X`, `conference Y`, `participant X of conference Y`
        or `a new call`."""
        call, conference = self.about_call(), self.about_conference()
        if conference is not None:
            return (
                f"participant {call} of conference {conference}"
                if call
                else (f"conference {conference}")
            )
        return f"call {call}" if call else "a new call"

    def resource_host(self) -> str | None:
        """The host Sinch named for the command's call, when it named one."""
        return None

    def redacted(self) -> dict[str, Any]:
        """The command as JSON-ready data with secrets replaced by `***`."""
        return redact_command(self.model_dump(mode="json", by_alias=True, exclude_none=True))


class BaseCommand(Envelope):
    """A command on one existing call: keyed, ordered and routed by its `callId`."""

    call_id: CallId = Field(examples=["4398599d1ba84ef3bde0a82dfb61abed"])
    """The Sinch call id; equal to the record key (the key keeps a call's commands in order)."""
    call_resource_url: Annotated[str, StringConstraints(max_length=512)] | None = None
    """The URL Sinch gave for this call in its incoming-call event
    (`https://calling[-<region>].api.sinch.com/calling/v1/calls/id/{callId}`): its host
    serves the call."""

    @model_validator(mode="after")
    def _call_resource_url(self) -> Self:
        url = self.call_resource_url
        if url is None:
            return self
        match = _CALL_RESOURCE_URL.fullmatch(url)
        if match is None:
            raise ValueError(
                "callResourceUrl: must be https://calling[-<region>].api.sinch.com/..."
            )
        if match["path"] != call_path(self.call_id):
            raise ValueError(f"callResourceUrl: path must be {call_path(self.call_id)}")
        return self

    def record_key(self) -> str | None:
        return self.call_id

    def about_call(self) -> str | None:
        return self.call_id

    def resource_host(self) -> str | None:
        """The host of `callResourceUrl`, e.g. `https://calling-euc1.api.sinch.com`."""
        if self.call_resource_url is None:
            return None
        match = _CALL_RESOURCE_URL.fullmatch(self.call_resource_url)
        return f"https://{match['host']}" if match else None


class Hangup(BaseCommand):
    """Hang the call up."""

    type: Literal["hangup"]
    """The command type."""


class Say(BaseCommand):
    """Speak a text into the call (text-to-speech)."""

    type: Literal["say"]
    """The command type."""
    text: svaml.TtsText = Field(examples=["Your table is booked."])
    """The text to speak (1 to 600 characters, or the deployment's `CALLCTL_TTS_MAX_CHARS`)."""
    locale: Locale = Field(examples=["en-US"])  # a project choice: Sinch's default never assumed
    """The voice's locale (required: Sinch's default is never assumed)."""
    leg: Leg | None = None
    """Only this leg hears it (the per-leg endpoint); unset: the whole call."""
    then: Then = "continue"
    """The action after speaking: `continue` (the call goes on) or `hangup`."""


class PlayFiles(BaseCommand):
    """Play prompts into the call."""

    type: Literal["playFiles"]
    """The command type."""
    ids: Annotated[list[svaml.Prompt], Field(min_length=1, max_length=MAX_PLAY_IDS)] = Field(
        examples=[["https://example.com/welcome.wav", "#tts[Please hold]"]]
    )
    """1 to 64 prompts, played in order: an http(s) URL, `#tts[text]`, `#ssml[...]`,
    `#href[url]` or the name of a pre-recorded prompt."""
    locale: Locale | None = Field(default=None, examples=["en-US"])
    """Locale of the `#tts[...]`/`#ssml[...]` prompts (required when there is one)."""
    leg: Leg | None = None
    """Only this leg hears them (the per-leg endpoint); unset: the whole call."""
    then: Then = "continue"
    """The action after playing: `continue` (the call goes on) or `hangup`."""

    @model_validator(mode="after")
    def _locale_for_tts(self) -> Self:
        if self.locale is None and svaml.needs_locale(self.ids):
            raise ValueError("locale: required when an id is #tts[...] or #ssml[...]")
        return self


class SendDtmf(BaseCommand):
    """Send DTMF tones into the call."""

    type: Literal["sendDtmf"]
    """The command type."""
    value: Dtmf = Field(examples=["1234#"])
    """The tones: 1 to 64 of `0-9`, `#` and `w` (a 500 ms pause)."""


class Park(BaseCommand):
    """Put the call on hold (park) until it is unparked or the time runs out."""

    type: Literal["park"]
    """The command type."""
    intro_prompt: svaml.Prompt | None = Field(default=None, examples=["#tts[Please hold]"])
    """Played once when parking: `#tts[...]` or `#ssml[...]`."""
    hold_prompt: svaml.Prompt | None = None
    """Played in a loop while parked: `#tts[...]` or `#ssml[...]`."""
    locale: Locale | None = None
    """Locale of the prompts."""
    max_duration: svaml.ParkDuration | None = None
    """Seconds the call stays parked at most (1 to 600)."""


class Unpark(BaseCommand):
    """Sinch: unparking is a PATCH with the SVAML one would have answered the ICE with."""

    type: Literal["unpark"]
    """The command type."""
    action: svaml.UnparkAction
    """What the call does next: the action one would have answered its incoming call with
    (connectPstn, connectSip, connectConf, connectMxp, runMenu or hangup)."""
    instructions: list[svaml.Instruction] | None = None
    """SVAML instructions carried out before the action (any but `answer`)."""

    @model_validator(mode="after")
    def _instructions(self) -> Self:
        problems = svaml.instruction_violations(self.instructions, leg=False, field="instructions")
        if problems:
            raise ValueError("; ".join(problems))
        svaml.check_cookies(self.instructions)
        return self


class StartRecording(BaseCommand):
    """Start recording the call."""

    type: Literal["startRecording"]
    """The command type."""
    options: svaml.RecordingOptions | None = None
    """Where and how to record; unset: Sinch's own storage and defaults."""


class StopRecording(BaseCommand):
    """Stop recording the call."""

    type: Literal["stopRecording"]
    """The command type."""


class RawSvaml(BaseCommand):
    """Any SVAML body Sinch takes for an in-progress call (or, with `leg`, for one leg)."""

    type: Literal["svaml"]
    """The command type."""
    svaml: svaml.SvamlBody
    """The SVAML body as Sinch defines it: `{instructions?, action?}`."""
    leg: Leg | None = None
    """Send it to this leg (the per-leg endpoint: say/playFiles, continue/hangup only)."""

    @model_validator(mode="after")
    def _allowed_on_endpoint(self) -> Self:
        problems = svaml.endpoint_violations(self.svaml, leg=self.leg is not None)
        if problems:
            raise ValueError("; ".join(problems))
        return self


class GetCallInfo(BaseCommand):
    """Read the call's state; the answer is published as a snapshot."""

    type: Literal["getCallInfo"]
    """The command type."""


class Callout(Envelope):
    """Places a new call (`POST /calling/v1/callouts`): there is no callId yet, and any record
    key orders it (the contract recommends the destination)."""

    type: Literal["callout"]
    """The command type."""
    callout: CalloutBody = Field(
        description="The request body as Sinch defines it: method and the object of that name."
    )


class ConferenceCommand(Envelope):
    """A command on one conference: keyed and ordered by its `conferenceId`."""

    conference_id: ConferenceId = Field(
        description="The conference (Sinch: the id the application chose); the record key."
    )

    def record_key(self) -> str | None:
        return self.conference_id

    def about_conference(self) -> str | None:
        return self.conference_id


class GetConferenceInfo(ConferenceCommand):
    type: Literal["getConferenceInfo"]
    """The command type."""


class KickAllParticipants(ConferenceCommand):
    type: Literal["kickAllParticipants"]
    """The command type."""


class ParticipantCommand(ConferenceCommand):
    call_id: CallId = Field(description="The participant: the callId of its call leg.")

    def about_call(self) -> str | None:
        return self.call_id


class MuteParticipant(ParticipantCommand):
    type: Literal["muteParticipant"]
    """The command type."""


class UnmuteParticipant(ParticipantCommand):
    type: Literal["unmuteParticipant"]
    """The command type."""


class HoldParticipant(ParticipantCommand):
    type: Literal["holdParticipant"]
    """The command type."""
    moh: svaml.MusicOnHold | None = Field(
        default=None, description="Music while on hold: ring, music1, music2 or music3."
    )


class ResumeParticipant(ParticipantCommand):
    type: Literal["resumeParticipant"]
    """The command type."""


class KickParticipant(ParticipantCommand):
    type: Literal["kickParticipant"]
    """The command type."""


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
    | GetCallInfo
    | Callout
    | GetConferenceInfo
    | KickAllParticipants
    | MuteParticipant
    | UnmuteParticipant
    | HoldParticipant
    | ResumeParticipant
    | KickParticipant,
    Field(discriminator="type"),
]
COMMAND = TypeAdapter[Command](Command)
# Derived from the models, so a new type cannot be forgotten here.
COMMAND_TYPES: tuple[str, ...] = tuple(
    get_args(model.model_fields["type"].annotation)[0] for model in get_args(get_args(Command)[0])
)
CALL_COMMANDS = (
    Hangup,
    Say,
    PlayFiles,
    SendDtmf,
    Park,
    Unpark,
    StartRecording,
    StopRecording,
    RawSvaml,
    GetCallInfo,
)
CONFERENCE_TYPES: tuple[str, ...] = (
    "getConferenceInfo",
    "kickAllParticipants",
    "muteParticipant",
    "unmuteParticipant",
    "holdParticipant",
    "resumeParticipant",
    "kickParticipant",
)
