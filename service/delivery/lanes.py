"""Per-call lanes: one call's records run one at a time in offset order; calls run concurrently.

A lane is keyed by (partition, record key), so the commands of one call, which producers key
by `callId`, queue behind each other while other calls proceed. One asyncio task per non-empty
lane; it ends when the lane empties. A global semaphore bounds the commands in flight; a command
waiting out a retry backoff gives its place back (`Turn.pause`), so a struggling call never
holds up the rest, and a command whose answer is stored and queued gives it back for good
(`Turn.release`) while its lane waits for the broker's acknowledgement.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog

from service.delivery.records import Record, TopicPartition

log = structlog.get_logger(logger_name="service.lanes")

LaneKey = tuple[TopicPartition, bytes | None]
T = TypeVar("T")


class Abandoned(Exception):
    """Delivery gave up waiting for this work (a shutdown or a rebalance ran out of time): what
    it did, or would have done, is unknown."""


class Dropped(Exception):
    """Delivery dropped this record before its command started (a rebalance or a stop while it
    waited on another owner's claim): like a record still queued, it gets no answer and stays
    uncommitted, so the partition's next owner reads it."""


class Turn:
    """A record's turn: its hold on an in-flight place, and all a flow may do with it.

    - `pause(s)`: wait without holding the place (a retry backoff), so others run meanwhile;
    - `abandonable(work)`: await work that delivery may abandon; then `Abandoned` is raised;
    - `droppable(wait)`: a wait before the command has started anything, which delivery ends
      when it drops the partition's waiting records; then `Dropped` is raised.

    Abandoning works through an `asyncio.timeout` scope whose deadline delivery moves to now:
    asyncio itself cancels the work and turns the cancellation into an exception of the scope,
    so no flow has to tell an abandonment from any other cancellation.
    """

    __slots__ = ("_drop_scope", "_holding", "_scope", "_semaphore")

    def __init__(self, semaphore: asyncio.Semaphore) -> None:
        """`semaphore` has just been acquired for this turn."""
        self._semaphore = semaphore
        self._holding = True
        self._scope: asyncio.Timeout | None = None
        self._drop_scope: asyncio.Timeout | None = None

    async def pause(self, seconds: float) -> None:
        """Sleep without holding the in-flight place."""
        self._semaphore.release()
        self._holding = False
        try:
            await asyncio.sleep(seconds)
        finally:
            # Cancelled while waiting for a place, it holds none: `_end` must not release.
            await self._semaphore.acquire()
            self._holding = True

    async def abandonable(self, work: Awaitable[T]) -> T:
        """Await `work`; raises `Abandoned` when delivery abandons it meanwhile."""
        scope = self._scope = asyncio.timeout(None)
        try:
            async with scope:
                return await work
        except TimeoutError:
            if scope.expired():
                raise Abandoned from None
            raise  # the work's own timeout
        finally:
            self._scope = None

    def _abandon(self) -> bool:
        """Cut short what runs under `abandonable`; False when nothing does."""
        return _expire(self._scope)

    async def droppable(self, wait: Awaitable[T]) -> T:
        """Await `wait`; raises `Dropped` when delivery drops the record meanwhile."""
        scope = self._drop_scope = asyncio.timeout(None)
        try:
            async with scope:
                return await wait
        except TimeoutError:
            if scope.expired():
                raise Dropped from None
            raise
        finally:
            self._drop_scope = None

    def _drop(self) -> bool:
        """End what waits under `droppable`; False when nothing does."""
        return _expire(self._drop_scope)

    @property
    def holding(self) -> bool:
        return self._holding

    def release(self) -> None:
        """Give the in-flight place back for good: what is left of the turn is not the
        command's own work (the broker acknowledging its answer). The lane, and with it the
        call's order, is still held until the turn ends."""
        if self._holding:
            self._holding = False
            self._semaphore.release()

    _end = release


def _expire(scope: asyncio.Timeout | None) -> bool:
    """Move a scope's deadline to now: asyncio cancels what runs in it."""
    if scope is None:
        return False
    scope.reschedule(asyncio.get_running_loop().time())
    return True


Process = Callable[[Record, Turn], Awaitable[None]]


def _size(record: Record) -> int:
    """What a waiting record costs in memory, near enough: its key and value."""
    return len(record.value or b"") + len(record.key or b"")


class Lanes:
    def __init__(
        self,
        max_in_flight: int,
        process: Process,
        *,
        on_place: Callable[[float], None] = lambda seconds: None,
    ) -> None:
        self._process = process
        self._on_place = on_place  # seconds a record's lane waited for an in-flight place
        self._semaphore = asyncio.Semaphore(max_in_flight)
        self._queues: dict[LaneKey, deque[Record]] = {}
        self._tasks: dict[LaneKey, asyncio.Task[None]] = {}
        self._running: dict[LaneKey, Turn] = {}
        self._idle = asyncio.Condition()
        self._watchers = 0
        self.buffered = 0
        self.buffered_by_partition: dict[TopicPartition, int] = {}
        # Bytes as well as records: 10,000 records of 64 KiB are 640 MiB.
        self.buffered_bytes = 0
        self.buffered_bytes_by_partition: dict[TopicPartition, int] = {}

    @property
    def in_flight(self) -> int:
        """Commands holding a place (not those only waiting for their answer's
        acknowledgement); counted at scrape time, off the hot path."""
        return sum(1 for turn in self._running.values() if turn.holding)

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
        size = _size(record)
        self.buffered_bytes += size
        by_partition = self.buffered_bytes_by_partition
        by_partition[key[0]] = by_partition.get(key[0], 0) + size
        if key not in self._tasks:
            self._tasks[key] = asyncio.create_task(self._run(key), name=f"lane-{record.partition}")

    async def _run(self, key: LaneKey) -> None:
        queue = self._queues[key]
        try:
            while queue:
                asked = time.perf_counter()
                await self._semaphore.acquire()
                self._on_place(time.perf_counter() - asked)
                turn = Turn(self._semaphore)
                try:
                    # Taken only once a place is free: until then the record still counts as
                    # buffered, and a rebalance or a stop can still drop it.
                    if not queue:
                        break
                    record = queue.popleft()
                    self._unbuffer(key[0], 1, _size(record))
                    self._running[key] = turn
                    try:
                        await self._process(record, turn)
                    except Exception:  # `process` answers for its record; a bug here must
                        # not end the lane and drop the records queued behind it
                        log.exception("lane_process_failed", partition=record.partition)
                    finally:
                        del self._running[key]
                        await self._notify()
                finally:
                    turn._end()
        finally:
            self._unbuffer(key[0], len(queue), sum(map(_size, queue)))
            queue.clear()
            del self._queues[key]
            del self._tasks[key]
            await self._notify()

    def _unbuffer(self, tp: TopicPartition, count: int, size: int) -> None:
        if count:
            self.buffered -= count
            left = self.buffered_by_partition[tp] - count
            if left:
                self.buffered_by_partition[tp] = left
            else:
                del self.buffered_by_partition[tp]
            self.buffered_bytes -= size
            bytes_left = self.buffered_bytes_by_partition[tp] - size
            if left:
                self.buffered_bytes_by_partition[tp] = bytes_left
            else:
                del self.buffered_bytes_by_partition[tp]

    async def _notify(self) -> None:
        if self._watchers:  # only rebalance and shutdown wait; the hot path skips the lock
            async with self._idle:
                self._idle.notify_all()

    def _keys_of(self, tps: set[TopicPartition] | None) -> list[LaneKey]:
        return [k for k in self._tasks if tps is None or k[0] in tps]

    def drop_queued(self, tps: set[TopicPartition] | None = None) -> int:
        """Forget records not yet started (they stay uncommitted: the next owner reads them),
        those waiting under `Turn.droppable` included: a record waiting on another owner's
        claim (a dead replica's) must not hold up a hand-over."""
        dropped = 0
        for key in self._keys_of(tps):
            queue = self._queues[key]
            dropped += len(queue)
            self._unbuffer(key[0], len(queue), sum(map(_size, queue)))
            queue.clear()
            turn = self._running.get(key)
            if turn is not None and turn._drop():
                dropped += 1
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
        """Abandon what still executes in `tps` (its flow answers for it), wait for the lanes
        to end, and cancel those that do not end in time."""
        for key in self._keys_of(tps):
            turn = self._running.get(key)
            if turn is not None:
                turn._abandon()
        if not await self.wait_idle(tps, within_s):
            stuck = self._keys_of(tps)
            log.error("lanes_stuck_after_abandon", lanes=len(stuck))
            for key in stuck:
                self._tasks[key].cancel()
            await asyncio.gather(
                *(self._tasks[k] for k in stuck if k in self._tasks), return_exceptions=True
            )
