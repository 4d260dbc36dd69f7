"""In-memory stand-ins for `callctl`'s Kafka clients: a producer that records what it sends,
and a reader over fixed partitions that behaves like a group-less aiokafka consumer."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition

from callctl.kafka_io import key_partition
from service.settings import KafkaSettings


@dataclass
class Sent:
    topic: str
    partition: int = 2
    offset: int = 17


@dataclass
class FakeProducer:
    records: list[tuple[str, bytes | None, bytes | None, Any]] = field(default_factory=list)
    opened: list[str] = field(default_factory=list)

    async def send_and_wait(
        self, topic: str, value: bytes | None, key: bytes | None, **kwargs: Any
    ) -> Sent:
        self.records.append((topic, key, value, kwargs.get("headers")))
        return Sent(topic)

    @contextlib.asynccontextmanager
    async def factory(self, kafka: KafkaSettings, topic: str) -> AsyncIterator[FakeProducer]:
        self.opened.append(f"{kafka.bootstrap_servers} {topic}")
        yield self


@dataclass
class FakeRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int = 1_764_547_200_000  # 2025-12-01T00:00:00Z
    headers: tuple[tuple[str, bytes], ...] = ()


class FakeTopics:
    """Topics of a few partitions; `reader` replaces `open_reader` and notes what it read."""

    def __init__(self, partitions: int = 3) -> None:
        self.partitions = partitions
        self.logs: dict[TopicPartition, list[FakeRecord]] = {}
        self.read: list[TopicPartition] = []

    def add(
        self,
        topic: str,
        value: dict[str, Any] | bytes | None,
        key: str | None,
        *,
        partition: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> FakeRecord:
        key_bytes = key.encode() if key is not None else None
        if partition is None:
            assert key_bytes is not None
            partition = key_partition(key_bytes, range(self.partitions))
        tp = TopicPartition(topic, partition)
        log = self.logs.setdefault(tp, [])
        raw = json.dumps(value).encode() if isinstance(value, dict) else value
        encoded = tuple((k, v.encode()) for k, v in (headers or {}).items())
        record = FakeRecord(topic, partition, len(log), key_bytes, raw, headers=encoded)
        log.append(record)
        return record

    @contextlib.asynccontextmanager
    async def reader(
        self, kafka: KafkaSettings, topic: str, variable: str, *, key: bytes | None = None
    ) -> AsyncIterator[tuple[FakeConsumer, list[TopicPartition]]]:
        partitions = list(range(self.partitions))
        if key is not None:
            partitions = [key_partition(key, partitions)]
        tps = [TopicPartition(topic, p) for p in partitions]
        self.read.extend(tps)
        yield FakeConsumer(self.logs), tps


class FakeConsumer:
    def __init__(self, logs: dict[TopicPartition, list[FakeRecord]]) -> None:
        self.logs = logs
        self.positions: dict[TopicPartition, int] = {}

    def assign(self, tps: list[TopicPartition]) -> None:
        return None

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: len(self.logs.get(tp, [])) for tp in tps}

    async def seek_to_beginning(self, *tps: TopicPartition) -> None:
        for tp in tps:
            self.positions[tp] = 0

    async def seek_to_end(self, *tps: TopicPartition) -> None:
        for tp in tps:
            self.positions[tp] = len(self.logs.get(tp, []))

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.positions[tp] = offset

    async def position(self, tp: TopicPartition) -> int:
        return self.positions.get(tp, 0)

    async def getmany(
        self, *tps: TopicPartition, timeout_ms: int = 0
    ) -> dict[TopicPartition, list[FakeRecord]]:
        batch = {}
        for tp in tps:
            at = self.positions.get(tp, 0)
            records = self.logs.get(tp, [])[at:]
            if records:
                batch[tp] = records
                self.positions[tp] = at + len(records)
        if not batch:
            await asyncio.sleep(timeout_ms / 1000)
        return batch
