"""Kafka for tests and benchmarks: topics, producing, and reading topics back.

Public aiokafka API only: partitions are learnt from the admin client, not from a consumer's
private metadata. Imports nothing of the service at run time, so that the benchmark's load
generator starts light.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

if TYPE_CHECKING:
    from service.settings import TopicSettings


PRODUCE_CHUNK = 5_000

# Topics this process named or created, deleted at the end of a test session so that a
# long-lived development broker does not pile up thousands of partitions (it loads every one
# before it listens, and once past a few thousand it no longer starts within its timeout).
_named_topics: set[str] = set()


def remember_topics(names: Iterable[str]) -> None:
    """Note topics to delete when the test session ends (see `forget_named_topics`)."""
    _named_topics.update(names)


async def forget_named_topics(bootstrap: str) -> int:
    """Delete every topic noted by `remember_topics`; returns how many were asked for. Only
    this process's topics: other test runs may share the broker."""
    names = sorted(_named_topics)
    _named_topics.clear()
    for start in range(0, len(names), 500):
        await delete_topics(bootstrap, names[start : start + 500])
    return len(names)


def command(call_id: str, type_: str, **fields: Any) -> dict[str, Any]:
    """A command with a fresh `commandId`."""
    return {"commandId": f"cmd-{uuid.uuid4().hex}", "callId": call_id, "type": type_, **fields}


@contextlib.asynccontextmanager
async def _admin(bootstrap: str) -> Any:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


async def partitions_of(bootstrap: str, topic: str, wait_s: float = 10.0) -> list[int]:
    """The topic's partitions; waits up to `wait_s` for a topic just created elsewhere."""
    deadline = time.monotonic() + wait_s
    async with _admin(bootstrap) as admin:
        while True:
            # All topics: asking for one by name would let the broker auto-create it, with
            # its default partition count, before the service creates it properly.
            described = await admin.describe_topics()
            found = sorted(
                p["partition"]
                for t in described
                if t["topic"] == topic
                for p in t.get("partitions") or ()
            )
            if found or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.1)


async def create_topics(
    bootstrap: str,
    names: Sequence[str],
    partitions: int,
    configs: Mapping[str, str] | None = None,
) -> None:
    """Create the topics (those that exist are left as they are) and wait until they are seen."""
    remember_topics(names)
    async with _admin(bootstrap) as admin:
        topics = [
            NewTopic(name, partitions, 1, topic_configs=dict(configs or {})) for name in names
        ]
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics(topics)
    for name in names:
        if not await partitions_of(bootstrap, name, wait_s=20):
            raise TimeoutError(f"topic not visible: {name}")


async def delete_topics(bootstrap: str, names: Iterable[str]) -> None:
    names = list(names)
    if names:
        async with _admin(bootstrap) as admin:
            with contextlib.suppress(Exception):
                await admin.delete_topics(names)


def new_producer(bootstrap: str, **options: Any) -> AIOKafkaProducer:
    """Idempotent (acks=all), linger 5 ms unless told otherwise."""
    settings: dict[str, Any] = {"enable_idempotence": True, "linger_ms": 5, **options}
    return AIOKafkaProducer(bootstrap_servers=bootstrap, **settings)


async def produce(
    bootstrap: str, topic: str, records: Sequence[tuple[bytes | None, bytes]]
) -> None:
    """(key, value) records as fast as the producer goes, each acknowledged, in chunks."""
    producer = new_producer(bootstrap, max_batch_size=262_144)
    await producer.start()
    try:
        for start in range(0, len(records), PRODUCE_CHUNK):
            futures = [
                await producer.send(topic, value, key=key)
                for key, value in records[start : start + PRODUCE_CHUNK]
            ]
            await asyncio.gather(*futures)
    finally:
        await producer.stop()


@dataclass(frozen=True, slots=True)
class Received:
    """A record read back from a topic."""

    topic: str
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]
    partition: int
    offset: int
    timestamp_ms: int

    @classmethod
    def of(cls, record: Any) -> Received:
        return cls(
            record.topic,
            record.key,
            record.value,
            dict(record.headers or ()),
            record.partition,
            record.offset,
            record.timestamp,
        )

    def json(self) -> Any:
        return json.loads(self.value)


async def read_topic(bootstrap: str, topic: str, timeout_s: float = 120) -> list[Received]:
    """Every record of the topic, up to its end now."""
    tps = [TopicPartition(topic, p) for p in await partitions_of(bootstrap, topic)]
    if not tps:
        return []
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: list[Received] = []
        deadline = time.monotonic() + timeout_s
        while any([await consumer.position(tp) < ends[tp] for tp in tps]):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic} took over {timeout_s} s")
            batch = await consumer.getmany(timeout_ms=500, max_records=20_000)
            for part in batch.values():
                out.extend(Received.of(r) for r in part)
        return out
    finally:
        await consumer.stop()


class TopicCounter:
    """Counts a topic's records cheaply: the sum of its partitions' end offsets."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._consumer: AIOKafkaConsumer | None = None
        self._tps: list[TopicPartition] = []

    async def __aenter__(self) -> TopicCounter:
        partitions = await partitions_of(self._bootstrap, self._topic)
        self._tps = [TopicPartition(self._topic, p) for p in partitions]
        if self._tps:  # no topic yet, nothing to count (and aiokafka's idle stop may raise)
            self._consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, group_id=None)
            await self._consumer.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def count(self) -> int:
        if self._consumer is None:
            return 0
        ends = await self._consumer.end_offsets(self._tps)
        return int(sum(ends.values()))


async def count_records(bootstrap: str, topic: str) -> int:
    async with TopicCounter(bootstrap, topic) as counter:
        return await counter.count()


@dataclass
class KafkaClient:
    """Produces commands and reads every other topic of one topic set as records arrive."""

    bootstrap: str
    topics: TopicSettings
    received: list[Received] = field(default_factory=list)
    # aiokafka security options (service.kafka client options), for a secured broker
    security: dict[str, Any] = field(default_factory=dict)
    _producer: AIOKafkaProducer | None = None
    _consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> KafkaClient:
        self._producer = new_producer(self.bootstrap, linger_ms=0, **self.security)
        await self._producer.start()
        outputs = [
            getattr(self.topics, name)
            for name in type(self.topics).model_fields
            if name != "commands"
        ]
        self._consumer = AIOKafkaConsumer(
            *outputs,
            bootstrap_servers=self.bootstrap,
            auto_offset_reset="earliest",
            group_id=None,
            metadata_max_age_ms=1000,
            **self.security,
        )
        await self._consumer.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._producer:
            await self._producer.stop()
        if self._consumer:
            await self._consumer.stop()

    async def send(self, value: dict[str, Any] | bytes, key: str | bytes | None = None) -> None:
        """One command (a dict is sent as JSON, keyed by its `callId` unless `key` is given)."""
        assert self._producer is not None
        raw = value if isinstance(value, bytes) else json.dumps(value).encode()
        if key is None and isinstance(value, dict):
            key = value.get("callId")
        key_bytes = key.encode() if isinstance(key, str) else key
        await self._producer.send_and_wait(self.topics.commands, raw, key=key_bytes)

    async def collect(
        self, done: Callable[[list[Received]], bool], timeout_s: float = 30.0
    ) -> list[Received]:
        """Read until `done(received)` holds; fails with what arrived when time runs out."""
        assert self._consumer is not None
        deadline = time.monotonic() + timeout_s
        while not done(self.received):
            if time.monotonic() > deadline:
                summary = [(r.topic, r.value[:200]) for r in self.received]
                raise AssertionError(f"timed out after {timeout_s}s; received {summary}")
            batch = await self._consumer.getmany(timeout_ms=500)
            for records in batch.values():
                self.received.extend(Received.of(r) for r in records)
        return self.received

    def on(self, topic: str) -> list[Received]:
        return [r for r in self.received if r.topic == topic]

    def results(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.on(self.topics.results)]

    async def results_for(
        self, command_ids: list[str], timeout_s: float = 30.0
    ) -> dict[str, dict[str, Any]]:
        wanted = set(command_ids)

        def have_all(_: list[Received]) -> bool:
            return wanted <= {r["commandId"] for r in self.results()}

        await self.collect(have_all, timeout_s)
        return {r["commandId"]: r for r in self.results() if r["commandId"] in wanted}
