"""The delivery engine: records in, lanes run them, watermarks committed, flow controlled.

Guarantees it keeps (docs/contract.md, "Guarantees"):
- per-call order and cross-call concurrency: `Lanes`;
- at least once: an offset is committed only when its result and every earlier offset's of its
  partition are acknowledged (`OffsetTracker`); commits are batched every `commit_interval_s`,
  and made on revocation and at shutdown;
- bounded memory, fairly shared: each partition may hold its share of `max_buffered` records
  and of `max_buffered_bytes` waiting; past either, that partition's fetching pauses (the
  others go on), resuming once both are at half.
  One global pause would let a few partitions' backlog of a few calls fill the buffer while
  the calls of the other partitions were never fetched;
- rebalance: a revoked partition's waiting records are dropped (uncommitted, so the next owner
  reads them), its running ones finish or are abandoned with a result, then its watermark is
  committed, all before the partition is handed over.

The engine owns what happens to a record's `Answer`: published and acknowledged, counted, and
the canonical `command` line written, before the offset is done. The in-flight place is given
back as soon as the answer is queued: the acknowledgement is the broker's time, and the lane and
the watermark wait for it without holding a place. A flow only says what the
answer is (`Flow`); a per-record log context (partition, offset, and whatever the flow binds)
is bound with structlog's contextvars, so every line about the record carries it.

About 450 lines, kept whole: fetch, flow control, delivery, commits and the hand-over of a new
partition share the per-partition state above, and splitting them would pass that state between
modules (what is separable is: `Lanes`, `OffsetTracker`, `Handover`, `Publisher`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

import structlog
from structlog.contextvars import bind_contextvars, clear_contextvars

from service.delivery.answers import Answer, AnswerMeter, OutputTopics, messages
from service.delivery.handover import Handover
from service.delivery.lanes import Dropped, Lanes, Turn
from service.delivery.offsets import OffsetTracker
from service.delivery.publishing import Publisher
from service.delivery.records import Record, TopicPartition
from service.delivery.stages import StageMeter, no_stage

log = structlog.get_logger(logger_name="service.engine")

command_log = structlog.get_logger(logger_name="service.command")
LOOP_PROBE_S = 0.1
# Reading a new partition's last commit is one round trip to the group coordinator; past this
# (a coordinator moving, say) its records run without that advice rather than wait.
HANDOVER_READ_TIMEOUT_S = 10.0


class ConsumerControl(Protocol):
    """What the engine needs of the Kafka consumer."""

    async def commit(
        self, offsets: dict[TopicPartition, int], metadata: dict[TopicPartition, str]
    ) -> None: ...

    async def completed(self, tps: set[TopicPartition]) -> dict[TopicPartition, frozenset[int]]:
        """Offsets the last commits of `tps` say are done above their committed offsets."""

    def pause(self, tps: set[TopicPartition]) -> None: ...

    def resume(self, tps: set[TopicPartition]) -> None: ...

    def highwater(self, tp: TopicPartition) -> int | None:
        """The partition's end offset as last fetched, None when unknown."""


class Flow(Protocol):
    """What runs a record: the engine decides when, the flow what the answer is."""

    async def __call__(self, record: Record, turn: Turn) -> Answer:
        """The record's answer. Raising means a bug: the engine answers with `crashed`."""

    def crashed(self, record: Record, error: Exception) -> Answer:
        """The answer for a record whose flow raised, so the partition does not stall. Must
        not raise: a record without an answer holds its partition's watermark."""


@dataclass(frozen=True, slots=True)
class EngineState:
    """What a metrics scrape reads from the engine and the consumer."""

    in_flight: int
    active_lanes: int
    buffered: int
    paused: int  # partitions
    lag: Mapping[tuple[str, int], int]
    assigned: int = 0  # partitions
    commit_failures: int = 0
    rebalances: int = 0  # partition assignments received, revocations included


class Engine:
    def __init__(
        self,
        flow: Flow,
        publisher: Publisher,
        *,
        topics: OutputTopics,
        meter: AnswerMeter,
        max_in_flight: int,
        max_buffered: int,
        max_buffered_bytes: int = 64 * 1024 * 1024,
        commit_interval_s: float,
        revoke_timeout_s: float,
        stage: StageMeter = no_stage,
    ) -> None:
        self._flow = flow
        self._stage = stage
        self._publisher = publisher
        self._topics = topics
        self._meter = meter
        self._lanes = Lanes(
            max_in_flight, self._process, on_place=lambda seconds: stage("place_wait", seconds)
        )
        self._offsets = OffsetTracker()
        self._max_buffered = max_buffered
        self._max_buffered_bytes = max_buffered_bytes
        self._commit_interval_s = commit_interval_s
        self._revoke_timeout_s = revoke_timeout_s
        self._consumer: ConsumerControl | None = None
        self._assigned: set[TopicPartition] = set()
        self._paused: set[TopicPartition] = set()
        self._stopping = False
        self._joined = False
        self._commit_failures = 0
        self._rebalances = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._commit_lock = asyncio.Lock()
        # Offsets a previous owner finished above its last commit (its commit metadata): read
        # when a partition is assigned, they are done at once instead of run again.
        self._handover = Handover()

    # --- wiring --------------------------------------------------------------------------

    def start(self, consumer: ConsumerControl) -> None:
        self._consumer = consumer
        self._tasks = [
            asyncio.create_task(self._commit_every(), name="commit"),
            asyncio.create_task(self._watch_loop(), name="loop-lag"),
        ]

    @property
    def assigned(self) -> frozenset[TopicPartition]:
        return frozenset(self._assigned)

    def state(self) -> EngineState:
        lag = {}
        if self._consumer is not None:
            for tp in self._assigned:
                end = self._consumer.highwater(tp)
                mark = self._offsets.watermark(tp)
                if end is not None and mark is not None:
                    lag[(tp.topic, tp.partition)] = max(end - mark, 0)
        lanes = self._lanes
        return EngineState(
            lanes.in_flight,
            lanes.active_lanes,
            lanes.buffered,
            len(self._paused),
            lag,
            len(self._assigned),
            self._commit_failures,
            self._rebalances,
        )

    @property
    def ready(self) -> bool:
        """Consuming: started, in the group (even with no partition to own), not stopping."""
        return not self.not_ready_reasons()

    def not_ready_reasons(self) -> list[str]:
        """Why `ready` is false, for the `/readyz` body (empty when ready)."""
        reasons = []
        if self._consumer is None:
            reasons.append("consumer not started")
        elif not self._joined:
            reasons.append("not in consumer group")
        if self._stopping:
            reasons.append("stopping")
        return reasons

    # --- intake --------------------------------------------------------------------------

    def submit(self, records: Iterable[Record]) -> None:
        """Queue fetched records on their lanes; never blocks the fetch loop."""
        if self._stopping:
            return  # not read as far as Kafka knows: the next owner gets them
        touched: set[TopicPartition] = set()
        now_ms = time.time() * 1000
        for record in records:
            tp = record.tp
            if tp not in self._assigned:
                continue  # fetched before its partition was revoked
            if record.timestamp_ms is not None:
                # The record's age when handed over: the broker's or producer's clock to ours.
                self._stage("fetch", max(now_ms - record.timestamp_ms, 0.0) / 1000)
            self._offsets.read(tp, record.offset)
            if self._handover.holds(tp):
                self._handover.keep(record)
            elif self._admit(record):
                touched.add(tp)
        for tp in touched:
            self._flow_control(tp)

    def _admit(self, record: Record) -> bool:
        """Queue a record on its lane, or mark it done if its previous owner finished it."""
        if self._handover.was_done(record.tp, record.offset):
            self._offsets.done(record.tp, record.offset)
            return False
        self._lanes.put(record)
        return True

    @property
    def skipped(self) -> int:
        """Records not run because the previous owner's last commit says they are done."""
        return self._handover.skipped

    async def _process(self, record: Record, turn: Turn) -> None:
        # A lane runs its records one after another in one task: each starts a fresh context.
        clear_contextvars()
        bind_contextvars(partition=record.partition, offset=record.offset)
        self._flow_control(record.tp)  # a record left the buffer: maybe room to fetch again
        try:
            answer = await self._flow(record, turn)
        except Dropped:
            return  # not started: it stays pending, uncommitted, for the next owner
        except Exception as error:
            log.exception("command_crashed")
            try:
                answer = self._flow.crashed(record, error)
            except Exception:  # a bug in the bug path: the record stays pending, read again
                log.exception("crash_answer_failed")
                return
        try:
            timings = await self._deliver(record, answer, turn)
        except Exception:
            log.exception("result_not_published")
            return  # stays pending: the watermark holds and the record is read again
        # Published: the record is done whatever the bookkeeping below does, so a failing
        # meter or span can never add a second result.
        self._offsets.done(record.tp, record.offset)
        try:
            self._acknowledged(record, answer, timings)
        except Exception:
            log.exception("answer_bookkeeping_failed")

    async def _deliver(self, record: Record, answer: Answer, turn: Turn) -> tuple[float, float]:
        """Publish the answer and wait for Kafka's acknowledgement; returns the seconds spent
        queueing and waiting for the acknowledgement.

        The in-flight place is given back once the messages are queued: the outcome is stored
        by then, and the acknowledgement is the broker's time, not a command's. The lane (the
        call's order) and the watermark (at least once) still wait for it, and so do resends
        (the place is no longer held, so they wait with a plain sleep)."""
        started = time.perf_counter()
        queued = await self._publisher.queue(messages(record, answer, self._topics))
        queued_at = time.perf_counter()
        turn.release()
        await self._publisher.acknowledged(queued)
        return queued_at - started, time.perf_counter() - queued_at

    def _acknowledged(self, record: Record, answer: Answer, timings: tuple[float, float]) -> None:
        """Count and log an acknowledged answer."""
        self._stage("publish", timings[0])
        self._stage("publish_ack", timings[1])
        if answer.published is not None:
            answer.published()
        age_s = None
        if record.timestamp_ms is not None:
            age_s = max(time.time() - record.timestamp_ms / 1000, 0.0)
        self._meter.answered(answer, age_s)
        command_log.info(
            "command",
            **answer.summary,
            type=answer.kind,
            outcome=answer.outcome,
            duplicate=answer.duplicate,
            partition=record.partition,
            offset=record.offset,
        )

    def _flow_control(self, tp: TopicPartition) -> None:
        consumer = self._consumer
        if consumer is None or self._stopping:
            return
        owners = max(len(self._assigned), 1)
        share = max(self._max_buffered // owners, 1)
        byte_share = max(self._max_buffered_bytes // owners, 1)
        buffered = self._lanes.buffered_by_partition.get(tp, 0)
        buffered_bytes = self._lanes.buffered_bytes_by_partition.get(tp, 0)
        # A failing client call leaves the state as it was: the next record re-evaluates it.
        try:
            if tp not in self._paused and (buffered >= share or buffered_bytes >= byte_share):
                consumer.pause({tp})
                self._paused.add(tp)
                log.info(
                    "fetching_paused",
                    partition=tp.partition,
                    buffered=buffered,
                    buffered_bytes=buffered_bytes,
                    share=share,
                    byte_share=byte_share,
                )
            elif (
                tp in self._paused and buffered <= share // 2 and buffered_bytes <= byte_share // 2
            ):
                consumer.resume({tp})
                self._paused.discard(tp)
                log.info("fetching_resumed", partition=tp.partition, buffered=buffered)
        except Exception:
            log.exception("flow_control_failed", partition=tp.partition)

    async def _watch_loop(self) -> None:
        """How late the event loop runs a timer: the wait every step of every command pays
        on a congested loop (the `loop_lag` stage)."""
        while True:
            started = time.perf_counter()
            await asyncio.sleep(LOOP_PROBE_S)
            self._stage("loop_lag", max(time.perf_counter() - started - LOOP_PROBE_S, 0.0))

    # --- commits -------------------------------------------------------------------------

    async def _commit_every(self) -> None:
        while True:
            await asyncio.sleep(self._commit_interval_s)
            try:
                await self.commit()
            except Exception:
                log.exception("periodic_job_failed", job="commit")

    async def commit(self, only: set[TopicPartition] | None = None) -> None:
        """Commit every watermark that moved (of `only`, when given)."""
        if self._consumer is None:
            return
        async with self._commit_lock:
            offsets = self._offsets.to_commit(only)
            if not offsets:
                return
            metadata, versions = self._offsets.metadata(offsets, self._handover.pending)
            try:
                await self._consumer.commit(offsets, metadata)
            except Exception as error:  # a rebalance under way: the revoke path commits
                self._commit_failures += 1
                log.warning("commit_failed", error=type(error).__name__, partitions=len(offsets))
                return
            self._offsets.committed(offsets, versions)

    # --- rebalance -----------------------------------------------------------------------

    async def assign(
        self, tps: set[TopicPartition], consumer: ConsumerControl | None = None
    ) -> None:
        """Own `tps`, after learning what their previous owner finished above its last commit,
        so those records are not run again (advice only: on any failure they are run again).
        Their fetching is paused meanwhile, and records fetched anyway wait (`Handover`).

        `consumer` is for a process's first assignment, which comes while the broker starts,
        before `start`: without it a freshly started replica (the usual new owner after a
        kill -9) would run again everything its predecessor finished above the watermark."""
        self._joined = True
        self._rebalances += 1
        self._assigned |= tps
        log.info("partitions_assigned", partitions=sorted(f"{t}-{p}" for t, p in tps))
        control = consumer or self._consumer
        if control is None or not tps:
            return
        self._handover.hold(tps)
        done: dict[TopicPartition, frozenset[int]] = {}
        self._pause_quietly(control, tps)
        try:
            done = await asyncio.wait_for(control.completed(tps), HANDOVER_READ_TIMEOUT_S)
        except Exception as error:
            log.warning("completed_offsets_unread", error=type(error).__name__)
        finally:
            held = self._handover.release(tps, done)
            owned = tps & self._assigned  # a stop or a revoke may have come meanwhile
            if not self._stopping:
                self._resume_quietly(control, owned - self._paused)
                admitted = {r.tp for r in held if r.tp in owned and self._admit(r)}
                for tp in admitted:
                    self._flow_control(tp)
        if done:
            log.info("completed_offsets_restored", offsets=sum(map(len, done.values())))

    @staticmethod
    def _pause_quietly(control: ConsumerControl, tps: set[TopicPartition]) -> None:
        try:
            control.pause(tps)
        except Exception:  # records fetched anyway are held all the same
            log.exception("flow_control_failed", partitions=len(tps))

    @staticmethod
    def _resume_quietly(control: ConsumerControl, tps: set[TopicPartition]) -> None:
        try:
            control.resume(tps)
        except Exception:  # not assigned any more: nothing to resume
            log.exception("flow_control_failed", partitions=len(tps))

    async def revoke(self, tps: set[TopicPartition]) -> None:
        """Finish or abandon the partitions' work and commit it, before they are handed over."""
        if not tps:
            return
        self._assigned -= tps
        self._paused -= tps
        dropped = self._lanes.drop_queued(tps)
        finished = await self._lanes.wait_idle(tps, self._revoke_timeout_s)
        if not finished:
            await self._lanes.abandon(tps, self._revoke_timeout_s)
        await self.commit(only=tps)  # still saying what the previous owner did, if unread
        self._offsets.forget(tps)
        self._handover.forget(tps)
        log.info(
            "partitions_revoked",
            partitions=sorted(f"{t}-{p}" for t, p in tps),
            dropped=dropped,
            abandoned=not finished,
        )

    # --- shutdown ------------------------------------------------------------------------

    async def stop(self, grace_s: float) -> None:
        """Stop taking records, let running commands finish within `grace_s`, abandon the rest
        with a result, commit."""
        self._stopping = True
        if self._consumer is not None and self._assigned:
            self._consumer.pause(set(self._assigned))
        dropped = self._lanes.drop_queued()
        finished = await self._lanes.wait_idle(None, grace_s)
        if not finished:
            await self._lanes.abandon(None, within_s=10.0)
        await self.commit()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        log.info("engine_stopped", dropped=dropped, abandoned=not finished)
