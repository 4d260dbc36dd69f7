"""`callctl events`: the call events the service published for Sinch's callbacks.

One line per event (time, type, call, what happened, the answer given); `--json` prints each
event as it is on the topic. `-f` keeps reading new events until Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from typing import Any, TextIO

from callctl import format as cli_format

EVENT_HEADER = ("TIME", "EVENT", "CALL ID", "DETAIL", "ANSWER")
EVENT_WIDTHS = (24, 7, 34, 36, 12)
EPILOG = """\
examples:
  callctl events                         every event retained on the events topic
  callctl events --call-id CALLID -f     one call's events, then new ones as they come
  callctl events --json | jq .           the events as published (callback included)
"""


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
    events.add_argument("--json", action="store_true", help="print each event as one JSON line")


def detail(event: dict[str, Any]) -> str:
    """What the event says, in a few words."""
    kind = event.get("eventType")
    if kind == "ice":
        caller = (event.get("from") or {}).get("endpoint")
        called = (event.get("to") or {}).get("endpoint")
        region = event.get("region") or "global"
        return f"{cli_format.text(caller)} -> {cli_format.text(called)} ({region})"
    if kind == "pie":
        menu = event.get("menuResult") or {}
        return f"{cli_format.text(menu.get('type'))} {cli_format.text(menu.get('value'))}"
    if kind == "dice":
        return (
            f"{cli_format.text(event.get('result'))} {cli_format.text(event.get('reason'))} "
            f"{cli_format.text(event.get('duration'))} s"
        )
    if kind == "notify":
        kind_text = cli_format.text(event.get("notificationType"))
        return f"{kind_text} {cli_format.text(event.get('recordingUrl'))}"
    return cli_format.text((event.get("callback") or {}).get("event"))


def row(event: dict[str, Any]) -> tuple[str, ...]:
    answer = event.get("answer") or {}
    action = (answer.get("action") or {}).get("name") if isinstance(answer, dict) else None
    return (
        cli_format.text(event.get("receivedAt")),
        cli_format.text(event.get("eventType")),
        cli_format.text(event.get("callId")),
        detail(event),
        cli_format.text(action),
    )


async def cmd_events(args: argparse.Namespace, settings: Any, out: TextIO) -> int:
    from callctl import cli  # the shared Kafka reading helpers

    shown = 0
    async with cli.open_reader(settings.kafka) as reader:
        tps = await cli.assign(reader, settings.topics.events, "CALLCTL_TOPICS__EVENTS")
        if not args.json:
            print(cli_format.format_row(EVENT_HEADER, EVENT_WIDTHS), file=out, flush=True)
        stream = cli.records(reader, tps, "beginning", to_end=not args.follow)
        async with contextlib.aclosing(stream):
            async for record in stream:
                event = cli.json_value(record)
                if event is None or (args.call_id and event.get("callId") != args.call_id):
                    continue
                if args.json:
                    print(json.dumps(event, ensure_ascii=False), file=out, flush=True)
                else:
                    print(cli_format.format_row(row(event), EVENT_WIDTHS), file=out, flush=True)
                shown += 1
    if not shown:
        where = f" for callId {args.call_id}" if args.call_id else ""
        cli.warn(f"no events on {settings.topics.events}{where}")
        return cli.EXIT_NOT_OK
    return cli.EXIT_OK
