"""`callctl call`: the latest snapshot of one call, from the compacted snapshots topic."""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from callctl import output
from callctl.arguments import Formatter
from callctl.common import EXIT_CODES, EXIT_NOT_OK, EXIT_OK, CliError, CliSettings
from callctl.kafka_io import json_value, open_reader, records

CALL_EPILOG = f"""\
Reads the compacted snapshots topic to its end (no consumer group) and shows the latest
snapshot of the call: status, result, reason, from/to, duration, observedAt, commandId.
Snapshots are published after a successful command (unless snapshot is false) and for every
getCallInfo: `callctl send getCallInfo --call-id C1 --wait` refreshes it.

examples:
  callctl call 4398599d1ba84ef3bde0a82dfb61abed
  callctl call C1 --json

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
    call.add_argument("--json", action="store_true", help="print the snapshot as JSON")


async def run(args: argparse.Namespace, settings: CliSettings, out: TextIO) -> int:
    topic = settings.topics.snapshots
    wanted = args.call_id.encode()
    latest: tuple[Any, dict[str, Any]] | None = None  # (record, snapshot)
    async with open_reader(settings.kafka, topic, "CALLCTL_TOPICS__SNAPSHOTS") as (reader, tps):
        async for record in records(reader, tps, "beginning", to_end=True):
            if record.key is not None and record.key != wanted:
                continue
            if record.value is None:  # a tombstone: the call's snapshot was deleted
                latest = None
                continue
            snapshot = json_value(record)
            if snapshot is None or snapshot.get("callId") != args.call_id:
                continue
            if latest is None or _newer(record, latest[0]):
                latest = (record, snapshot)
    if latest is None:
        raise CliError(f"no snapshot for call {args.call_id} on {topic}", EXIT_NOT_OK)
    if args.json:
        print(json.dumps(latest[1], ensure_ascii=False), file=out)
    else:
        print(output.describe_snapshot(latest[1]), file=out)
    return EXIT_OK


def _newer(record: Any, than: Any) -> bool:
    """Later in the same partition, or (a call's snapshots in two partitions) by timestamp."""
    if record.partition == than.partition:
        return bool(record.offset > than.offset)
    return bool(record.timestamp >= than.timestamp)
