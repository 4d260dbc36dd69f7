"""`callctl send`'s arguments: one help page for all types (`send --help`, and `send --json`
without a type), and one page per type listing only that type's flags (`send say --help`).

Which flags a type takes is read from the command models, so a new field or type cannot be
forgotten here; the descriptions and examples are ours.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any

from callctl.arguments import Formatter, positive_seconds
from callctl.common import EXIT_CODES, RETRY_RULE
from service.domain.commands import COMMAND_TYPES, Command, Region
from service.domain.svaml import Leg

DEFAULT_WAIT_S = 30.0

# type → the command model's wire field names
TYPE_FIELDS: dict[str, set[str]] = {
    typing.get_args(model.model_fields["type"].annotation)[0]: {
        info.alias or name for name, info in model.model_fields.items()
    }
    for model in typing.get_args(typing.get_args(Command)[0])
}


PROMPTS = ";-separated #tts[...], #ssml[...], #href[url], URLs or prompt names"


@dataclasses.dataclass(frozen=True)
class TypedFlag:
    """A convenience flag for one command field, offered to the types that have the field."""

    flag: str
    field: str
    help: str
    options: dict[str, Any] = dataclasses.field(default_factory=dict)


TYPED_FLAGS = (
    TypedFlag("--text", "text", "the text (1-600 characters)"),
    TypedFlag("--locale", "locale", "e.g. en-US (needed for text-to-speech)"),
    TypedFlag("--leg", "leg", "the leg it applies to", {"choices": typing.get_args(Leg)}),
    TypedFlag("--then", "then", "the action after", {"choices": ["continue", "hangup"]}),
    TypedFlag(
        "--ids",
        "ids",
        "files and prompts, comma separated (commas inside [...] are kept), or a JSON array",
        {"metavar": "ID,ID,..."},
    ),
    TypedFlag("--value", "value", "the tones: 0-9, # and w", {"metavar": "DTMF"}),
    TypedFlag("--max-duration", "maxDuration", "1-600 s", {"type": int, "metavar": "SECONDS"}),
    TypedFlag("--intro-prompt", "introPrompt", PROMPTS, {"metavar": "PROMPT"}),
    TypedFlag("--hold-prompt", "holdPrompt", PROMPTS, {"metavar": "PROMPT"}),
    TypedFlag(
        "--conference-id",
        "conferenceId",
        "the conference (also the record key)",
        {"metavar": "ID", "dest": "conference_id"},
    ),
    TypedFlag(
        "--moh", "moh", "music while on hold", {"choices": ["ring", "music1", "music2", "music3"]}
    ),
    TypedFlag(
        "--callout",
        "callout",
        'Sinch\'s callout body: {"method": "ttsCallout", "ttsCallout": {...}}',
        {"metavar": "JSON"},
    ),
    TypedFlag(
        "--svaml",
        "svaml",
        '{"instructions": [...], "action": {...}}',
        {"metavar": "JSON"},
    ),
)

# type → (what it does, an example)
TYPE_HELP: dict[str, tuple[str, str]] = {
    "hangup": ("hang up the call", "callctl send hangup --call-id C1 --wait"),
    "say": (
        "speak a text on the call",
        "callctl send say --call-id C1 --text 'Your call is being transferred' --locale en-US "
        "--leg caller",
    ),
    "playFiles": (
        "play audio files and prompts",
        "callctl send playFiles --call-id C1 --ids 'https://example.com/a.wav,#tts[Hello, "
        "world]' --locale en-US --then hangup",
    ),
    "sendDtmf": ("send DTMF tones", "callctl send sendDtmf --call-id C1 --value '1234#'"),
    "park": (
        "park the call, with prompts while it waits",
        "callctl send park --call-id C1 --max-duration 600 --intro-prompt '#tts[Please hold]' "
        "--locale en-US",
    ),
    "unpark": (
        "take a parked call back, with the action it continues with",
        "callctl send unpark --call-id C1 "
        """--field 'action={"name": "connectPstn", "number": "+46700000000"}'""",
    ),
    "startRecording": (
        "start recording the call (set options with --field)",
        "callctl send startRecording --call-id C1 --field options.destinationUrl=s3://bucket/rec "
        "--field options.credentials=KEY:SECRET --dry-run",
    ),
    "stopRecording": ("stop recording the call", "callctl send stopRecording --call-id C1"),
    "svaml": (
        "send SVAML instructions and an action as they are",
        """callctl send svaml --call-id C1 --svaml '{"action": {"name": "hangup"}}'""",
    ),
    "getCallInfo": (
        "read the call's state (and publish its snapshot)",
        "callctl send getCallInfo --call-id C1 --wait -o json",
    ),
    "callout": (
        "place a new call (Sinch's callout body under callout; the result carries its callId)",
        """callctl send callout --callout '{"method": "ttsCallout", "ttsCallout": """
        """{"destination": {"type": "number", "endpoint": "+46700000010"}, "text": "Hello", """
        """"locale": "en-US"}}' --wait""",
    ),
    "getConferenceInfo": (
        "read a conference's participants (and publish its snapshot)",
        "callctl send getConferenceInfo --conference-id room-1 --wait",
    ),
    "kickAllParticipants": (
        "remove every participant from a conference",
        "callctl send kickAllParticipants --conference-id room-1 --wait",
    ),
    "muteParticipant": (
        "mute a conference participant",
        "callctl send muteParticipant --conference-id room-1 --call-id C1 --wait",
    ),
    "unmuteParticipant": (
        "unmute a conference participant",
        "callctl send unmuteParticipant --conference-id room-1 --call-id C1 --wait",
    ),
    "holdParticipant": (
        "put a conference participant on hold, optionally with music",
        "callctl send holdParticipant --conference-id room-1 --call-id C1 --moh music1 --wait",
    ),
    "resumeParticipant": (
        "take a conference participant off hold",
        "callctl send resumeParticipant --conference-id room-1 --call-id C1 --wait",
    ),
    "kickParticipant": (
        "remove one participant from a conference (its call ends)",
        "callctl send kickParticipant --conference-id room-1 --call-id C1 --wait",
    ),
}

SEND_RULES = f"""\
The command is validated with the service's own rules before anything is produced: an invalid
command is reported naming the field, and exits 2. Fields are set, later winning, from --json,
then the common flags, then the type-specific flags, then --field. --field values are JSON
when they parse (42, true, [..], {{..}}, "quoted"), else strings; a dotted name sets a nested
field (options.destinationUrl=...). The record is keyed by callId (idempotent producer);
conference commands by conferenceId (the participant is --call-id); a callout by --key, else
its destination's endpoint (callouts with one key run in order).

{RETRY_RULE}

-o json prints one JSON object: commandId, callId, type, topic, partition, offset, and with
--wait the result (null when none came in time).

unpark needs the action the call should continue with, as Sinch wants it for an incoming-call
answer (connectPstn, connectSip, connectConf, connectMxp, runMenu, hangup), and may carry
instructions. getCallInfo: Sinch documents call information only for calls from an in-app
client to PSTN or SIP; for other calls it may answer 404 (call_not_found) while the call goes on.
Sinch's rules and their sources: docs/sinch-fidelity.md."""


def _send_epilog(examples: list[str]) -> str:
    lines = "\n".join(f"  {example}" for example in examples)
    return f"{SEND_RULES}\n\nexamples:\n{lines}\n\n{EXIT_CODES}"


def _types_with(field_name: str) -> list[str]:
    return [kind for kind in COMMAND_TYPES if field_name in TYPE_FIELDS.get(kind, set())]


def _add_fields(
    parser: argparse.ArgumentParser, kind: str | None, common: list[argparse.ArgumentParser]
) -> None:
    """The flags of `kind` (None: of every type). On a type's page every default is SUPPRESS,
    so that it never overwrites what the `send` level already parsed."""
    unset: dict[str, Any] = {"default": argparse.SUPPRESS} if kind else {}
    base = parser.add_argument_group("command")
    base.add_argument(
        "--call-id",
        metavar="ID",
        help="the Sinch call id (the record key; a conference participant's call)",
        **unset,
    )
    if kind in (None, "callout"):
        base.add_argument(
            "--key",
            metavar="KEY",
            help="callout: the record key (default: the destination's endpoint)",
            **unset,
        )
    base.add_argument(
        "--command-id",
        metavar="ID",
        help="the idempotency key (default: cli-<random hex>); to retry, use a NEW one",
        **unset,
    )
    base.add_argument(
        "--region", choices=typing.get_args(Region), help="regional API host", **unset
    )
    base.add_argument(
        "--expires-in",
        type=positive_seconds,
        metavar="SECONDS",
        help="sets expiresAt to now + SECONDS: not executed when processing starts later",
        **unset,
    )
    base.add_argument(
        "--snapshot",
        action=argparse.BooleanOptionalAction,
        help="publish a snapshot after success (default: the service's setting, on)",
        **(unset or {"default": None}),
    )
    base.add_argument(
        "--metadata", metavar="JSON", help="an object copied into the result", **unset
    )
    base.add_argument(
        "--field",
        action="append",
        metavar="NAME=VALUE",
        help="set any field (repeatable); VALUE is JSON when it parses, else a string",
        **unset,
    )
    base.add_argument(
        "--json",
        metavar="OBJECT",
        help="a whole command object; the flags override it",
        **unset,
    )
    flags = [f for f in TYPED_FLAGS if kind is None or f.field in TYPE_FIELDS.get(kind, set())]
    if flags:
        typed = parser.add_argument_group(f"{kind} fields" if kind else "type-specific fields")
        for flag in flags:
            text = flag.help if kind else f"{', '.join(_types_with(flag.field))}: {flag.help}"
            typed.add_argument(flag.flag, help=text, **flag.options, **unset)
    behaviour = parser.add_argument_group("behaviour")
    behaviour.add_argument(
        "--wait",
        nargs="?",
        const=DEFAULT_WAIT_S,
        type=positive_seconds,
        metavar="SECONDS",
        help=f"wait for the result (default {DEFAULT_WAIT_S:g} s) and print it: exit 0 when "
        "succeeded, 1 when failed/expired/rejected, 3 on timeout",
        **unset,
    )
    behaviour.add_argument(
        "--dry-run",
        action="store_true",
        help="validate and print the command (credentials redacted) without producing it",
        **unset,
    )


def add_parser(sub: Any, common: list[argparse.ArgumentParser]) -> None:
    examples = [example for _, example in TYPE_HELP.values()]
    examples.append("""callctl send --json '{"type": "getCallInfo", "callId": "C1"}' --wait 10""")
    send = sub.add_parser(
        "send",
        help="validate a command and produce it to the commands topic",
        description="Build a command of TYPE from the flags, validate it, produce it keyed by "
        "its\ncallId, and print its commandId, partition and offset; with --wait, wait for its "
        "result.\n`callctl send TYPE --help` lists only that type's flags.",
        epilog=_send_epilog(examples),
        formatter_class=Formatter,
        parents=common,
    )
    _add_fields(send, None, common)
    types = send.add_subparsers(
        dest="type",
        metavar="TYPE",
        title="types",
        description=f"one of: {', '.join(COMMAND_TYPES)} (may come from --json instead)",
    )
    for kind in COMMAND_TYPES:
        summary, example = TYPE_HELP.get(kind, (f"a {kind} command", ""))
        page = types.add_parser(
            kind,
            help=summary,
            description=f"Send a {kind} command: {summary}.",
            epilog=_send_epilog([example] if example else []),
            formatter_class=Formatter,
            parents=common,
        )
        _add_fields(page, kind, common)
        page.set_defaults(parser=page)  # "unrecognized arguments" names this type's page
