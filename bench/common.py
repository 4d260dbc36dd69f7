"""Shared pieces: the command load, Kafka helpers (topics, backlog, reading a topic back) and
per-process CPU and memory from /proc (no psutil needed)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

ROOT = Path(__file__).resolve().parents[1]
SIM_KEY = "sim-key"
SIM_SECRET = "c2ltLXNlY3JldC0xMjM0NTY="  # noqa: S105 (the simulator's public test secret)
MAX_COMMAND_BYTES = 65_536
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# --- the load ------------------------------------------------------------------------------


def command(index: int, calls: int, run: str) -> tuple[bytes, bytes]:
    """Command `index` of a load spread round-robin over `calls` calls: (key, value).

    Never a hangup: every contender replays the same calls against one simulator, and a call
    that ended would answer 404 to the next contender. Four PATCH shapes, all valid SVAML."""
    call_id = f"{run}-c{index % calls}"
    base: dict[str, Any] = {"commandId": f"{run}-{index}", "callId": call_id}
    kind = index % 4
    if kind == 0:
        body = {**base, "type": "say", "text": f"Hello number {index}", "locale": "en-US"}
    elif kind == 1:
        body = {**base, "type": "playFiles", "ids": [f"#tts[prompt {index}]"], "locale": "en-US"}
    elif kind == 2:
        body = {**base, "type": "sendDtmf", "value": "1234#"}
    else:
        # Not unpark: it needs a parked call and an ICE action (docs/sinch-fidelity.md).
        body = {**base, "type": "stopRecording"}
    return call_id.encode(), json.dumps(body, separators=(",", ":")).encode()


def commands(n: int, calls: int, run: str, start: int = 0) -> list[tuple[bytes, bytes]]:
    return [command(i, calls, run) for i in range(start, start + n)]


# --- Kafka ---------------------------------------------------------------------------------


async def create_topics(bootstrap: str, names: Sequence[str], partitions: int) -> None:
    """Topics stamped with LogAppendTime: every timestamp comes from the broker's one clock, at
    the moment the record became readable, so result - command is the pipeline's own time."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = [
            NewTopic(
                name,
                partitions,
                1,
                topic_configs={"message.timestamp.type": "LogAppendTime"},
            )
            for name in names
        ]
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics(topics)
    finally:
        await admin.close()
    await wait_for_topics(bootstrap, names)


async def wait_for_topics(bootstrap: str, names: Sequence[str], timeout_s: float = 20) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            await consumer._client.force_metadata_update()
            if all(consumer.partitions_for_topic(n) for n in names):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"topics not visible: {names}")
            await asyncio.sleep(0.1)
    finally:
        await consumer.stop()


async def delete_topics(bootstrap: str, names: Iterable[str]) -> None:
    names = list(names)
    if not names:
        return
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        with contextlib.suppress(Exception):
            await admin.delete_topics(names)
    finally:
        await admin.close()


def new_producer(bootstrap: str, **options: Any) -> Any:
    """Idempotent (acks=all), linger 5 ms unless told otherwise."""
    settings: dict[str, Any] = {"enable_idempotence": True, "linger_ms": 5, **options}
    return AIOKafkaProducer(bootstrap_servers=bootstrap, **settings)


async def produce(bootstrap: str, topic: str, records: Sequence[tuple[bytes, bytes]]) -> None:
    """As fast as the producer goes, acknowledged, in chunks (no gather of N futures)."""
    producer = new_producer(bootstrap, max_batch_size=262_144)
    await producer.start()
    try:
        chunk = 5_000
        for start in range(0, len(records), chunk):
            futures = [
                await producer.send(topic, value, key=key)
                for key, value in records[start : start + chunk]
            ]
            await asyncio.gather(*futures)
    finally:
        await producer.stop()


@dataclass(frozen=True, slots=True)
class Rec:
    partition: int
    offset: int
    timestamp_ms: int
    value: bytes


async def read_topic(bootstrap: str, topic: str) -> list[Rec]:
    """Every record of the topic, up to its end now."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: list[Rec] = []
        deadline = time.monotonic() + 120
        while any([await consumer.position(tp) < ends[tp] for tp in tps]):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic} took over 120 s")
            batch = await consumer.getmany(timeout_ms=500, max_records=20_000)
            for part in batch.values():
                out.extend(Rec(r.partition, r.offset, r.timestamp, r.value) for r in part)
        return out
    finally:
        await consumer.stop()


class TopicCounter:
    """Counts a topic's records cheaply: the sum of its partitions' end offsets."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._consumer: Any = None
        self._tps: list[Any] = []

    async def __aenter__(self) -> TopicCounter:
        self._consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, group_id=None)
        await self._consumer.start()
        await self._consumer._client.force_metadata_update()
        partitions = self._consumer.partitions_for_topic(self._topic) or ()
        self._tps = [TopicPartition(self._topic, p) for p in partitions]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self._consumer.stop()

    async def count(self) -> int:
        ends = await self._consumer.end_offsets(self._tps)
        return int(sum(ends.values()))


# --- /proc -----------------------------------------------------------------------------


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of a process (its threads included), None once it is gone."""
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def peak_rss_mib(pid: int | None) -> float | None:
    """VmHWM: the process's peak resident set, in MiB."""
    if pid is None:
        return None
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def system_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    parts = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = parts[3] + parts[4]
    total = sum(parts[:8])
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted sequence."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]
