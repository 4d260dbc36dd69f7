"""`callctl`: the operator's command line for call-control.

Sends commands (validated with the service's own rules before anything is produced), reads
results and call snapshots back, and runs the service or the simulator. Configuration comes from
the same `CALLCTL_*` variables as the service (contract-v1.md, "Configuration"), but only the
Kafka and topic settings are read: no Sinch credentials are needed.

Exit codes: 0 ok; 1 the command's outcome was not `succeeded`, or nothing was found; 2 usage,
configuration or an invalid command; 3 timed out waiting for a result; 4 Kafka unreachable or a
Kafka error; 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import heapq
import json
import logging
import os
import re
import sys
import time
import typing
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import metadata as importlib_metadata
from typing import Any, Literal, Protocol, TextIO

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import (
    BrokerNotAvailableError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    KafkaUnavailableError,
    NoBrokersAvailable,
    NodeNotReadyError,
    RequestTimedOutError,
)
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings

from callctl import events, ring
from callctl import format as cli_format
from service.domain.commands import COMMAND_TYPES, Command, Region
from service.domain.decode import Rejection, decode_command
from service.domain.svaml import Leg
from service.domain.wire import format_timestamp
from service.kafka.preflight import check_broker
from service.kafka.topics import client_options
from service.ops.refusals import Refused
from service.settings import (
    ENV_CONFIG,
    ENV_NESTED_DELIMITER,
    ENV_PREFIX,
    KafkaSettings,
    TopicSettings,
    describe_errors,
)

PROG = "callctl"
EXIT_OK = 0
EXIT_NOT_OK = 1
EXIT_USAGE = 2
EXIT_TIMEOUT = 3
EXIT_KAFKA = 4
EXIT_INTERRUPTED = 130
DEFAULT_WAIT_S = 30.0
REQUEST_TIMEOUT_MS = 15_000
POLL_MS = 500
IDLE_STOP_S = 10.0  # reading to the end: give up when the end is not reached and nothing comes
UNREACHABLE = (
    KafkaConnectionError,
    NoBrokersAvailable,
    NodeNotReadyError,
    KafkaTimeoutError,
    KafkaUnavailableError,
    RequestTimedOutError,
    BrokerNotAvailableError,
)

EXIT_CODES = """\
exit codes:
  0    ok (with --wait: the outcome is succeeded)
  1    the outcome is failed, expired or rejected; or nothing found (no snapshot, no topic)
  2    usage error, invalid configuration, or an invalid command (nothing is produced)
  3    timed out waiting for the result
  4    Kafka unreachable (start a local broker with `deploy/kafka.sh start`) or a Kafka error
  130  interrupted (Ctrl-C)
"""


# --- configuration -----------------------------------------------------------------------------


class CliSettings(BaseSettings):
    """The part of the service's configuration the CLI needs: same variables, no credentials."""

    model_config = ENV_CONFIG

    kafka: KafkaSettings = KafkaSettings()
    topics: TopicSettings = TopicSettings()
    max_command_bytes: int = Field(default=65_536, ge=256)


class CliError(Exception):
    """An expected failure: its message is printed (no traceback) and `code` is the exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def load_settings(bootstrap_servers: str | None) -> CliSettings:
    try:
        settings = CliSettings()
    except ValidationError as error:
        lines = "\n".join(f"  {line}" for line in describe_errors(error))
        raise CliError(f"invalid configuration\n{lines}", EXIT_USAGE) from None
    if bootstrap_servers:
        kafka = settings.kafka.model_copy(update={"bootstrap_servers": bootstrap_servers})
        settings = settings.model_copy(update={"kafka": kafka})
    return settings


# --- building a command (pure) -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Prepared:
    """A validated command and the exact record that will be produced."""

    command: Command
    key: bytes
    value: bytes


def new_command_id() -> str:
    return f"cli-{uuid.uuid4().hex}"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_field_value(raw: str) -> Any:
    """`--field` values: JSON when they parse (numbers, booleans, arrays, objects, null,
    quoted strings), else the text as a string."""
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except ValueError:
        return raw


def _json_object(raw: str, flag: str) -> dict[str, Any]:
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except ValueError as error:
        detail = str(error).split(":")[0]
        raise CliError(f"{flag}: not valid JSON ({detail})", EXIT_USAGE) from None
    if not isinstance(value, dict):
        raise CliError(f"{flag}: must be a JSON object", EXIT_USAGE)
    return value


def split_ids(raw: str) -> list[str]:
    """`--ids`: comma separated, except inside `[...]` (so `#tts[Hello, world]` stays whole);
    a JSON array is taken as is."""
    if raw.lstrip().startswith("["):
        value = parse_field_value(raw)
        if isinstance(value, list):
            return value
    ids: list[str] = []
    depth, current = 0, list[str]()
    for char in raw:
        if char == "," and depth == 0:
            ids.append("".join(current).strip())
            current = []
            continue
        depth += {"[": 1, "]": -1}.get(char, 0)
        depth = max(depth, 0)
        current.append(char)
    ids.append("".join(current).strip())
    return [item for item in ids if item]


def _set_field(target: dict[str, Any], assignment: str) -> None:
    name, sep, raw = assignment.partition("=")
    if not sep or not name:
        raise CliError(f"--field {assignment!r}: expected name=value", EXIT_USAGE)
    *parents, leaf = name.split(".")
    for part in parents:
        child = target.setdefault(part, {})
        if not isinstance(child, dict):
            raise CliError(f"--field {name}: {part} is not an object", EXIT_USAGE)
        target = child
    target[leaf] = parse_field_value(raw)


# flag attribute → command field, for the type-specific convenience flags
CONVENIENCE_FIELDS = {
    "text": "text",
    "locale": "locale",
    "leg": "leg",
    "then": "then",
    "value": "value",
    "max_duration": "maxDuration",
    "intro_prompt": "introPrompt",
    "hold_prompt": "holdPrompt",
}


def build_command(args: argparse.Namespace, *, now: datetime | None = None) -> dict[str, Any]:
    """The command object the flags describe. Later sources win: `--json`, then the common
    flags, then the type-specific flags, then `--field`."""
    command: dict[str, Any] = {}
    if args.json is not None:
        command.update(_json_object(args.json, "--json"))
    if args.type is not None:
        command["type"] = args.type
    if args.call_id is not None:
        command["callId"] = args.call_id
    if args.command_id is not None:
        command["commandId"] = args.command_id
    command.setdefault("commandId", new_command_id())
    if args.region is not None:
        command["region"] = args.region
    if args.expires_in is not None:
        moment = (now or datetime.now(UTC)) + timedelta(seconds=args.expires_in)
        command["expiresAt"] = format_timestamp(moment)
    if args.snapshot is not None:
        command["snapshot"] = args.snapshot
    if args.metadata is not None:
        command["metadata"] = _json_object(args.metadata, "--metadata")
    for attribute, field in CONVENIENCE_FIELDS.items():
        value = getattr(args, attribute)
        if value is not None:
            command[field] = value
    if args.ids is not None:
        command["ids"] = split_ids(args.ids)
    if args.svaml is not None:
        command["svaml"] = _json_object(args.svaml, "--svaml")
    for assignment in args.field or []:
        _set_field(command, assignment)
    return command


def validate(command: dict[str, Any], *, max_bytes: int) -> Prepared:
    """The service's own reading of the record (`decode_command`), so that what it would reject
    is never produced. The error names the field and never echoes a value."""
    value = json.dumps(command, separators=(",", ":"), ensure_ascii=False).encode()
    call_id = command.get("callId")
    key = call_id.encode() if isinstance(call_id, str) else None
    decoded = decode_command(key, value, max_bytes=max_bytes)
    if isinstance(decoded, Rejection):
        kind = command.get("type") if command.get("type") in COMMAND_TYPES else None
        what = f"invalid {kind} command" if kind else "invalid command"
        raise CliError(f"{what}: {decoded.message}", EXIT_USAGE)
    return Prepared(decoded, decoded.call_id.encode(), value)


def prepare(args: argparse.Namespace, *, max_bytes: int) -> Prepared:
    return validate(build_command(args), max_bytes=max_bytes)


# --- Kafka -------------------------------------------------------------------------------------


class Producer(Protocol):
    async def send_and_wait(self, topic: str, value: bytes, key: bytes) -> Any: ...


def _options(kafka: KafkaSettings) -> dict[str, Any]:
    try:
        options = client_options(kafka)
    except Refused as refused:  # a TLS file that does not load
        raise CliError(str(refused), EXIT_USAGE) from None
    return {**options, "client_id": PROG, "request_timeout_ms": REQUEST_TIMEOUT_MS}


async def _preflight(kafka: KafkaSettings) -> None:
    """A refused password or certificate as one line naming the setting."""
    try:
        await check_broker(kafka)
    except Refused as refused:
        raise CliError(str(refused), EXIT_KAFKA) from None


async def _topic_partitions(client: Any, topic: str, variable: str) -> list[int]:
    """The topic's partitions from fresh metadata (no auto-creation); CliError when absent."""
    cluster = await client.fetch_all_metadata()
    partitions = cluster.partitions_for_topic(topic)
    if not partitions:
        raise CliError(
            f"topic {topic!r} does not exist (set by {variable}; the service creates its topics "
            "on start when CALLCTL_KAFKA__CREATE_TOPICS=true)",
            EXIT_NOT_OK,
        )
    return sorted(partitions)


@contextlib.asynccontextmanager
async def open_producer(kafka: KafkaSettings, topic: str) -> AsyncIterator[Producer]:
    """An idempotent producer, once `topic` is known to exist."""
    producer = AIOKafkaProducer(enable_idempotence=True, **_options(kafka))
    await _preflight(kafka)
    try:
        await producer.start()
        await _topic_partitions(producer.client, topic, "CALLCTL_TOPICS__COMMANDS")
        yield producer
    finally:
        with contextlib.suppress(Exception):
            await producer.stop()


@contextlib.asynccontextmanager
async def open_reader(kafka: KafkaSettings) -> AsyncIterator[Any]:
    """A consumer outside any group: it commits nothing and is assigned partitions by hand."""
    consumer = AIOKafkaConsumer(
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **_options(kafka),
    )
    await _preflight(kafka)
    try:
        await consumer.start()
        yield consumer
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()


async def assign(consumer: Any, topic: str, variable: str) -> list[Any]:
    # The consumer's client is the only way to ask for fresh metadata without naming the topic
    # (which could auto-create it); aiokafka exposes no public call for a group-less consumer.
    partitions = await _topic_partitions(consumer._client, topic, variable)
    tps = [TopicPartition(topic, p) for p in partitions]
    consumer.assign(tps)
    return tps


@dataclass(frozen=True, slots=True)
class Since:
    epoch_ms: int


Start = Literal["beginning", "end"] | Since | dict[Any, int]


async def seek(consumer: Any, tps: list[Any], start: Start) -> None:
    if start == "beginning":
        await consumer.seek_to_beginning(*tps)
    elif start == "end":
        await consumer.seek_to_end(*tps)
    elif isinstance(start, Since):
        found = await consumer.offsets_for_times(dict.fromkeys(tps, start.epoch_ms))
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            hit = found.get(tp)
            consumer.seek(tp, hit.offset if hit is not None else ends[tp])
    else:
        for tp, offset in start.items():
            consumer.seek(tp, offset)


async def records(
    consumer: Any, tps: list[Any], start: Start, *, to_end: bool
) -> AsyncGenerator[Any, None]:
    """Records of the assigned partitions from `start`: in offset order within a partition,
    merged across partitions by timestamp. `to_end`: stop at the end offsets as they are now."""
    ends = await consumer.end_offsets(tps) if to_end else {}
    await seek(consumer, tps, start)
    pending = {tp for tp in tps if to_end and await consumer.position(tp) < ends[tp]}
    idle_since = time.monotonic()
    while pending or not to_end:
        batch = await consumer.getmany(*tps, timeout_ms=POLL_MS)
        fetched = list(heapq.merge(*batch.values(), key=lambda r: r.timestamp))
        for record in fetched:
            yield record
        if not to_end:
            continue
        for tp in list(pending):
            if await consumer.position(tp) >= ends[tp]:
                pending.discard(tp)
        if fetched:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > IDLE_STOP_S:
            warn(f"stopped reading: no records for {IDLE_STOP_S:.0f} s before the end offsets")
            return


def json_value(record: Any) -> dict[str, Any] | None:
    """The record's JSON object; None (with a warning) for anything else, tombstones quietly."""
    if record.value is None:
        return None
    try:
        value = json.loads(record.value)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        where = f"{record.topic}/{record.partition}@{record.offset}"
        warn(f"skipped a record that is not a JSON object ({where})")
        return None
    return value


def warn(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr)


# --- subcommands -------------------------------------------------------------------------------


ProducerFactory = Callable[[KafkaSettings, str], contextlib.AbstractAsyncContextManager[Producer]]


async def cmd_send(
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
            reader = await stack.enter_async_context(open_reader(settings.kafka))
            reader_tps = await assign(reader, topics.results, "CALLCTL_TOPICS__RESULTS")
            ends = await reader.end_offsets(reader_tps)  # the result comes after these
        factory = producer_factory or open_producer  # looked up now: tests replace it
        producer = await stack.enter_async_context(factory(settings.kafka, topics.commands))
        sent = await producer.send_and_wait(topics.commands, prepared.value, key=prepared.key)
        print(
            cli_format.key_values(
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
                        print(cli_format.describe_result(result), file=out)
                    return EXIT_OK if result.get("outcome") == "succeeded" else EXIT_NOT_OK
    except TimeoutError:
        pass
    raise CliError(
        f"no result for commandId {command_id} on {tps[0].topic if tps else 'the results topic'} "
        f"within {wait_s:g} s: is the service running? (`callctl results --command-id "
        f"{command_id} --follow` keeps watching)",
        EXIT_TIMEOUT,
    )


async def cmd_results(args: argparse.Namespace, settings: CliSettings, out: TextIO) -> int:
    start: Start
    if args.since is not None:
        start = Since(int((time.time() - args.since) * 1000))
    elif args.from_beginning or not args.follow:
        start = "beginning"
    else:
        start = "end"
    shown: list[dict[str, Any]] = []
    streaming = args.follow and not args.json
    async with open_reader(settings.kafka) as reader:
        tps = await assign(reader, settings.topics.results, "CALLCTL_TOPICS__RESULTS")
        if streaming:
            header = cli_format.format_row(cli_format.RESULT_HEADER, cli_format.STREAM_WIDTHS)
            print(header, file=out, flush=True)
        stream = records(reader, tps, start, to_end=not args.follow)
        async with contextlib.aclosing(stream):
            async for record in stream:
                result = json_value(record)
                if result is None or not _matches(result, args):
                    continue
                if args.json:
                    print(json.dumps(result, ensure_ascii=False), file=out, flush=True)
                elif streaming:
                    row = cli_format.format_row(
                        cli_format.result_row(result), cli_format.STREAM_WIDTHS
                    )
                    print(row, file=out, flush=True)
                shown.append(result)
                if args.limit is not None and len(shown) >= args.limit:
                    break
    if not args.json and not streaming:
        print(cli_format.render_results(shown), file=out)
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


async def cmd_call(args: argparse.Namespace, settings: CliSettings, out: TextIO) -> int:
    topic = settings.topics.snapshots
    wanted = args.call_id.encode()
    latest: tuple[Any, dict[str, Any]] | None = None  # (record, snapshot)
    async with open_reader(settings.kafka) as reader:
        tps = await assign(reader, topic, "CALLCTL_TOPICS__SNAPSHOTS")
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
        print(cli_format.describe_snapshot(latest[1]), file=out)
    return EXIT_OK


def _newer(record: Any, than: Any) -> bool:
    """Later in the same partition, or (a call's snapshots in two partitions) by timestamp."""
    if record.partition == than.partition:
        return bool(record.offset > than.offset)
    return bool(record.timestamp >= than.timestamp)


def cmd_run(args: argparse.Namespace) -> int:
    from service.__main__ import main as run_service  # heavy (FastStream): only for `run`

    return run_service()


def cmd_simulator(args: argparse.Namespace, extra: list[str]) -> int:
    if extra and extra[0] in ring.ACTIONS:  # a simulated inbound call, not a simulator to run
        return ring.main(extra)
    from simulator.__main__ import main as run_simulator  # only for `simulator`

    return run_simulator(extra)


# --- arguments ---------------------------------------------------------------------------------


def positive_seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {raw!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds: {raw!r}")
    return value


def positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {raw!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {raw!r}")
    return value


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def duration_seconds(raw: str) -> float:
    """`90`, `30s`, `10m`, `2h`, `1d`, `1h30m` → seconds."""
    text = raw.strip().lower()
    with contextlib.suppress(ValueError):
        text_s = float(text)
        if text_s > 0:
            return text_s
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise argparse.ArgumentTypeError(
            f"not a duration: {raw!r} (examples: 30s, 10m, 2h, 1d, 1h30m)"
        )
    return sum(float(number) * _UNIT_S[unit] for number, unit in parts)


def _version() -> str:
    try:
        return importlib_metadata.version("call-control")
    except importlib_metadata.PackageNotFoundError:
        return "unknown"


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


def _common_options(top: bool) -> argparse.ArgumentParser:
    """Options valid before or after the subcommand (`callctl -v send ...` = `send -v`)."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("connection")
    group.add_argument(
        "--bootstrap-servers",
        metavar="HOST:PORT[,...]",
        default=None if top else argparse.SUPPRESS,
        help="Kafka bootstrap servers (default: CALLCTL_KAFKA__BOOTSTRAP_SERVERS, else "
        "localhost:9092); security settings come from the other CALLCTL_KAFKA__* variables",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0 if top else argparse.SUPPRESS,
        help="show Kafka client logs on stderr (-vv: debug); `send -v` also echoes the command "
        "(recording credentials redacted)",
    )
    return parent


TOPICS_HELP = """\
configuration (the service's own variables; only these are read):
  CALLCTL_KAFKA__BOOTSTRAP_SERVERS   default localhost:9092 (--bootstrap-servers overrides)
  CALLCTL_KAFKA__SECURITY_PROTOCOL, __SASL_MECHANISM, __SASL_USERNAME, __SASL_PASSWORD,
  __SSL_CAFILE                       Kafka security
  CALLCTL_TOPICS__COMMANDS           default call-control.commands.v1
  CALLCTL_TOPICS__RESULTS            default call-control.results.v1
  CALLCTL_TOPICS__SNAPSHOTS          default call-control.snapshots.v1
  CALLCTL_MAX_COMMAND_BYTES          default 65536 (commands above it are refused)
"""

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
  callctl send unpark --call-id C1 \\
      --field 'action={{"name": "connectPstn", "number": "+46700000000"}}'
  callctl send svaml --call-id C1 --svaml '{{"action": {{"name": "hangup"}}}}'
  callctl send startRecording --call-id C1 --field options.destinationUrl=s3://bucket/rec \\
      --field options.credentials=KEY:SECRET --dry-run
  callctl send --json '{{"type": "getCallInfo", "callId": "C1"}}' --wait 10 --output json
  callctl send hangup --call-id C1 --command-id ops-ticket-42 --expires-in 60 \\
      --metadata '{{"by": "ops"}}'

unpark needs the action the call should continue with, as Sinch wants it for an incoming-call
answer (connectPstn, connectSip, connectConf, connectMxp, runMenu, hangup), and may carry
instructions. getCallInfo: Sinch documents call information only for calls from an in-app
client to PSTN or SIP; for other calls it may answer 404 (call_not_found) while the call goes on.
Sinch's rules and their sources: docs/sinch-fidelity.md.

{EXIT_CODES}"""

RESULTS_EPILOG = f"""\
Reads the results topic outside any consumer group (all partitions, nothing committed). Without
--follow it starts at the beginning (or --since) and stops at the end offsets seen at start;
with --follow it starts at the end (or --from-beginning / --since) and runs until Ctrl-C.

examples:
  callctl results --call-id C1
  callctl results --since 10m --limit 50
  callctl results --command-id cli-0f3c... --json
  callctl results --follow
  callctl results --follow --since 1h --call-id C1 --json | jq .outcome

{EXIT_CODES}"""

CALL_EPILOG = f"""\
Reads the compacted snapshots topic to its end (no consumer group) and shows the latest
snapshot of the call: status, result, reason, from/to, duration, observedAt, commandId.
Snapshots are published after a successful command (unless snapshot is false) and for every
getCallInfo: `callctl send getCallInfo --call-id C1 --wait` refreshes it.

examples:
  callctl call 4398599d1ba84ef3bde0a82dfb61abed
  callctl call C1 --json

{EXIT_CODES}"""

RUN_EPILOG = """\
Runs `python -m service` in this process, configured by the CALLCTL_* variables (see the
README; CALLCTL_SINCH__APPLICATION_KEY and __APPLICATION_SECRET are required). Stops on SIGTERM
or Ctrl-C. Exit codes: 0 stopped cleanly, 2 invalid configuration.

example:
  CALLCTL_SINCH__BASE_URL=http://127.0.0.1:8000 CALLCTL_SINCH__APPLICATION_KEY=sim-key \\
  CALLCTL_SINCH__APPLICATION_SECRET=c2ltLXNlY3JldC0xMjM0NTY= callctl run
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Operate call-control: send call commands over Kafka, read their results\n"
        "and the calls' snapshots, run the service or the Sinch simulator.",
        epilog=f"{TOPICS_HELP}\n{EXIT_CODES}\nRun `callctl COMMAND --help` for each command.",
        formatter_class=_Formatter,
        parents=[_common_options(top=True)],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = [_common_options(top=False)]

    send = sub.add_parser(
        "send",
        help="validate a command and produce it to the commands topic",
        description="Build a command of TYPE from the flags, validate it, produce it keyed by its\n"
        "callId, and print its commandId, partition and offset; with --wait, wait for its result.",
        epilog=SEND_EPILOG,
        formatter_class=_Formatter,
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
    typed.add_argument("--max-duration", type=int, metavar="SECONDS", help="park: 1-600 s")
    prompts = "park: ;-separated #tts[...], #ssml[...], #href[url], URLs or prompt names"
    typed.add_argument("--intro-prompt", metavar="PROMPT", help=prompts)
    typed.add_argument("--hold-prompt", metavar="PROMPT", help=prompts)
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

    results = sub.add_parser(
        "results",
        help="read results from the results topic",
        description="Show results as a table (or JSON lines), optionally filtered and followed.",
        epilog=RESULTS_EPILOG,
        formatter_class=_Formatter,
        parents=common,
    )
    results.add_argument("--call-id", metavar="ID", help="only this call's results")
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
    results.add_argument("--json", action="store_true", help="print each result as one JSON line")

    call = sub.add_parser(
        "call",
        help="show the latest snapshot of a call",
        description="Show the latest snapshot of CALLID from the snapshots topic.",
        epilog=CALL_EPILOG,
        formatter_class=_Formatter,
        parents=common,
    )
    call.add_argument("call_id", metavar="CALLID", help="the Sinch call id")
    call.add_argument("--json", action="store_true", help="print the snapshot as JSON")

    sub.add_parser(
        "run",
        help="run the call-control service (python -m service)",
        description="Run the call-control service with its CALLCTL_* configuration.",
        epilog=RUN_EPILOG,
        formatter_class=_Formatter,
    )
    sub.add_parser(
        "simulator",
        help="run the Sinch Calling API simulator; its options follow "
        "(`callctl simulator --help` lists them)",
        description="Run the Sinch Calling API v1 simulator (python -m simulator).",
        add_help=False,  # --help goes to the simulator, which lists its own options
    )
    events.register(sub, common, _Formatter)
    for name, subparser in sub.choices.items():
        subparser.set_defaults(parser=subparser, command=name)
    return parser


# --- entry point -------------------------------------------------------------------------------


def _configure_logging(verbose: int) -> None:
    if verbose:
        level = logging.DEBUG if verbose > 1 else logging.INFO
        logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    else:
        # aiokafka logs each failed connection at ERROR; the CLI reports it once, itself.
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


def kafka_failure(servers: str, source: str, error: KafkaError) -> CliError:
    """What to tell the operator when Kafka fails: which servers were tried, and from where."""
    tried = f"{servers} (from {source})"
    if isinstance(error, KafkaConnectionError):
        message = f"cannot reach Kafka: no broker answered at {tried}"
    elif isinstance(error, UNREACHABLE):
        message = f"cannot reach Kafka at {tried}: {error}"
    else:
        return CliError(f"Kafka error from {tried}: {error}", EXIT_KAFKA)
    hint = (
        "Is a broker running there? Start a local one with `deploy/kafka.sh start`, or point "
        "--bootstrap-servers / CALLCTL_KAFKA__BOOTSTRAP_SERVERS at yours."
    )
    return CliError(f"{message}. {hint}", EXIT_KAFKA)


def _servers_source(args: argparse.Namespace) -> str:
    if args.bootstrap_servers:
        return "--bootstrap-servers"
    if os.environ.get(f"{ENV_PREFIX}KAFKA{ENV_NESTED_DELIMITER}BOOTSTRAP_SERVERS"):
        return "CALLCTL_KAFKA__BOOTSTRAP_SERVERS"
    return "the default"


async def _dispatch(args: argparse.Namespace, settings: CliSettings, out: TextIO) -> int:
    if args.command == "send":
        return await cmd_send(args, settings, out)
    if args.command == "results":
        return await cmd_results(args, settings, out)
    if args.command == "events":
        return await events.cmd_events(args, settings, out)
    return await cmd_call(args, settings, out)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "simulator":
        return cmd_simulator(args, extra)
    if extra:
        args.parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "run":
        return cmd_run(args)
    _configure_logging(args.verbose)
    try:
        settings = load_settings(args.bootstrap_servers)
    except CliError as error:
        warn(str(error))
        return error.code
    try:
        return asyncio.run(_dispatch(args, settings, out or sys.stdout))
    except CliError as error:
        warn(str(error))
        return error.code
    except KafkaError as error:
        servers = settings.kafka.bootstrap_servers
        failure = kafka_failure(servers, _servers_source(args), error)
        warn(str(failure))
        return failure.code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `callctl results | head`: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
