"""`callctl dead-letters`: list and show the records the service refused, and replay one onto
the commands topic once the cause is fixed.

A dead letter is the original record, byte for byte, with the reason in its headers. Anything
in it may come from an attacker: shown values are escaped (no terminal control characters) and
recording credentials are redacted; a replay sends the original bytes and key, unchanged.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from callctl import output
from callctl.arguments import Formatter, duration_seconds, offset, positive_int
from callctl.common import (
    EXIT_CODES,
    EXIT_NOT_OK,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    CliSettings,
    print_json,
)
from callctl.kafka_io import (
    Progress,
    Since,
    Start,
    open_producer,
    open_reader,
    reading,
    records,
)
from callctl.send import ProducerFactory
from service.domain.commands import REDACTED
from service.domain.decode import Rejection, decode_command

VARIABLE = "CALLCTL_TOPICS__DEAD_LETTER"
REPLAYED_FROM = "callctl.replayed-from"
HEADER = ("TIME", "PARTITION", "OFFSET", "KEY", "CODE", "MESSAGE")

EPILOG = f"""\
Dead letters are command records the service refused (not JSON, too large, an invalid command,
a key other than the callId, a commandId reused with another payload), kept byte for byte with
error.code and error.message headers. `list` reads them (outside any consumer group), `show`
prints one, `replay` produces one again onto the commands topic with its original key and
bytes, after checking that the service would now accept it and asking for confirmation.

A replay helps when the cause was outside the record (e.g. CALLCTL_MAX_COMMAND_BYTES raised).
When the record itself was wrong, send a corrected command with `callctl send` instead; for
idempotency_conflict, with a NEW commandId.

examples:
  callctl dead-letters list --since 1h
  callctl dead-letters list --call-id C1 -o json
  callctl dead-letters show 2:118
  callctl dead-letters replay 2:118          # asks before producing; --yes does not ask

{EXIT_CODES}"""


@dataclass(frozen=True, slots=True)
class Position:
    partition: int | None
    offset: int


def position(raw: str) -> Position:
    """`PARTITION:OFFSET`, or `OFFSET` alone (then `--partition`, or a one-partition topic)."""
    partition, sep, at = raw.rpartition(":")
    try:
        return Position(int(partition) if sep else None, offset(at))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not PARTITION:OFFSET or OFFSET: {raw!r}") from None


def add_parser(sub: Any, common: list[argparse.ArgumentParser]) -> None:
    letters = sub.add_parser(
        "dead-letters",
        help="list, show and replay dead letters",
        description="Read the dead-letter topic; replay a dead letter once its cause is fixed.",
        epilog=EPILOG,
        formatter_class=Formatter,
        parents=common,
    )
    actions = letters.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser(
        "list",
        help="list dead letters (a table, or JSON lines)",
        description="List dead letters: time, partition, offset, key, error code and message.",
        epilog=EPILOG,
        formatter_class=Formatter,
        parents=common,
    )
    listing.add_argument(
        "--call-id", metavar="ID", help="only records keyed by ID (reads only its partition)"
    )
    listing.add_argument(
        "--since", type=duration_seconds, metavar="DURATION", help="the last DURATION only"
    )
    listing.add_argument(
        "-f", "--follow", action="store_true", help="keep reading new ones until Ctrl-C"
    )
    listing.add_argument("--limit", type=positive_int, metavar="N", help="stop after N")
    for name, summary in (("show", "show one dead letter"), ("replay", "replay one dead letter")):
        page = actions.add_parser(
            name,
            help=summary,
            description=f"{summary[0].upper()}{summary[1:]}, named by PARTITION:OFFSET.",
            epilog=EPILOG,
            formatter_class=Formatter,
            parents=common,
        )
        page.add_argument("at", type=position, metavar="PARTITION:OFFSET", help="as listed")
        page.add_argument("-p", "--partition", type=offset, help="when OFFSET is given alone")
    replay = actions.choices["replay"]
    replay.add_argument("-y", "--yes", action="store_true", help="replay without asking")
    replay.add_argument(
        "--force",
        action="store_true",
        help="replay even when the service would refuse it again",
    )


# --- reading -----------------------------------------------------------------------------------


def safe(text: str) -> str:
    """Text that cannot drive a terminal: control characters escaped."""
    return "".join(c if c.isprintable() else json.dumps(c)[1:-1] for c in text)


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: REDACTED if k == "credentials" else _redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(item) for item in value]
    return value


def _number(text: str | None) -> int | str | None:
    return int(text) if text is not None and text.isdigit() else text


def view(record: Any) -> dict[str, Any]:
    """A dead letter as JSON-ready data: reason and source from the headers, the value as JSON
    (credentials redacted) when it is JSON, else as text or base64."""
    headers = {name: raw.decode(errors="replace") for name, raw in record.headers or ()}
    moment = datetime.fromtimestamp(record.timestamp / 1000, UTC)
    shown: dict[str, Any] = {
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "key": record.key.decode(errors="replace") if record.key is not None else None,
        "error": {
            "code": headers.pop("error.code", None),
            "message": headers.pop("error.message", None),
        },
        "source": {
            "topic": headers.pop("source.topic", None),
            # headers are text; numbers here, as the dead letter's own partition and offset
            "partition": _number(headers.pop("source.partition", None)),
            "offset": _number(headers.pop("source.offset", None)),
        },
        "headers": headers,
    }
    raw = record.value or b""
    try:
        shown["value"] = _redact(json.loads(raw))
    except ValueError:
        try:
            shown["valueText"] = raw.decode()
        except UnicodeDecodeError:
            shown["valueBase64"] = base64.b64encode(raw).decode()
    return shown


def _row(letter: dict[str, Any]) -> tuple[str, ...]:
    error = letter["error"]
    return tuple(
        safe(output.text(cell))
        for cell in (
            letter["timestamp"],
            letter["partition"],
            letter["offset"],
            letter["key"],
            error["code"],
            error["message"],
        )
    )


def describe(letter: dict[str, Any]) -> str:
    source = letter["source"]
    value = (
        json.dumps(letter["value"], indent=2)  # ASCII escapes: no control characters
        if "value" in letter
        else json.dumps(letter.get("valueText", letter.get("valueBase64")))
    )
    pairs = [
        ("position", f"partition {letter['partition']} offset {letter['offset']}"),
        ("timestamp", letter["timestamp"]),
        ("key", letter["key"]),
        ("error", f"{letter['error']['code']}: {letter['error']['message']}"),
        ("source", f"{source['topic']} partition {source['partition']} offset {source['offset']}"),
        *((name, value) for name, value in letter["headers"].items()),
        ("value", "(base64, below)" if "valueBase64" in letter else "(below)"),
    ]
    lines = output.key_values((safe(k), safe(output.text(v))) for k, v in pairs)
    return f"{lines}\n{value}"


async def _list(args: argparse.Namespace, settings: CliSettings, out: TextIO) -> int:
    start: Start = "end" if args.follow else "beginning"
    if args.since is not None:
        start = Since(int((time.time() - args.since) * 1000))
    key = args.call_id.encode() if args.call_id is not None else None
    topic = settings.topics.dead_letter
    as_json = args.output == "json"
    shown: list[dict[str, Any]] = []
    async with open_reader(settings.kafka, topic, VARIABLE, key=key) as (reader, tps):
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
                if key is not None and record.key != key:
                    continue
                letter = view(record)
                progress.matches += 1
                if as_json:
                    print_json(letter, out)
                elif args.follow:
                    print("  ".join(_row(letter)), file=out, flush=True)
                shown.append(letter)
                if args.limit is not None and len(shown) >= args.limit:
                    break
    if shown and not as_json and not args.follow:  # nothing found: only the stderr line says so
        print(output.render_table(HEADER, (_row(letter) for letter in shown)), file=out)
    if not shown:
        raise CliError(f"no dead letters on {topic}", EXIT_NOT_OK)
    return EXIT_OK


async def _read_one(settings: CliSettings, at: Position) -> Any:
    topic = settings.topics.dead_letter
    async with open_reader(settings.kafka, topic, VARIABLE) as (reader, tps):
        if at.partition is None and len(tps) > 1:
            raise CliError(
                f"{topic} has {len(tps)} partitions: name one (PARTITION:OFFSET, as "
                "`callctl dead-letters list` shows)",
                EXIT_USAGE,
            )
        partition = at.partition if at.partition is not None else tps[0].partition
        chosen = [tp for tp in tps if tp.partition == partition]
        if not chosen:
            raise CliError(f"{topic} has no partition {partition}", EXIT_USAGE)
        reader.assign(chosen)
        stream = records(reader, chosen, {chosen[0]: at.offset}, to_end=True)
        async with contextlib.aclosing(stream):
            async for record in stream:
                if record.offset == at.offset:
                    return record
                break  # the offset is gone (retention) or was never a record
    raise CliError(f"no dead letter at partition {partition} offset {at.offset} of {topic}", 1)


# --- replay ------------------------------------------------------------------------------------


def _ask(question: str) -> bool:
    if not sys.stdin.isatty():
        raise CliError("not confirmed: pass --yes to replay without a prompt", EXIT_USAGE)
    print(question, end=" ", file=sys.stderr, flush=True)
    return sys.stdin.readline().strip().lower() in {"y", "yes"}


async def _replay(
    args: argparse.Namespace,
    settings: CliSettings,
    record: Any,
    out: TextIO,
    producer_factory: ProducerFactory | None,
    confirm: Callable[[str], bool],
) -> int:
    letter = view(record)
    code = letter["error"]["code"]
    decoded = decode_command(record.key, record.value, max_bytes=settings.max_command_bytes)
    problem = (
        f"it would be refused again: {decoded.message}"
        if isinstance(decoded, Rejection)
        else "its commandId belongs to another payload: send it with a NEW commandId instead"
        if code == "idempotency_conflict"
        else None
    )
    if problem and not args.force:
        raise CliError(f"not replayed: {problem} (--force replays it anyway)", EXIT_USAGE)
    topic = settings.topics.commands
    what = (
        f"{decoded.type} command {decoded.command_id} for {decoded.target()}"
        if not isinstance(decoded, Rejection)
        else "a record the service refuses"
    )
    where = f"partition {record.partition} offset {record.offset}"
    if not args.yes and not confirm(
        f"Replay dead letter {where} ({safe(what)}) onto {topic}? [y/N]"
    ):
        raise CliError("not replayed", EXIT_NOT_OK)
    origin = f"{record.topic}/{record.partition}@{record.offset}".encode()
    async with (producer_factory or open_producer)(settings.kafka, topic) as producer:
        sent = await producer.send_and_wait(
            topic, record.value, key=record.key, headers=[(REPLAYED_FROM, origin)]
        )
    receipt = {
        "replayed": {"partition": record.partition, "offset": record.offset},
        "topic": topic,
        "partition": sent.partition,
        "offset": sent.offset,
    }
    if args.output == "json":
        print_json(receipt, out)
    else:
        print(
            f"replayed {where} onto {topic} partition {sent.partition} offset {sent.offset}",
            file=out,
        )
    return EXIT_OK


async def run(
    args: argparse.Namespace,
    settings: CliSettings,
    out: TextIO,
    producer_factory: ProducerFactory | None = None,
    confirm: Callable[[str], bool] | None = None,
) -> int:
    if args.action == "list":
        return await _list(args, settings, out)
    at = args.at if args.partition is None else Position(args.partition, args.at.offset)
    record = await _read_one(settings, at)
    if args.action == "show":
        letter = view(record)
        if args.output == "json":
            print_json(letter, out)
        else:
            print(describe(letter), file=out)
        return EXIT_OK
    return await _replay(args, settings, record, out, producer_factory, confirm or _ask)
