"""Send call-control commands and wait for their results, as another service would.

Commands are JSON objects as the contract (docs/) defines them, keyed by `callId`; every
command gets exactly one result on the results topic, with the same `commandId`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any, Self

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition


@dataclass(frozen=True)
class Topics:
    commands: str = "call-control.commands.v1"
    results: str = "call-control.results.v1"
    snapshots: str = "call-control.snapshots.v1"
    dead_letter: str = "call-control.dead-letter.v1"

    @classmethod
    def unique(cls, prefix: str = "test") -> Topics:
        """A topic set of its own, e.g. one per test, so tests cannot see each other's records."""
        suffix = uuid.uuid4().hex[:10]
        return cls(
            commands=f"{prefix}.commands.{suffix}",
            results=f"{prefix}.results.{suffix}",
            snapshots=f"{prefix}.snapshots.{suffix}",
            dead_letter=f"{prefix}.dead-letter.{suffix}",
        )


DEFAULT_TOPICS = Topics()


def command(call_id: str, type_: str, **fields: Any) -> dict[str, Any]:
    """A command with a fresh `commandId`, e.g. `command("call-1", "hangup")` or
    `command("call-1", "say", text="Hello", locale="en-US")`."""
    return {"commandId": f"cmd-{uuid.uuid4().hex}", "callId": call_id, "type": type_, **fields}


class CommandClient:
    """An idempotent producer for commands and a reader of results (no consumer group: it
    commits nothing and disturbs no one).

        async with CommandClient("127.0.0.1:19092", Topics()) as client:
            result = await client.execute(command("call-1", "hangup"))
            assert result["outcome"] == "succeeded"
    """

    def __init__(self, bootstrap: str, topics: Topics, *, timeout_s: float = 30.0) -> None:
        self.bootstrap = bootstrap
        self.topics = topics
        self.timeout_s = timeout_s
        self._producer: AIOKafkaProducer | None = None
        self._results: AIOKafkaConsumer | None = None
        # results read but not yet returned, oldest first, per commandId
        self._unclaimed: dict[str, deque[dict[str, Any]]] = defaultdict(deque)

    async def __aenter__(self) -> Self:
        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, enable_idempotence=True)
        await self._producer.start()
        self._results = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False
        )
        await self._results.start()
        # read from the end as of now: results of commands sent from here on
        # fresh metadata for all topics: asking for this one by name could auto-create it. aiokafka
        # has no public call for it on a consumer outside a group.
        cluster = await self._results._client.fetch_all_metadata()
        partitions = cluster.partitions_for_topic(self.topics.results)
        if not partitions:
            await self.__aexit__()
            raise LookupError(
                f"topic {self.topics.results!r} does not exist: start call-control first "
                "(it creates its topics)"
            )
        tps = [TopicPartition(self.topics.results, p) for p in sorted(partitions)]
        self._results.assign(tps)
        await self._results.seek_to_end(*tps)
        for tp in tps:  # resolve the end offsets now, before any command is sent
            await self._results.position(tp)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        if self._results is not None:
            await self._results.stop()
            self._results = None

    async def send(self, command: dict[str, Any]) -> str:
        """Produce `command` (keyed by its callId) and return its commandId."""
        assert self._producer is not None, "use `async with CommandClient(...)`"
        await self._producer.send_and_wait(
            self.topics.commands,
            json.dumps(command).encode(),
            key=str(command["callId"]).encode(),
        )
        return str(command["commandId"])

    async def result(self, command_id: str, *, timeout_s: float | None = None) -> dict[str, Any]:
        """The next result for `command_id` not returned yet (a command sent twice has two);
        TimeoutError if none arrives in time."""
        assert self._results is not None, "use `async with CommandClient(...)`"
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        while not self._unclaimed[command_id]:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"no result for {command_id} on {self.topics.results} "
                    f"within {timeout_s or self.timeout_s:.0f} s"
                )
            batches = await self._results.getmany(timeout_ms=250)
            for records in batches.values():
                for record in records:
                    result = json.loads(record.value)
                    self._unclaimed[str(result.get("commandId"))].append(result)
        return self._unclaimed[command_id].popleft()

    async def execute(self, command: dict[str, Any]) -> dict[str, Any]:
        """`send`, then wait for the result."""
        return await self.result(await self.send(command))

    def execute_blocking(self, command: dict[str, Any]) -> dict[str, Any]:
        """`execute` for synchronous tests: its own event loop, in a worker thread (so it works
        from inside a running loop too)."""

        async def once() -> dict[str, Any]:
            async with self:
                return await self.execute(command)

        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, once()).result()
