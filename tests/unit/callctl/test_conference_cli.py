"""`callctl send` for callouts and conference commands (their keys), and `callctl conference`'s
output, without Kafka."""

from __future__ import annotations

import json

import pytest

from callctl import compose, main
from callctl import output as cli_format
from callctl.common import CliError
from tests.unit.callctl.test_cli import build, parse

CALLOUT = json.dumps(
    {
        "method": "ttsCallout",
        "ttsCallout": {
            "destination": {"type": "number", "endpoint": "+46700000010"},
            "text": "Hi",
            "locale": "en-US",
        },
    }
)


def test_a_callout_is_keyed_by_its_destination_unless_a_key_is_given() -> None:
    command = build("send", "callout", "--callout", CALLOUT)
    prepared = compose.validate(command, max_bytes=65_536)
    assert prepared.key == b"+46700000010"
    assert prepared.command.about_call() is None
    args = parse("send", "callout", "--callout", CALLOUT, "--key", "campaign-7")
    assert compose.prepare(args, max_bytes=65_536).key == b"campaign-7"


def test_a_key_is_refused_for_other_commands() -> None:
    args = parse("send", "--json", '{"type": "hangup", "callId": "C1"}', "--key", "other")
    with pytest.raises(CliError, match="--key: only for callout"):
        compose.prepare(args, max_bytes=65_536)


def test_the_key_flag_is_not_on_other_types_pages(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main.main(["send", "hangup", "--call-id", "C1", "--key", "other"])
    assert exited.value.code == 2
    assert "--key" in capsys.readouterr().err


def test_a_callout_with_a_call_id_is_refused_naming_the_field() -> None:
    args = parse("send", "callout", "--callout", CALLOUT, "--call-id", "C1")
    with pytest.raises(CliError, match="callId: unknown field"):
        compose.prepare(args, max_bytes=65_536)


def test_participant_commands_are_keyed_by_the_conference() -> None:
    command = build(
        "send", "holdParticipant", "--conference-id", "room-1", "--call-id", "C1", "--moh",
        "music2",
    )  # fmt: skip
    prepared = compose.validate(command, max_bytes=65_536)
    assert prepared.key == b"room-1"
    assert json.loads(prepared.value)["moh"] == "music2"
    assert prepared.command.about_call() == "C1"


def test_conference_command_needs_its_conference() -> None:
    args = parse("send", "muteParticipant", "--call-id", "C1")
    with pytest.raises(CliError, match="conferenceId: required"):
        compose.prepare(args, max_bytes=65_536)


def test_conference_help_names_the_topic(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main.main(["conference", "--help"])
    page = capsys.readouterr().out
    assert "CONFERENCEID" in page and "conferences topic" in page


def test_a_conference_shows_its_participants() -> None:
    shown = cli_format.describe_conference(
        {
            "conferenceId": "room-1",
            "observedAt": "2026-11-26T23:41:07.301Z",
            "commandId": "c-1",
            "participants": [
                {"cli": "+4670", "id": "leg-1", "duration": 5, "muted": True, "onhold": False}
            ],
        }
    )
    assert "room-1" in shown
    [row] = [line.split() for line in shown.splitlines() if line.startswith("leg-1")]
    assert row == ["leg-1", "+4670", "5", "s", "true", "false"]
    empty = cli_format.describe_conference({"conferenceId": "room-1", "participants": []})
    assert empty.endswith("no participants")
