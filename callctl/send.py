"""`callctl send`: build a command from flags, validate it, produce it keyed by its callId,
and optionally wait for its result."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import typing
from collections.abc import Callable
from typing import Any, TextIO

from callctl import output
from callctl.arguments import Formatter, positive_seconds
from callctl.common import EXIT_CODES, EXIT_NOT_OK, EXIT_OK, EXIT_TIMEOUT, CliError, CliSettings
from callctl.compose import prepare
from callctl.kafka_io import Producer, json_value, open_producer, open_reader, records
from service.domain.commands import COMMAND_TYPES, Region
from service.domain.svaml import Leg
from service.settings import KafkaSettings

DEFAULT_WAIT_S = 30.0

SEND_EPILOG = f"""\
The command is validated with the service's own rules before anything is produced: an invalid
command is reported naming the field, and exits 2. Fields are set, later winning, from --json,
then the common flags, then the type-specific flags, then --field. --field values are JSON
when they parse (42, true, [..], {{..}}, "quoted"), else strings; a dotted name sets a nested
field (options.destinationUrl=...). The record is keyed by callId (idempotent producer).

To retry a command, send the same --command-id with an identical payload: the service answers
with the stored result (duplicate true); a different payload is rejected (idempotency_conflict).

examples:
  callctl send hangup --call-id 4398599d1ba84ef3bde0a82dfb61abed --wait
  callctl send say --call-id C1 --text 'Your call is being transferred' --locale en-US --leg caller
  callctl send playFiles --call-id C1 --ids 'https://example.com/a.wav,#tts[Hello, world]' \\
      --locale en-US --then hangup
  callctl send sendDtmf --call-id C1 --value '1234#'
  callctl send park --call-id C1 --field maxDuration=600 --field 'introPrompt=#tts[Please hold]' \\
      --locale en-US
  callctl send svaml --call-id C1 --svaml '{{"action": {{"name": "hangup"}}}}'
  callctl send startRecording --call-id C1 --field options.destinationUrl=s3://bucket/rec \\
      --field options.credentials=KEY:SECRET --dry-run
  callctl send --json '{{"type": "getCallInfo", "callId": "C1"}}' --wait 10 --output json
  callctl send hangup --call-id C1 --command-id ops-ticket-42 --expires-in 60 \\
      --metadata '{{"by": "ops"}}'

{EXIT_CODES}"""


def add_parser(sub: Any, common: list[argparse.ArgumentParser]) -> None:
    send = sub.add_parser(
        "send",
        help="validate a command and produce it to the commands topic",
        description="Build a command of TYPE from the flags, validate it, produce it keyed by its\n"
        "callId, and print its commandId, partition and offset; with --wait, wait for its result.",
        epilog=SEND_EPILOG,
        formatter_class=Formatter,
        parents=common,
    )
    send.add_argument(
        "type",
        nargs="?",
        choices=COMMAND_TYPES,
        metavar="TYPE",
        help=f"one of: {', '.join(COMMAND_TYPES)} (may come from --json instead)",
    )
    base = send.add_argument_group("command")
    base.add_argument("--call-id", metavar="ID", help="the Sinch call id (also the record key)")
    base.add_argument(
        "--command-id", metavar="ID", help="the idempotency key (default: cli-<random hex>)"
    )
    base.add_argument("--region", choices=typing.get_args(Region), help="regional API host")
    base.add_argument(
        "--expires-in",
        type=positive_seconds,
        metavar="SECONDS",
        help="sets expiresAt to now + SECONDS: not executed when processing starts later",
    )
    base.add_argument(
        "--snapshot",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="publish a snapshot after success (default: the service's setting, on)",
    )
    base.add_argument("--metadata", metavar="JSON", help="an object copied into the result")
    base.add_argument(
        "--field",
        action="append",
        metavar="NAME=VALUE",
        help="set any field (repeatable); VALUE is JSON when it parses, else a string",
    )
    base.add_argument(
        "--json", metavar="OBJECT", help="a whole command object; the flags above override it"
    )
    typed = send.add_argument_group("type-specific fields")
    typed.add_argument("--text", help="say: the text (1-600 characters)")
    typed.add_argument("--locale", help="say, playFiles, park: e.g. en-US")
    typed.add_argument("--leg", choices=typing.get_args(Leg), help="say, playFiles, svaml")
    typed.add_argument(
        "--then", choices=["continue", "hangup"], help="say, playFiles: the action after"
    )
    typed.add_argument(
        "--ids",
        metavar="ID,ID,...",
        help="playFiles: comma separated (commas inside [...] are kept), or a JSON array",
    )
    typed.add_argument("--value", metavar="DTMF", help="sendDtmf: 0-9, # and w")
    typed.add_argument("--max-duration", type=int, metavar="SECONDS", help="park: 1-14400 s")
    typed.add_argument("--intro-prompt", metavar="PROMPT", help="park: #tts[...] or #ssml[...]")
    typed.add_argument("--hold-prompt", metavar="PROMPT", help="park: #tts[...] or #ssml[...]")
    typed.add_argument(
        "--svaml", metavar="JSON", help='svaml: {"instructions": [...], "action": {...}}'
    )
    behaviour = send.add_argument_group("behaviour")
    behaviour.add_argument(
        "--wait",
        nargs="?",
        const=DEFAULT_WAIT_S,
        type=positive_seconds,
        metavar="SECONDS",
        help=f"wait for the result (default {DEFAULT_WAIT_S:g} s) and print it: exit 0 when "
        "succeeded, 1 when failed/expired/rejected, 3 on timeout",
    )
    behaviour.add_argument(
        "--output",
        choices=["text", "json"],
        default="text",
        help="how --wait prints the result (default text)",
    )
    behaviour.add_argument(
        "--dry-run",
        action="store_true",
        help="validate and print the command (credentials redacted) without producing it",
    )


ProducerFactory = Callable[[KafkaSettings, str], contextlib.AbstractAsyncContextManager[Producer]]


async def run(
    args: argparse.Namespace,
    settings: CliSettings,
    out: TextIO,
    producer_factory: ProducerFactory | None = None,
) -> int:
    prepared = prepare(args, max_bytes=settings.max_command_bytes)  # before any connection
    command = prepared.command
    if args.dry_run:
        print(json.dumps(command.redacted(), ensure_ascii=False), file=out)
        return EXIT_OK
    topics = settings.topics
    async with contextlib.AsyncExitStack() as stack:
        reader_tps: list[Any] = []
        ends: dict[Any, int] = {}
        reader = None
        if args.wait is not None:
            reader, reader_tps = await stack.enter_async_context(
                open_reader(settings.kafka, topics.results, "CALLCTL_TOPICS__RESULTS")
            )
            ends = await reader.end_offsets(reader_tps)  # the result comes after these
        factory = producer_factory or open_producer
        producer = await stack.enter_async_context(factory(settings.kafka, topics.commands))
        sent = await producer.send_and_wait(topics.commands, prepared.value, key=prepared.key)
        print(
            output.key_values(
                [
                    ("commandId", command.command_id),
                    ("callId", command.call_id),
                    ("type", command.type),
                    (
                        "produced",
                        f"{topics.commands} partition {sent.partition} offset {sent.offset}",
                    ),
                ]
            ),
            file=out,
            flush=True,
        )
        if args.verbose:
            print(json.dumps(command.redacted(), ensure_ascii=False), file=sys.stderr)
        if reader is None:
            return EXIT_OK
        return await _await_result(reader, reader_tps, ends, command.command_id, args, out)
    return EXIT_OK  # pragma: no cover - the context above always returns


async def _await_result(
    reader: Any,
    tps: list[Any],
    ends: dict[Any, int],
    command_id: str,
    args: argparse.Namespace,
    out: TextIO,
) -> int:
    wait_s: float = args.wait
    try:
        async with asyncio.timeout(wait_s):
            stream = records(reader, tps, ends, to_end=False)
            async with contextlib.aclosing(stream):
                async for record in stream:
                    result = json_value(record)
                    if result is None or result.get("commandId") != command_id:
                        continue
                    if args.output == "json":
                        print(json.dumps(result, ensure_ascii=False), file=out)
                    else:
                        print(output.describe_result(result), file=out)
                    return EXIT_OK if result.get("outcome") == "succeeded" else EXIT_NOT_OK
    except TimeoutError:
        pass
    raise CliError(
        f"no result for commandId {command_id} on {tps[0].topic if tps else 'the results topic'} "
        f"within {wait_s:g} s: is the service running? (`callctl results --command-id "
        f"{command_id} --follow` keeps watching)",
        EXIT_TIMEOUT,
    )
