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
import logging
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka import TopicPartition as KafkaTopicPartition
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.message import FAKE_CONSUMER
from faststream.kafka.subscriber.usecase import BatchSubscriber
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from service.delivery.publishing import Outgoing
from service.delivery.records import Record, TopicPartition
from service.kafka.options import client_options
from service.settings import KafkaSettings

JSON_HEADERS = {"content-type": "application/json"}


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


def _ours(tp: TopicPartition) -> KafkaTopicPartition:
    return KafkaTopicPartition(tp.topic, tp.partition)


class ConsumerAdapter:
    """The engine's `ConsumerControl` over the subscriber's aiokafka consumer."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self._consumer = consumer

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        await self._consumer.commit({_ours(tp): offset for tp, offset in offsets.items()})

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

    def assign(self, tps: set[TopicPartition]) -> None: ...


class RebalanceListener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Hands partition changes to the engine; aiokafka awaits these before the rebalance goes on
    (and swallows their exceptions, so they must not raise)."""

    def __init__(self, owner: PartitionOwner) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: set[KafkaTopicPartition]) -> None:
        await self._owner.revoke({TopicPartition(tp.topic, tp.partition) for tp in revoked})

    async def on_partitions_assigned(self, assigned: set[KafkaTopicPartition]) -> None:
        self._owner.assign({TopicPartition(tp.topic, tp.partition) for tp in assigned})
