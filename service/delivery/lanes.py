"""Per-call lanes: one call's records run one at a time in offset order; calls run concurrently.

A lane is keyed by (partition, record key), so the commands of one call, which producers key
by `callId`, queue behind each other while other calls proceed. One asyncio task per non-empty
lane; it ends when the lane empties. A global semaphore bounds the commands in flight; a command
waiting out a retry backoff gives its slot back, so a struggling call never holds up the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from enum import Enum

import structlog

from service.delivery.records import Record, TopicPartition

log = structlog.get_logger(logger_name="service.lanes")

LaneKey = tuple[TopicPartition, bytes | None]


class Phase(Enum):
    WAITING = "waiting"
    EXECUTING = "executing"
    PUBLISHING = "publishing"


class Slot:
    """A record's hold on an in-flight place, and the engine's handle to abandon it."""

    __slots__ = ("_semaphore", "abandoning", "command_id", "phase", "record")

    def __init__(self, semaphore: asyncio.Semaphore, record: Record) -> None:
        self._semaphore = semaphore
        self.record = record
        self.phase = Phase.WAITING
        self.abandoning = False
        self.command_id: str | None = None

    async def pause(self, seconds: float) -> None:
        """Sleep without holding the in-flight place (a retry backoff)."""
        self._semaphore.release()
        try:
            await asyncio.sleep(seconds)
        finally:
            await self._semaphore.acquire()


Process = Callable[[Record, Slot], Awaitable[None]]


class Lanes:
    def __init__(self, max_in_flight: int, process: Process) -> None:
        self._process = process
        self._semaphore = asyncio.Semaphore(max_in_flight)
        self._queues: dict[LaneKey, deque[Record]] = {}
        self._tasks: dict[LaneKey, asyncio.Task[None]] = {}
        self._running: dict[LaneKey, Slot] = {}
        self._idle = asyncio.Condition()
        self._watchers = 0
        self.buffered = 0
        self.buffered_by_partition: dict[TopicPartition, int] = {}

    @property
    def in_flight(self) -> int:
        return len(self._running)

    @property
    def active_lanes(self) -> int:
        return len(self._tasks)

    def put(self, record: Record) -> None:
        key: LaneKey = (record.tp, record.key)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque()
        queue.append(record)
        self.buffered += 1
        self.buffered_by_partition[key[0]] = self.buffered_by_partition.get(key[0], 0) + 1
        if key not in self._tasks:
            self._tasks[key] = asyncio.create_task(self._run(key), name=f"lane-{record.partition}")

    async def _run(self, key: LaneKey) -> None:
        queue = self._queues[key]
        try:
            while queue:
                async with self._semaphore:
                    # Taken only once a place is free: until then the record still counts as
                    # buffered, and a rebalance or a stop can still drop it.
                    if not queue:
                        break
                    record = queue.popleft()
                    self._unbuffer(key[0], 1)
                    slot = self._running[key] = Slot(self._semaphore, record)
                    try:
                        await self._process(record, slot)
                    finally:
                        del self._running[key]
                        await self._notify()
        finally:
            self._unbuffer(key[0], len(queue))
            queue.clear()
            del self._queues[key]
            del self._tasks[key]
            await self._notify()

    def _unbuffer(self, tp: TopicPartition, count: int) -> None:
        if count:
            self.buffered -= count
            left = self.buffered_by_partition[tp] - count
            if left:
                self.buffered_by_partition[tp] = left
            else:
                del self.buffered_by_partition[tp]

    async def _notify(self) -> None:
        if self._watchers:  # only rebalance and shutdown wait; the hot path skips the lock
            async with self._idle:
                self._idle.notify_all()

    def _keys_of(self, tps: set[TopicPartition] | None) -> list[LaneKey]:
        return [k for k in self._tasks if tps is None or k[0] in tps]

    def drop_queued(self, tps: set[TopicPartition] | None = None) -> int:
        """Forget records not yet started (they stay uncommitted: the next owner reads them)."""
        dropped = 0
        for key in self._keys_of(tps):
            queue = self._queues[key]
            dropped += len(queue)
            self._unbuffer(key[0], len(queue))
            queue.clear()
        return dropped

    def _busy(self, tps: set[TopicPartition] | None) -> bool:
        return bool(self._keys_of(tps))

    async def wait_idle(self, tps: set[TopicPartition] | None, within_s: float) -> bool:
        """Wait until no lane of `tps` (all when None) runs; False on timeout."""
        self._watchers += 1
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(within_s), self._idle:
                    await self._idle.wait_for(lambda: not self._busy(tps))
        finally:
            self._watchers -= 1
        return not self._busy(tps)

    async def abandon(self, tps: set[TopicPartition] | None, within_s: float) -> None:
        """Cut short what still executes in `tps`: its handler publishes an abandoned result."""
        for key in self._keys_of(tps):
            slot = self._running.get(key)
            if slot is not None and slot.phase is Phase.EXECUTING:
                slot.abandoning = True
                self._tasks[key].cancel()
        if not await self.wait_idle(tps, within_s):
            stuck = self._keys_of(tps)
            log.error("lanes_stuck_after_abandon", lanes=len(stuck))
            for key in stuck:
                self._tasks[key].cancel()
            await asyncio.gather(
                *(self._tasks[k] for k in stuck if k in self._tasks), return_exceptions=True
            )

    def executing_command_ids(self) -> Iterable[str]:
        """Commands whose idempotency lease must be kept alive."""
        return [s.command_id for s in self._running.values() if s.command_id is not None]
