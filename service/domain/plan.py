"""From a valid command to the one Sinch request it becomes (docs/contract.md, "Commands").

Pure: no Kafka, no HTTP. The body is built from typed SVAML models and serialized once; the
same bytes are signed and sent. `harmless` marks the commands that may be repeated when an
earlier attempt may already have reached Sinch (docs/contract.md, "Guarantees").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from service.domain import commands as c
from service.domain import svaml
from service.domain.commands import Command
from service.domain.paths import CALLOUTS_PATH, call_path, conference_path
from service.domain.redaction import redact_custom_callout, redact_svaml

Resource = Literal["call", "conference", "callout"]
# Sinch's participant command per command (OAS ManageConferenceParticipantRequest).
PARTICIPANT_COMMANDS: dict[type[c.ParticipantCommand], str] = {
    c.MuteParticipant: "mute",
    c.UnmuteParticipant: "unmute",
    c.HoldParticipant: "onhold",
    c.ResumeParticipant: "resume",
}


@dataclass(frozen=True, slots=True)
class CallRequest:
    method: Literal["GET", "PATCH", "POST", "DELETE"]
    path: str
    body: bytes
    region: str | None
    harmless: bool
    # From the command's callResourceUrl: the host Sinch named for this call.
    host: str | None = None
    # It removes what it names (a hangup, a kick): "not found" after a maybe-sent attempt
    # means it worked.
    ends_call: bool = False
    # What the path names: Sinch's "not found" is about a call, or a conference or participant.
    resource: Resource = "call"

    @property
    def places_call(self) -> bool:
        """A callout: a second attempt that reached Sinch would place a second call."""
        return self.resource == "callout"

    def echo(self) -> dict[str, Any]:
        """`method`, `path` and the `body` for the result, with secrets as `***`."""
        body = json.loads(self.body) if self.body else None
        redact = redact_custom_callout if self.resource == "callout" else redact_svaml
        body = redact(body)
        return {"method": self.method, "path": self.path, "body": body}


def is_harmless(command: Command) -> bool:
    """Repeating it changes nothing the caller would notice."""
    match command:
        case c.Hangup() | c.StopRecording() | c.GetCallInfo():
            return True
        case c.Callout():
            return False  # a second callout places a second call
        case c.ConferenceCommand():
            # Mute, unmute, hold, resume, a read: repeating changes nothing; a repeated kick
            # meets "not found", which after a maybe-sent attempt means it worked.
            return True
        case c.Unpark(action=action, instructions=instructions):
            # Connecting twice would place a second leg; only a bare hangup is harmless.
            return not instructions and action.name == "hangup"
        case c.RawSvaml(svaml=body):
            return not body.instructions and (
                body.action is None or body.action.name in {"hangup", "continue"}
            )
        case _:
            return False


def _then(name: str) -> svaml.Hangup | svaml.Continue:
    return svaml.Hangup() if name == "hangup" else svaml.Continue()


def svaml_body(command: c.BaseCommand) -> svaml.SvamlBody | None:
    """The SVAML a PATCH command sends; None for the read-only `getCallInfo`.

    Parts made from the command's fields are built with `model_construct`: the command was
    validated already, with the deployment's TTS limit, which a second validation here (with
    the default) would contradict."""
    match command:
        case c.Hangup():
            return svaml.SvamlBody(action=svaml.Hangup())
        case c.Say(text=text, locale=locale, then=then):
            return svaml.SvamlBody(
                instructions=[svaml.Say.model_construct(text=text, locale=locale)],
                action=_then(then),
            )
        case c.PlayFiles(ids=ids, locale=locale, then=then):
            return svaml.SvamlBody(
                instructions=[svaml.PlayFiles.model_construct(ids=ids, locale=locale)],
                action=_then(then),
            )
        case c.SendDtmf(value=value):
            return svaml.SvamlBody(
                instructions=[svaml.SendDtmf(value=value)], action=svaml.Continue()
            )
        case c.Park():
            return svaml.SvamlBody(
                action=svaml.Park.model_construct(
                    locale=command.locale,
                    intro_prompt=command.intro_prompt,
                    hold_prompt=command.hold_prompt,
                    max_duration=command.max_duration,
                )
            )
        case c.Unpark(action=action, instructions=instructions):
            return svaml.SvamlBody(instructions=instructions, action=action)
        case c.StartRecording(options=options):
            return svaml.SvamlBody(
                instructions=[svaml.StartRecording(options=options)], action=svaml.Continue()
            )
        case c.StopRecording():
            return svaml.SvamlBody(instructions=[svaml.StopRecording()], action=svaml.Continue())
        case c.RawSvaml(svaml=body):
            return body
        case c.GetCallInfo():
            return None
    raise AssertionError(f"unhandled command {type(command).__name__}")  # pragma: no cover


def plan(command: Command) -> CallRequest:
    """The request a command becomes: E1-E3 on calls, the callout, or a conference request."""
    harmless = is_harmless(command)
    if isinstance(command, c.Callout):
        body_bytes = command.callout.to_bytes()
        return CallRequest(
            "POST", CALLOUTS_PATH, body_bytes, command.region, harmless, resource="callout"
        )
    if isinstance(command, c.ConferenceCommand):
        return _conference_request(command, harmless)
    body = svaml_body(command)
    host = command.resource_host()
    if body is None:
        return CallRequest("GET", call_path(command.call_id), b"", command.region, harmless, host)
    leg = getattr(command, "leg", None)
    return CallRequest(
        "PATCH",
        call_path(command.call_id, leg),
        body.to_bytes(),
        command.region,
        harmless,
        host,
        ends_call=body.action is not None and body.action.name == "hangup",
    )


def _conference_request(command: c.ConferenceCommand, harmless: bool) -> CallRequest:
    conference = command.conference_id
    match command:
        case c.GetConferenceInfo():
            method, path, body = "GET", conference_path(conference), b""
        case c.KickAllParticipants():
            method, path, body = "DELETE", conference_path(conference), b""
        case c.KickParticipant(call_id=call_id):
            method, path, body = "DELETE", conference_path(conference, call_id), b""
        case c.ParticipantCommand(call_id=call_id):
            wanted: dict[str, str] = {"command": PARTICIPANT_COMMANDS[type(command)]}
            if isinstance(command, c.HoldParticipant) and command.moh is not None:
                wanted["moh"] = command.moh
            body = json.dumps(wanted, separators=(",", ":")).encode()
            method, path = "PATCH", conference_path(conference, call_id)
        case _:  # pragma: no cover
            raise AssertionError(f"unhandled conference command {type(command).__name__}")
    return CallRequest(
        method,  # type: ignore[arg-type]
        path,
        body,
        command.region,
        harmless,
        ends_call=method == "DELETE",
        resource="conference",
    )


def read_call(command: Command, call_id: str | None = None) -> CallRequest:
    """The GET that follows a successful command, for its call snapshot (`call_id`: the call a
    callout placed)."""
    target = call_id or command.about_call()
    assert target is not None
    return CallRequest(
        "GET",
        call_path(target),
        b"",
        command.region,
        harmless=True,
        host=command.resource_host(),
    )


def read_conference(command: Command) -> CallRequest:
    """The GET that follows a successful conference command, for its conference snapshot."""
    conference = command.about_conference()
    assert conference is not None
    return CallRequest(
        "GET", conference_path(conference), b"", command.region, True, resource="conference"
    )
