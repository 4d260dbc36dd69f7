"""The Kafka side: FastStream broker, the commands subscriber, and adapters for the engine.

The one module that touches FastStream's and aiokafka's internals (`FAKE_CONSUMER`, the
subscriber's `consumer`): when a library upgrade breaks one of them, this is where it shows.

Delivery semantics, chosen on purpose: at least once. The subscriber runs with
`AckPolicy.MANUAL` and never acks through FastStream, whose `ack()` commits the consumer's
position (everything fetched, finished or not). The engine commits explicit per-partition
watermarks instead. The producer is idempotent (acks=all), so its own retries add no copies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from itertools import chain
from typing import Any, Protocol

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka import TopicPartition as KafkaTopicPartition
from aiokafka.errors import (
    CorruptRecordException,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
)
from aiokafka.structs import ConsumerRecord
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.message import FAKE_CONSUMER
from faststream.kafka.subscriber.usecase import BatchSubscriber
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from service.delivery import completed
from service.delivery.publishing import Outgoing, Refusal
from service.delivery.records import Record, TopicPartition
from service.domain.decode import Unreadable
from service.kafka.options import client_options
from service.settings import KafkaSettings

JSON_HEADERS = {"content-type": "application/json"}
log = structlog.get_logger(logger_name="service.kafka")


def security(settings: KafkaSettings) -> BaseSecurity | None:
    """FastStream's security object for the broker, built from the same client options as
    every plain aiokafka client (`service.kafka.options`)."""
    options = client_options(settings)
    protocol = options.get("security_protocol")
    if protocol is None:
        return None
    context = options["ssl_context"]
    if protocol == "SSL":
        return BaseSecurity(ssl_context=context)
    kinds = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}
    return kinds[options["sasl_mechanism"]](
        options["sasl_plain_username"],
        options["sasl_plain_password"],
        ssl_context=context,
        use_ssl=protocol == "SASL_SSL",
    )


def build_broker(settings: KafkaSettings, *, logger: logging.Logger) -> KafkaBroker:
    return KafkaBroker(
        settings.bootstrap_servers,
        client_id=settings.client_id,
        enable_idempotence=True,
        security=security(settings),
        logger=logger,
        # Per-batch "Received"/"Processed" lines are noise next to our line per command.
        log_level=logging.DEBUG,
    )


def to_record(raw: Any) -> Record:
    return Record(
        topic=raw.topic,
        partition=raw.partition,
        offset=raw.offset,
        key=raw.key,
        value=raw.value,
        headers=tuple(raw.headers or ()),
        timestamp_ms=raw.timestamp,
    )


async def raw_batch_parser(batch: tuple[Any, ...], _default: Any) -> KafkaMessage:
    """Hand the records over untouched: FastStream's parser decodes header values as UTF-8
    and would fail the whole batch on one producer's binary header."""
    return KafkaMessage(
        body=b"",
        raw_message=batch,
        headers={},
        message_id=f"{batch[0].offset}" if batch else "",
        # FastStream internal: a message needs a consumer, and ours is never acked through it.
        consumer=FAKE_CONSUMER,
    )


def subscriber_consumer(subscriber: BatchSubscriber) -> AIOKafkaConsumer:
    """The aiokafka consumer under a started FastStream subscriber (FastStream internal: its
    `consumer` attribute), for the engine's own commits, pauses and lag."""
    consumer = subscriber.consumer
    assert consumer is not None, "the commands subscriber has no consumer after start"
    return consumer


async def no_decoder(_message: Any, _default: Any) -> None:
    return None


class BrokerProducer:
    """Sends through the FastStream broker's idempotent producer; the future is the ack."""

    def __init__(self, broker: KafkaBroker) -> None:
        self._broker = broker

    async def send(self, message: Outgoing) -> asyncio.Future[object]:
        headers = {**JSON_HEADERS, **message.headers}
        future: asyncio.Future[object] = await self._broker.publish(
            message.value,
            message.topic,
            key=message.key,
            headers=headers,
            no_confirm=True,
        )
        return future


_REFUSALS: tuple[tuple[type[Exception], Refusal], ...] = (
    (MessageSizeTooLargeError, Refusal.TOO_LARGE),  # the producer's own check, or the broker's
    (RecordTooLargeError, Refusal.TOO_LARGE),
    (RecordListTooLargeError, Refusal.TOO_LARGE),
    (UnknownTopicOrPartitionError, Refusal.UNKNOWN_TOPIC),
    (TopicAuthorizationFailedError, Refusal.NOT_AUTHORIZED),
)


def publish_refusal(error: Exception) -> Refusal | None:
    """A send error Kafka would repeat for the same message; None when it may pass later."""
    for kind, refusal in _REFUSALS:
        if isinstance(error, kind):
            return refusal
    return None


def _ours(tp: TopicPartition) -> KafkaTopicPartition:
    return KafkaTopicPartition(tp.topic, tp.partition)


class ConsumerAdapter:
    """The engine's `ConsumerControl` over the subscriber's aiokafka consumer."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self._consumer = consumer

    async def commit(
        self, offsets: dict[TopicPartition, int], metadata: dict[TopicPartition, str]
    ) -> None:
        await self._consumer.commit(
            {_ours(tp): (offset, metadata.get(tp, "")) for tp, offset in offsets.items()}
        )

    async def completed(self, tps: set[TopicPartition]) -> dict[TopicPartition, frozenset[int]]:
        # aiokafka's public `committed()` drops the metadata; its coordinator keeps it.
        fetched = await self._consumer._coordinator.fetch_committed_offsets(
            [_ours(tp) for tp in tps]
        )
        return {
            TopicPartition(tp.topic, tp.partition): completed.decode(meta.metadata, meta.offset)
            for tp, meta in fetched.items()
            if meta is not None and meta.offset >= 0
        }

    def pause(self, tps: set[TopicPartition]) -> None:
        owned = self._consumer.assignment()
        self._consumer.pause(*(t for t in map(_ours, tps) if t in owned))

    def highwater(self, tp: TopicPartition) -> int | None:
        try:
            end: int | None = self._consumer.highwater(_ours(tp))
        except (AssertionError, KeyError, ValueError):  # not assigned (any more)
            return None
        return end

    def resume(self, tps: set[TopicPartition]) -> None:
        owned = self._consumer.assignment()
        self._consumer.resume(*(t for t in map(_ours, tps) if t in owned))


class PartitionOwner(Protocol):
    async def revoke(self, tps: set[TopicPartition]) -> None: ...

    async def assign(self, tps: set[TopicPartition]) -> None: ...


class RebalanceListener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Hands partition changes to the engine; aiokafka awaits these before the rebalance goes on
    (and swallows their exceptions, so they must not raise)."""

    def __init__(self, owner: PartitionOwner) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: set[KafkaTopicPartition]) -> None:
        await self._owner.revoke({TopicPartition(tp.topic, tp.partition) for tp in revoked})

    async def on_partitions_assigned(self, assigned: set[KafkaTopicPartition]) -> None:
        await self._owner.assign({TopicPartition(tp.topic, tp.partition) for tp in assigned})


# --- the consume loop versus the client library ---------------------------------------------
#
# aiokafka 0.14 decodes header keys as strict UTF-8 while it iterates a fetched batch, inside
# `getmany()`, after it has drained other partitions and advanced their positions: one record
# with a non-UTF-8 header key makes `getmany()` raise (UnicodeDecodeError from the C extension,
# CorruptRecordException from the pure-Python one), the records drained so far are dropped with
# their positions advanced (silent loss), and the bad partition never moves past the record.
# docs/known-issues.md has the details. The guard below rewinds, isolates and answers.

_FETCH_FAILURES = (CorruptRecordException,)  # KafkaErrors that are about one record's bytes
_MAX_SALVAGE_STEPS = 100_000


def _positions(consumer: AIOKafkaConsumer) -> dict[KafkaTopicPartition, int]:
    """The next offset to fetch of every assigned partition that has one: everything before it
    has been handed over. Read from aiokafka's subscription state (no await, no fetch)."""
    try:
        assignment = consumer._subscription.subscription.assignment
        states = {tp: assignment.state_value(tp) for tp in consumer.assignment()}
    except AttributeError:  # not assigned yet, or stopping
        return {}
    return {tp: s.position for tp, s in states.items() if s is not None and s.has_valid_position}


def _is_poison(error: Exception) -> bool:
    return isinstance(error, _FETCH_FAILURES) or not isinstance(error, KafkaError)


def unreadable_record(tp: KafkaTopicPartition, offset: int, error: Exception) -> ConsumerRecord:
    """Stands in for a record the client could not read: its coordinates, and why."""
    reason = f"{type(error).__name__}, e.g. a header key that is not UTF-8"
    return ConsumerRecord(
        topic=tp.topic,
        partition=tp.partition,
        offset=offset,
        timestamp=int(time.time() * 1000),
        timestamp_type=0,
        key=None,
        value=Unreadable(reason),
        checksum=None,
        serialized_key_size=-1,
        serialized_value_size=-1,
        headers=(),
    )


async def guarded_getmany(
    consumer: AIOKafkaConsumer, *, timeout_ms: int, max_records: int | None
) -> dict[KafkaTopicPartition, list[ConsumerRecord]]:
    """`consumer.getmany()` that loses nothing when the library fails on a record's bytes."""
    before = _positions(consumer)
    unknown = [tp for tp in consumer.assignment() if tp not in before]
    if unknown:
        # A position still being reset (a new assignment) is resolved first: a fetch that
        # failed before it was known could not be rewound, and what it drained would be lost.
        for tp in unknown:
            with contextlib.suppress(KafkaError, AssertionError, ValueError):
                before[tp] = await consumer.position(tp)
    try:
        batch: dict[KafkaTopicPartition, list[ConsumerRecord]] = await consumer.getmany(
            timeout_ms=timeout_ms, max_records=max_records
        )
        return batch
    except Exception as error:
        if not _is_poison(error):
            raise
        log.error("kafka_fetch_failed", error=type(error).__name__, rewound=len(before))
        # Nothing of this call was handed over: every partition goes back to where it was.
        for tp, offset in before.items():
            consumer.seek(tp, offset)
        return await _isolate(consumer, before, max_records)


async def _isolate(
    consumer: AIOKafkaConsumer, before: dict[KafkaTopicPartition, int], max_records: int | None
) -> dict[KafkaTopicPartition, list[ConsumerRecord]]:
    """Fetch partition by partition; in the one that fails, step record by record up to the
    bad one, hand over what was read before it plus a stand-in for it, and move past it."""
    handed: dict[KafkaTopicPartition, list[ConsumerRecord]] = {}
    for tp in before:
        try:
            records = await consumer.getmany(tp, timeout_ms=1_000, max_records=max_records)
        except Exception as error:
            if not _is_poison(error):
                raise
            consumer.seek(tp, before[tp])
            handed[tp] = await _salvage(consumer, tp)
            continue
        handed.update(records)
    return handed


async def _salvage(consumer: AIOKafkaConsumer, tp: KafkaTopicPartition) -> list[ConsumerRecord]:
    salvaged: list[ConsumerRecord] = []
    for _ in range(_MAX_SALVAGE_STEPS):
        try:
            records = await consumer.getmany(tp, timeout_ms=1_000, max_records=1)
        except Exception as error:
            if not _is_poison(error):
                raise
            # The failing record is the first at or after the position (a gap left by
            # compaction or a transaction marker can only put it later, never earlier).
            offset = _positions(consumer).get(tp)
            if offset is None:
                return salvaged
            log.error(
                "kafka_record_unreadable",
                topic=tp.topic,
                partition=tp.partition,
                offset=offset,
                error=type(error).__name__,
            )
            consumer.seek(tp, offset + 1)
            return [*salvaged, unreadable_record(tp, offset, error)]
        if not records.get(tp):
            return salvaged  # nothing more now: the failure did not come back
        salvaged.extend(records[tp])
    return salvaged


def guard_fetches(subscriber: Any) -> None:
    """Make a FastStream batch subscriber fetch through `guarded_getmany`: its consume loop
    calls `self.get_msg(consumer)` per batch, so an instance attribute takes over from the
    first fetch on (set before the broker starts)."""
    timeout_ms: int = subscriber.batch_timeout_ms
    max_records: int | None = subscriber.max_records

    async def get_msg(consumer: AIOKafkaConsumer) -> tuple[ConsumerRecord, ...]:
        started = time.monotonic()
        batch = await guarded_getmany(consumer, timeout_ms=timeout_ms, max_records=max_records)
        if not batch:
            # `getmany` waits up to the timeout and returns as soon as a record is fetched;
            # FastStream's own get_msg sleeps the timeout again after an empty poll, and a
            # record fetched during that sleep waited for it (up to the timeout, at low load
            # on every command). Sleep only what an early empty return left of the timeout,
            # so a loop without records (no assignment yet, a rewound fetch) never spins.
            left = timeout_ms / 1000 - (time.monotonic() - started)
            if left > 0:
                await asyncio.sleep(left)
            return ()
        return tuple(chain.from_iterable(batch.values()))

    subscriber.get_msg = get_msg
