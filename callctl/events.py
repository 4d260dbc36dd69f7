"""`callctl events`: the call events the service published for Sinch's callbacks.

One line per event (time, type, call, what happened, the answer given); `-o json` prints each
event as it is on the topic. `-f` keeps reading new events until Ctrl-C; `--since` and
`--limit` bound the read as they do for `callctl results`.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from typing import Any, TextIO

from callctl import output
from callctl.arguments import duration_seconds, json_alias, positive_int
from callctl.common import EXIT_CODES, EXIT_NOT_OK, EXIT_OK, print_json, warn
from callctl.kafka_io import (
    Progress,
    Since,
    Start,
    json_value,
    open_reader,
    reading,
    records,
)

VARIABLE = "CALLCTL_TOPICS__EVENTS"

EVENT_HEADER = ("TIME", "EVENT", "CALL ID", "DETAIL", "ANSWER")
EVENT_WIDTHS = (24, 7, 34, 36, 12)
EPILOG = f"""\
Reads the events topic outside any consumer group (nothing committed): with --call-id only
the partition of that key (events are keyed by callId). It starts at the oldest retained event
(or --since) and, without --follow, stops at the end offsets seen at start.

examples:
  callctl events                         every event retained on the events topic
  callctl events --call-id CALLID -f     one call's events, then new ones as they come
  callctl events --since 10m --limit 20  the first 20 events of the last ten minutes
  callctl events -o json | jq .          the events as published (callback included)

{EXIT_CODES}"""


def register(sub: Any, common: list[argparse.ArgumentParser], formatter: Any) -> None:
    events = sub.add_parser(
        "events",
        help="read call events (Sinch callbacks) from the events topic",
        description="Show the events the service published for Sinch's callbacks (ICE, ACE,\n"
        "PIE, DiCE, Notify), optionally for one call, optionally followed.",
        epilog=EPILOG,
        formatter_class=formatter,
        parents=common,
    )
    events.add_argument("--call-id", metavar="ID", help="only this call's events")
    events.add_argument(
        "-f", "--follow", action="store_true", help="keep reading new events until Ctrl-C"
    )
    events.add_argument(
        "--since",
        type=duration_seconds,
        metavar="DURATION",
        help="start at events published in the last DURATION (30s, 10m, 2h, 1d)",
    )
    events.add_argument("--limit", type=positive_int, metavar="N", help="stop after N events")
    json_alias(events)


def detail(event: dict[str, Any]) -> str:
    """What the event says, in a few words."""
    kind = event.get("eventType")
    if kind == "ice":
        caller = (event.get("from") or {}).get("endpoint")
        called = (event.get("to") or {}).get("endpoint")
        region = event.get("region") or "global"
        return f"{output.text(caller)} -> {output.text(called)} ({region})"
    if kind == "pie":
        menu = event.get("menuResult") or {}
        return f"{output.text(menu.get('type'))} {output.text(menu.get('value'))}"
    if kind == "dice":
        return (
            f"{output.text(event.get('result'))} {output.text(event.get('reason'))} "
            f"{output.text(event.get('duration'))} s"
        )
    if kind == "notify":
        kind_text = output.text(event.get("notificationType"))
        return f"{kind_text} {output.text(event.get('recordingUrl'))}"
    return output.text((event.get("callback") or {}).get("event"))


def row(event: dict[str, Any]) -> tuple[str, ...]:
    answer = event.get("answer") or {}
    action = (answer.get("action") or {}).get("name") if isinstance(answer, dict) else None
    return (
        output.text(event.get("receivedAt")),
        output.text(event.get("eventType")),
        output.text(event.get("callId")),
        detail(event),
        output.text(action),
    )


async def cmd_events(args: argparse.Namespace, settings: Any, out: TextIO) -> int:
    """Events are keyed by callId: with --call-id only that key's partition is read."""
    as_json = args.output == "json"
    key = args.call_id.encode() if args.call_id else None
    shown = 0
    topic = settings.topics.events
    async with open_reader(settings.kafka, topic, VARIABLE, key=key) as (reader, tps):
        if not as_json:
            print(output.format_row(EVENT_HEADER, EVENT_WIDTHS), file=out, flush=True)
        progress = Progress(reading(tps, key))
        start: Start = "beginning"
        if args.since is not None:
            start = Since(int((time.time() - args.since) * 1000))
        stream = records(
            reader,
            tps,
            start,
            to_end=not args.follow,
            progress=None if args.follow else progress,
        )
        async with contextlib.aclosing(stream):
            async for record in stream:
                event = json_value(record)
                if event is None or (args.call_id and event.get("callId") != args.call_id):
                    continue
                progress.matches += 1
                if as_json:
                    print_json(event, out)
                else:
                    print(output.format_row(row(event), EVENT_WIDTHS), file=out, flush=True)
                shown += 1
                if args.limit is not None and shown >= args.limit:
                    break
    if not shown:
        where = f" for callId {args.call_id}" if args.call_id else ""
        warn(f"no events on {topic}{where}")
        return EXIT_NOT_OK
    return EXIT_OK
