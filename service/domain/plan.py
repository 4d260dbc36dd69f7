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
from service.domain.paths import call_path
from service.domain.redaction import redact_svaml


@dataclass(frozen=True, slots=True)
class CallRequest:
    method: Literal["GET", "PATCH"]
    path: str
    body: bytes
    region: str | None
    harmless: bool
    # From the command's callResourceUrl: the host Sinch named for this call.
    host: str | None = None
    # Its action hangs the call up: "call not found" after a maybe-sent attempt means it worked.
    ends_call: bool = False

    def echo(self) -> dict[str, Any]:
        """`method`, `path` and the SVAML `body` for the result, with secrets as `***`."""
        body = redact_svaml(json.loads(self.body)) if self.body else None
        return {"method": self.method, "path": self.path, "body": body}


def is_harmless(command: Command) -> bool:
    """Repeating it changes nothing the caller would notice."""
    match command:
        case c.Hangup() | c.StopRecording() | c.GetCallInfo():
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


def svaml_body(command: Command) -> svaml.SvamlBody | None:
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
    raise AssertionError(f"unhandled command type {command.type}")  # pragma: no cover


def plan(command: Command) -> CallRequest:
    """The request a command becomes: E1, E2 or E3 of the contract."""
    harmless = is_harmless(command)
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


def read_call(command: Command) -> CallRequest:
    """The GET that follows a successful command, for its snapshot."""
    return CallRequest(
        "GET",
        call_path(command.call_id),
        b"",
        command.region,
        harmless=True,
        host=command.resource_host(),
    )
