"""`callctl call`: the latest snapshot of one call, from the compacted snapshots topic."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from callctl import output
from callctl.arguments import Formatter, json_alias
from callctl.common import EXIT_CODES, EXIT_NOT_OK, EXIT_OK, CliError, CliSettings, print_json
from callctl.kafka_io import Progress, json_value, open_reader, reading, records

VARIABLE = "CALLCTL_TOPICS__SNAPSHOTS"
CALL_EPILOG = f"""\
Reads the partition of CALLID on the compacted snapshots topic (snapshots are keyed by callId)
to its end, with no consumer group, showing its progress on stderr, and prints the latest
snapshot of the call: status, result, reason, from/to, duration, observedAt, commandId.
Snapshots are published after a successful command (unless snapshot is false) and for every
getCallInfo: `callctl send getCallInfo --call-id C1 --wait` refreshes it.

examples:
  callctl call 4398599d1ba84ef3bde0a82dfb61abed
  callctl call C1 -o json

{EXIT_CODES}"""


def add_parser(sub: Any, common: list[argparse.ArgumentParser]) -> None:
    call = sub.add_parser(
        "call",
        help="show the latest snapshot of a call",
        description="Show the latest snapshot of CALLID from the snapshots topic.",
        epilog=CALL_EPILOG,
        formatter_class=Formatter,
        parents=common,
    )
    call.add_argument("call_id", metavar="CALLID", help="the Sinch call id")
    json_alias(call)


async def latest_snapshot(
    settings: CliSettings, topic: str, variable: str, field: str, wanted_id: str
) -> dict[str, Any] | None:
    """The latest record of `wanted_id` on a compacted topic keyed by it (`field` in the
    value names it too), reading only its partition, to the end."""
    wanted = wanted_id.encode()
    latest: dict[str, Any] | None = None
    async with open_reader(settings.kafka, topic, variable, key=wanted) as (reader, tps):
        progress = Progress(reading(tps, wanted))
        async for record in records(reader, tps, "beginning", to_end=True, progress=progress):
            if record.key != wanted:
                continue
            if record.value is None:  # a tombstone: the snapshot was deleted
                latest = None
                continue
            snapshot = json_value(record)
            if snapshot is not None and snapshot.get(field) == wanted_id:
                latest = snapshot  # one partition: later offsets are newer
                progress.matches += 1
    return latest


async def run(args: argparse.Namespace, settings: CliSettings, out: TextIO) -> int:
    topic = settings.topics.snapshots
    latest = await latest_snapshot(settings, topic, VARIABLE, "callId", args.call_id)
    if latest is None:
        raise CliError(f"no snapshot for call {args.call_id} on {topic}", EXIT_NOT_OK)
    if args.output == "json":
        print_json(latest, out)
    else:
        print(output.describe_snapshot(latest), file=out)
    return EXIT_OK
