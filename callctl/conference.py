"""`callctl conference`: the latest snapshot of one conference, from the conferences topic."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from callctl import output
from callctl.arguments import Formatter
from callctl.call import latest_snapshot
from callctl.common import EXIT_CODES, EXIT_NOT_OK, EXIT_OK, CliError, CliSettings, print_json

VARIABLE = "CALLCTL_TOPICS__CONFERENCES"
CONFERENCE_EPILOG = f"""\
Reads the partition of CONFERENCEID on the compacted conferences topic (conference snapshots
are keyed by conferenceId) to its end, with no consumer group, showing its progress on stderr,
and prints the latest participants: id (callId), cli, duration, muted, onhold. A snapshot is
published after every successful conference command and for every getConferenceInfo:
`callctl send getConferenceInfo --conference-id room-1 --wait` refreshes it.

examples:
  callctl conference room-1
  callctl conference room-1 -o json

{EXIT_CODES}"""


def add_parser(sub: Any, common: list[argparse.ArgumentParser]) -> None:
    conference = sub.add_parser(
        "conference",
        help="show the latest snapshot of a conference",
        description="Show the latest participants of CONFERENCEID from the conferences topic.",
        epilog=CONFERENCE_EPILOG,
        formatter_class=Formatter,
        parents=common,
    )
    conference.add_argument("conference_id", metavar="CONFERENCEID", help="the conference id")


async def run(args: argparse.Namespace, settings: CliSettings, out: TextIO) -> int:
    topic = settings.topics.conferences
    latest = await latest_snapshot(settings, topic, VARIABLE, "conferenceId", args.conference_id)
    if latest is None:
        raise CliError(f"no snapshot for conference {args.conference_id} on {topic}", EXIT_NOT_OK)
    if args.output == "json":
        print_json(latest, out)
    else:
        print(output.describe_conference(latest), file=out)
    return EXIT_OK
