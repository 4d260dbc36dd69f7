"""`callctl results`: read results from the results topic, filtered, as a table or JSON."""

from __future__ import annotations

import argparse
import contextlib
import time
from typing import Any, TextIO

from callctl import output
from callctl.arguments import Formatter, duration_seconds, json_alias, positive_int
from callctl.common import (
    EXIT_CODES,
    EXIT_NOT_OK,
    EXIT_OK,
    RETRY_RULE,
    CliSettings,
    print_json,
    warn,
)
from callctl.kafka_io import Progress, Since, Start, json_value, open_reader, reading, records

VARIABLE = "CALLCTL_TOPICS__RESULTS"

RESULTS_EPILOG = f"""\
Reads the results topic outside any consumer group (nothing committed): with --call-id only
the partition of that key (results are keyed by callId), else every partition. Without
--follow it starts at the beginning (or --since) and stops at the end offsets seen at start,
showing its progress on stderr; with --follow it starts at the end (or --from-beginning /
--since) and runs until Ctrl-C. -o json prints one JSON object per line.

{RETRY_RULE}

examples:
  callctl results --call-id C1
  callctl results --since 10m --limit 50
  callctl results --command-id cli-0f3c... -o json
  callctl results --follow
  callctl results --follow --since 1h --call-id C1 -o json | jq .outcome

{EXIT_CODES}"""


def add_parser(sub: Any, common: list[argparse.ArgumentParser]) -> None:
    results = sub.add_parser(
        "results",
        help="read results from the results topic",
        description="Show results as a table (or JSON lines), optionally filtered and followed.",
        epilog=RESULTS_EPILOG,
        formatter_class=Formatter,
        parents=common,
    )
    results.add_argument(
        "--call-id", metavar="ID", help="only this call's results (reads only its partition)"
    )
    results.add_argument("--command-id", metavar="ID", help="only this command's results")
    results.add_argument(
        "-f", "--follow", action="store_true", help="keep reading new results until Ctrl-C"
    )
    where = results.add_mutually_exclusive_group()
    where.add_argument(
        "--from-beginning", action="store_true", help="start at the oldest retained result"
    )
    where.add_argument(
        "--since",
        type=duration_seconds,
        metavar="DURATION",
        help="start at results produced in the last DURATION (30s, 10m, 2h, 1d)",
    )
    results.add_argument(
        "--limit", type=positive_int, metavar="N", help="stop after N matching results"
    )
    json_alias(results)


async def run(args: argparse.Namespace, settings: CliSettings, out: TextIO) -> int:
    start: Start
    if args.since is not None:
        start = Since(int((time.time() - args.since) * 1000))
    elif args.from_beginning or not args.follow:
        start = "beginning"
    else:
        start = "end"
    shown: list[dict[str, Any]] = []
    as_json = args.output == "json"
    streaming = args.follow and not as_json
    topic = settings.topics.results
    key = args.call_id.encode() if args.call_id is not None else None
    async with open_reader(settings.kafka, topic, VARIABLE, key=key) as (reader, tps):
        if streaming:
            header = output.format_row(output.RESULT_HEADER, output.STREAM_WIDTHS)
            print(header, file=out, flush=True)
        progress = Progress(reading(tps, key))
        stream = records(
            reader,
            tps,
            start,
            to_end=not args.follow,
            progress=None if args.follow else progress,  # following has no end to count to
        )
        async with contextlib.aclosing(stream):
            async for record in stream:
                result = json_value(record)
                if result is None or not _matches(result, args):
                    continue
                progress.matches += 1
                if as_json:
                    print_json(result, out)
                elif streaming:
                    row = output.format_row(output.result_row(result), output.STREAM_WIDTHS)
                    print(row, file=out, flush=True)
                shown.append(result)
                if args.limit is not None and len(shown) >= args.limit:
                    break
    if shown and not as_json and not streaming:  # nothing found: only the stderr line says so
        print(output.render_results(shown), file=out)
    if not shown:
        warn(f"no results on {settings.topics.results}{_filters_text(args)}")
        return EXIT_NOT_OK
    return EXIT_OK


def _matches(result: dict[str, Any], args: argparse.Namespace) -> bool:
    if args.call_id is not None and result.get("callId") != args.call_id:
        return False
    return args.command_id is None or result.get("commandId") == args.command_id


def _filters_text(args: argparse.Namespace) -> str:
    parts = [
        f"callId {args.call_id}" if args.call_id else "",
        f"commandId {args.command_id}" if args.command_id else "",
    ]
    named = " and ".join(p for p in parts if p)
    return f" for {named}" if named else ""
