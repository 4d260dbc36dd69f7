"""`callctl send`: build a command from flags, validate it, produce it keyed by its callId,
and optionally wait for its result."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

from aiokafka import AIOKafkaConsumer, TopicPartition

from callctl import output
from callctl.common import (
    EXIT_NOT_OK,
    EXIT_OK,
    EXIT_TIMEOUT,
    CliError,
    CliSettings,
    print_json,
    warn,
)
from callctl.compose import prepare
from callctl.kafka_io import Producer, json_value, open_producer, open_reader, records
from callctl.send_args import add_parser as add_parser
from service.settings import KafkaSettings

RESULTS_VARIABLE = "CALLCTL_TOPICS__RESULTS"

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
        print_json(command.redacted(), out)
        return EXIT_OK
    topics = settings.topics
    as_json = args.output == "json"
    async with contextlib.AsyncExitStack() as stack:
        waiting: tuple[AIOKafkaConsumer, list[TopicPartition], dict[TopicPartition, int]] | None
        waiting = None
        if args.wait is not None:
            # Results are keyed by callId too: only that partition can hold this result.
            reader, tps = await stack.enter_async_context(
                open_reader(settings.kafka, topics.results, RESULTS_VARIABLE, key=prepared.key)
            )
            waiting = reader, tps, await reader.end_offsets(tps)  # the result comes after these
        factory = producer_factory or open_producer
        producer = await stack.enter_async_context(factory(settings.kafka, topics.commands))
        sent = await producer.send_and_wait(topics.commands, prepared.value, key=prepared.key)
        receipt: dict[str, Any] = {
            "commandId": command.command_id,
            "callId": command.about_call(),
            "type": command.type,
            "topic": topics.commands,
            "partition": sent.partition,
            "offset": sent.offset,
        }
        if command.about_conference() is not None:
            receipt["conferenceId"] = command.about_conference()
        if not as_json:
            print(output.describe_receipt(receipt), file=out, flush=True)
        if args.verbose:
            print(json.dumps(command.redacted(), ensure_ascii=False), file=sys.stderr)
        if waiting is None:
            if as_json:
                print_json(receipt, out)
            else:  # produced is not done: say where the outcome will be
                warn(
                    f"not waiting for its result: `callctl results --command-id "
                    f"{command.command_id}` shows it (or send with --wait)"
                )
            return EXIT_OK
        result = await _await_result(*waiting, command.command_id, args.wait)
        if as_json:
            print_json({**receipt, "result": result}, out)
        elif result is not None:
            print(output.describe_result(result), file=out)
    if result is None:
        raise CliError(
            f"no result for commandId {command.command_id} on {topics.results} within "
            f"{args.wait:g} s: is the service running? (`callctl results --command-id "
            f"{command.command_id} --follow` keeps watching)",
            EXIT_TIMEOUT,
        )
    return EXIT_OK if result.get("outcome") == "succeeded" else EXIT_NOT_OK


async def _await_result(
    reader: AIOKafkaConsumer,
    tps: list[TopicPartition],
    ends: dict[TopicPartition, int],
    command_id: str,
    wait_s: float,
) -> dict[str, Any] | None:
    """The command's result, or None when it does not come within `wait_s`."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(wait_s):
            stream = records(reader, tps, dict(ends), to_end=False)
            async with contextlib.aclosing(stream):
                async for record in stream:
                    result = json_value(record)
                    if result is not None and result.get("commandId") == command_id:
                        return result
    return None
