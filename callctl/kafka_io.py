"""`callctl`'s Kafka clients: an idempotent producer, and readers outside any consumer group
that are assigned partitions by hand, seek, and read to the end offsets (or follow).

Public aiokafka API only. Topic metadata comes from an admin client asking for every topic, so
that asking never auto-creates the topic on a broker that allows it.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import sys
import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
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
from aiokafka.partitioner import DefaultPartitioner

from callctl.common import EXIT_KAFKA, EXIT_NOT_OK, EXIT_USAGE, PROG, CliError, warn
from service.kafka.options import client_options
from service.kafka.preflight import check_broker
from service.ops.refusals import Refused
from service.settings import KafkaSettings

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


class Producer(Protocol):
    async def send_and_wait(
        self, topic: str, value: bytes | None, key: bytes | None, **kwargs: Any
    ) -> Any: ...


def options(kafka: KafkaSettings) -> dict[str, Any]:
    try:
        built = client_options(kafka)
    except Refused as refused:  # a TLS file that does not load
        raise CliError(str(refused), EXIT_USAGE) from None
    return {**built, "client_id": PROG, "request_timeout_ms": REQUEST_TIMEOUT_MS}


async def preflight(kafka: KafkaSettings) -> None:
    """A refused password or certificate as one line naming the setting."""
    options(kafka)  # a TLS file that does not load is a usage error, before any connection
    try:
        await check_broker(kafka)
    except Refused as refused:
        raise CliError(str(refused), EXIT_KAFKA) from None


async def topic_partitions(kafka: KafkaSettings, topic: str, variable: str) -> list[int]:
    """The topic's partitions from fresh metadata; CliError when the topic does not exist."""
    await preflight(kafka)
    admin = AIOKafkaAdminClient(**options(kafka))
    try:
        await admin.start()
        described = await admin.describe_topics()  # every topic: naming one could create it
    finally:
        await admin.close()
    for entry in described:
        if entry["topic"] == topic and entry["error_code"] == 0 and entry["partitions"]:
            return sorted(p["partition"] for p in entry["partitions"])
    raise CliError(
        f"topic {topic!r} does not exist (set by {variable}; the service creates its topics "
        "on start when CALLCTL_KAFKA__CREATE_TOPICS=true)",
        EXIT_NOT_OK,
    )


@contextlib.asynccontextmanager
async def open_producer(kafka: KafkaSettings, topic: str) -> AsyncIterator[Producer]:
    """An idempotent producer, once `topic` is known to exist."""
    await topic_partitions(kafka, topic, "CALLCTL_TOPICS__COMMANDS")
    producer = AIOKafkaProducer(enable_idempotence=True, **options(kafka))
    try:
        await producer.start()
        yield producer
    finally:
        with contextlib.suppress(Exception):
            await producer.stop()


def key_partition(key: bytes, partitions: Sequence[int]) -> int:
    """The partition a producer's default partitioner puts `key` in: murmur2 of the key, as
    the Java client and aiokafka compute it (and so the service, and other teams' producers)."""
    ordered = sorted(partitions)
    chosen: int = DefaultPartitioner()(key, ordered, ordered)
    return chosen


@contextlib.asynccontextmanager
async def open_reader(
    kafka: KafkaSettings, topic: str, variable: str, *, key: bytes | None = None
) -> AsyncIterator[tuple[AIOKafkaConsumer, list[TopicPartition]]]:
    """A consumer outside any group (it commits nothing), assigned the topic's partitions, or
    with `key` only the partition records with that key are produced to."""
    partitions = await topic_partitions(kafka, topic, variable)
    if key is not None:
        partitions = [key_partition(key, partitions)]
    tps = [TopicPartition(topic, p) for p in partitions]
    consumer = AIOKafkaConsumer(
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **options(kafka),
    )
    try:
        await consumer.start()
        consumer.assign(tps)
        yield consumer, tps
    finally:
        await stop_quietly(consumer)


async def stop_quietly(consumer: AIOKafkaConsumer) -> None:
    """Stop a reader whatever state it is in. aiokafka 0.14's `stop()` raises CancelledError
    when it comes soon after `assign()` (its offset-reset task is cancelled and awaited;
    aio-libs/aiokafka#647): that is not this task being cancelled, so it must not turn a clear
    error (`callctl dead-letters show 9` on a topic of 3 partitions) into a traceback."""
    try:
        await consumer.stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
    except Exception:  # noqa: S110 - stopping a reader that failed: nothing to keep
        pass


@dataclass(frozen=True, slots=True)
class Since:
    epoch_ms: int


Start = Literal["beginning", "end"] | Since | dict[TopicPartition, int]


async def seek(consumer: AIOKafkaConsumer, tps: list[TopicPartition], start: Start) -> None:
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
        for tp, at in start.items():
            consumer.seek(tp, at)


def reading(tps: list[TopicPartition], key: bytes | None) -> str:
    """What a read covers, in words, for the progress line."""
    topic = tps[0].topic if tps else "?"
    if key is not None and len(tps) == 1:
        return (
            f"partition {tps[0].partition} of {topic} (that of key {key.decode(errors='replace')})"
        )
    return f"{topic} ({len(tps)} partitions)"


class Progress:
    """`scanned N of M records, K matches` on stderr while a read to the end goes on: every
    `every_s` on a terminal (rewriting one line), else a line every 10 s, so that a long scan
    is never silent. The caller counts matches."""

    def __init__(self, what: str, *, every_s: float = 1.0) -> None:
        self.what = what
        self.matches = 0
        self.scanned = 0
        self.total: int | None = None
        self._tty = sys.stderr.isatty()
        self._every_s = every_s if self._tty else 10.0
        self._started = self._last = time.monotonic()
        self._shown = False

    def start(self, total: int) -> None:
        self.total = total
        warn(f"reading {self.what}: {total} record{'' if total == 1 else 's'}")

    def advance(self, count: int) -> None:
        self.scanned += count
        now = time.monotonic()
        if now - self._last >= self._every_s:
            self._last = now
            self._show(final=False)

    def finish(self) -> None:
        if self._shown:
            self._show(final=True)

    def _show(self, *, final: bool) -> None:
        self._shown = True
        total = f" of {self.total}" if self.total is not None else ""
        line = (
            f"{PROG}: scanned {self.scanned}{total} records, {self.matches} "
            f"match{'es' if self.matches != 1 else ''}, {time.monotonic() - self._started:.0f} s"
        )
        if self._tty:
            end = "\n" if final else ""
            print(f"\r{line}", end=end, file=sys.stderr, flush=True)
        elif not final:
            print(line, file=sys.stderr, flush=True)


async def records(
    consumer: AIOKafkaConsumer,
    tps: list[TopicPartition],
    start: Start,
    *,
    to_end: bool,
    progress: Progress | None = None,
) -> AsyncGenerator[Any, None]:
    """Records of the assigned partitions from `start`: in offset order within a partition,
    merged across partitions by timestamp. `to_end`: stop at the end offsets as they are now."""
    ends = await consumer.end_offsets(tps) if to_end else {}
    await seek(consumer, tps, start)
    positions = {tp: await consumer.position(tp) for tp in tps}
    pending = {tp for tp in tps if to_end and positions[tp] < ends[tp]}
    if progress is not None and to_end:
        progress.start(sum(max(ends[tp] - positions[tp], 0) for tp in tps))
    idle_since = time.monotonic()
    while pending or not to_end:
        batch = await consumer.getmany(*tps, timeout_ms=POLL_MS)
        fetched = list(heapq.merge(*batch.values(), key=lambda r: r.timestamp))
        for record in fetched:
            yield record
        if progress is not None:
            progress.advance(len(fetched))
        if not to_end:
            continue
        for tp in list(pending):
            if await consumer.position(tp) >= ends[tp]:
                pending.discard(tp)
        if fetched:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > IDLE_STOP_S:
            warn(f"stopped reading: no records for {IDLE_STOP_S:.0f} s before the end offsets")
            break
    if progress is not None:
        progress.finish()


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
