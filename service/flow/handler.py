"""The flow of one command record, from bytes to acknowledged result.

    decode ─ invalid ─────────────────────────────→ dead letter + rejected result
      └ claim commandId ─ seen ───────────────────→ stored result again, duplicate: true
            ├ other payload ──────────────────────→ dead letter + rejected (idempotency_conflict)
            ├ interrupted, not harmless ──────────→ failed (outcome_unknown)
            └ new ─ expired ──────────────────────→ expired result
                  └ Sinch (retried by policy) ────→ result (+ snapshot)

Every branch ends in exactly one result, published and acknowledged before the offset is done.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import structlog

from service.delivery.lanes import Phase, Slot
from service.delivery.publishing import Outgoing, Publisher
from service.delivery.records import Record
from service.domain.calls import CallRoute, no_route, route_command
from service.domain.commands import Command
from service.domain.decode import Rejection, decode_command
from service.domain.plan import CallRequest, plan
from service.domain.results import (
    ErrorCode,
    ErrorInfo,
    Outcome,
    RequestEcho,
    Result,
    Snapshot,
    Source,
)
from service.domain.svaml import DEFAULT_TTS_MAX_CHARS
from service.domain.wire import utc_now
from service.flow.executor import Execution, Executor
from service.idempotency.store import ClaimKind, IdempotencyStore, fingerprint
from service.ops.metrics import Metrics
from service.ops.tracing import CommandTrace, Tracing
from service.settings import TopicSettings

log = structlog.get_logger(logger_name="service.command")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class HandlerConfig:
    topics: TopicSettings
    max_command_bytes: int
    snapshot_default: bool
    # Command types that never read a snapshot, whatever the command says (Sinch may answer
    # 404 for calls it has no call information for).
    snapshot_off_types: frozenset[str] = frozenset()
    tts_max_chars: int = DEFAULT_TTS_MAX_CHARS


class CommandHandler:
    def __init__(
        self,
        config: HandlerConfig,
        *,
        store: IdempotencyStore,
        executor: Executor,
        publisher: Publisher,
        metrics: Metrics,
        tracing: Tracing,
        clock: Callable[[], datetime] = utc_now,
        call_route: Callable[[str], Awaitable[CallRoute | None]] = no_route,
    ) -> None:
        self._call_route = call_route
        self._metrics = metrics
        self._tracing = tracing
        self._config = config
        self._store = store
        self._executor = executor
        self._publisher = publisher
        self._clock = clock

    async def __call__(self, record: Record, slot: Slot) -> None:
        trace = self._tracing.start(
            record.headers,
            {
                "messaging.system": "kafka",
                "messaging.destination.name": record.topic,
                "messaging.kafka.partition": record.partition,
                "messaging.kafka.offset": record.offset,
            },
        )
        result, snapshot, dead_letter = await self._outcome(record, slot, trace)
        slot.phase = Phase.PUBLISHING
        await self._publish(record, result, snapshot, dead_letter, trace.headers())
        trace.finish(
            {
                "callctl.command_id": result.command_id,
                "callctl.call_id": result.call_id,
                "callctl.type": result.type,
                "callctl.outcome": result.outcome.value,
                "callctl.duplicate": result.duplicate,
                "error.type": result.error.code.value if result.error else None,
            },
            failed=result.outcome is not Outcome.SUCCEEDED,
        )

    async def _outcome(
        self, record: Record, slot: Slot, trace: CommandTrace
    ) -> tuple[Result, Snapshot | None, Rejection | None]:
        """The one result of a record (and its snapshot or dead letter)."""
        started = time.perf_counter()
        received_at = self._clock()
        decoded = decode_command(
            record.key,
            record.value,
            max_bytes=self._config.max_command_bytes,
            tts_max_chars=self._config.tts_max_chars,
        )
        if isinstance(decoded, Rejection):
            return self._rejected(record, decoded, received_at, started), None, decoded
        command = decoded
        slot.command_id = command.command_id
        print_ = fingerprint(command.model_dump_json(by_alias=True).encode())
        claim = await self._persist(slot, self._store.claim, command.command_id, print_)
        while claim.kind is ClaimKind.BUSY:
            await slot.pause(claim.retry_in_s)
            claim = await self._persist(slot, self._store.claim, command.command_id, print_)

        if claim.kind is ClaimKind.DUPLICATE:
            assert claim.result is not None
            return self._replay(record, claim.result, received_at, started), None, None
        if claim.kind is ClaimKind.CONFLICT:
            rejection = Rejection(
                ErrorCode.IDEMPOTENCY_CONFLICT,
                "commandId was used before with a different payload",
                command.command_id,
                command.call_id,
                command.type,
            )
            return self._rejected(record, rejection, received_at, started, command), None, rejection

        # Callbacks hook: the call's region from its ICE; no request once DiCE said it ended.
        route = await self._persist(slot, self._call_route, command.call_id)
        routed = route_command(route, command)
        command = command if isinstance(routed, ErrorInfo) else routed
        request = plan(command)
        if isinstance(routed, ErrorInfo):
            execution = Execution(Outcome.FAILED, 0, None, routed)
        else:
            execution = await self._execution(command, request, claim.kind, slot, trace)
        result = self._result(record, command, request, execution, received_at, started)
        # Stored before it is published: a crash in between replays it instead of guessing.
        await self._persist(
            slot, self._store.complete, command.command_id, print_, result.to_bytes()
        )
        snapshot = None
        if execution.call is not None:
            snapshot = Snapshot(
                call_id=command.call_id,
                observed_at=self._clock(),
                command_id=command.command_id,
                call=execution.call,
            )
        return result, snapshot, None

    async def _persist(
        self, slot: Slot, operation: Callable[..., Awaitable[T]], *args: object
    ) -> T:
        """An idempotency-store call that outlives an outage of the store (Redis restarting,
        a full disk): retried with capped backoff, holding this call's lane and nothing else.
        Failing the command instead would turn an outage into a burst of wrong results."""
        delay = 0.1
        while True:
            try:
                return await operation(*args)
            except Exception as error:
                log.warning(
                    "idempotency_store_unavailable", error=type(error).__name__, retry_in_s=delay
                )
                await slot.pause(delay)
                delay = min(delay * 2, 5.0)

    async def on_crash(self, record: Record, error: BaseException) -> bool:
        """A bug, not bad input: answer with `internal_error` rather than stall the partition.
        Returns whether the record got its result (else it stays pending and is read again)."""
        now = self._clock()
        decoded = decode_command(
            record.key,
            record.value,
            max_bytes=self._config.max_command_bytes,
            tts_max_chars=self._config.tts_max_chars,
        )
        command = decoded if not isinstance(decoded, Rejection) else None
        result = Result(
            command_id=command.command_id if command else None,
            call_id=command.call_id if command else None,
            type=command.type if command else None,
            outcome=Outcome.FAILED,
            error=ErrorInfo(
                code=ErrorCode.INTERNAL_ERROR, message=f"internal error ({type(error).__name__})"
            ),
            received_at=now,
            completed_at=now,
            duration_ms=0.0,
            source=self._source(record),
            metadata=command.metadata if command else None,
        )
        try:
            await self._publish(record, result)
        except Exception:
            log.exception(
                "crash_result_not_published", partition=record.partition, offset=record.offset
            )
            return False
        return True

    async def _execution(
        self,
        command: Command,
        request: CallRequest,
        claim: ClaimKind,
        slot: Slot,
        trace: CommandTrace,
    ) -> Execution:
        if claim is ClaimKind.INTERRUPTED and not request.harmless:
            return _failed(
                ErrorCode.OUTCOME_UNKNOWN,
                "an earlier execution was interrupted and may have reached Sinch; not repeated",
            )
        if command.expires_at is not None and self._clock() >= command.expires_at:
            return Execution(
                Outcome.EXPIRED,
                0,
                None,
                ErrorInfo(
                    code=ErrorCode.EXPIRED, message="expiresAt passed before the command's turn"
                ),
            )
        snapshot = (
            command.snapshot if command.snapshot is not None else self._config.snapshot_default
        ) and command.type not in self._config.snapshot_off_types
        slot.phase = Phase.EXECUTING
        try:
            return await self._executor.run(
                command, request, snapshot=snapshot, wait=slot.pause, trace=trace
            )
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not slot.abandoning or task is None:
                raise
            task.uncancel()
            return _failed(
                ErrorCode.OUTCOME_UNKNOWN,
                "abandoned while executing (shutdown or rebalance); Sinch may have acted on it",
                retryable=request.harmless,
            )

    def _source(self, record: Record) -> Source:
        return Source(topic=record.topic, partition=record.partition, offset=record.offset)

    def _elapsed_ms(self, started: float) -> float:
        return round((time.perf_counter() - started) * 1000, 3)

    def _rejected(
        self,
        record: Record,
        rejection: Rejection,
        received_at: datetime,
        started: float,
        command: Command | None = None,
    ) -> Result:
        return rejection.result(
            received_at=received_at,
            completed_at=self._clock(),
            duration_ms=self._elapsed_ms(started),
            source=self._source(record),
            metadata=command.metadata if command else None,
        )

    def _result(
        self,
        record: Record,
        command: Command,
        request: CallRequest,
        execution: Execution,
        received_at: datetime,
        started: float,
    ) -> Result:
        return Result(
            command_id=command.command_id,
            call_id=command.call_id,
            type=command.type,
            outcome=execution.outcome,
            attempts=execution.attempts,
            http_status=execution.http_status,
            error=execution.error,
            note=execution.note,
            request=RequestEcho(**request.echo()) if execution.attempts else None,
            received_at=received_at,
            completed_at=self._clock(),
            duration_ms=self._elapsed_ms(started),
            source=self._source(record),
            metadata=command.metadata,
        )

    def _replay(
        self, record: Record, stored: bytes, received_at: datetime, started: float
    ) -> Result:
        original = Result.model_validate_json(stored)
        return original.model_copy(
            update={
                "duplicate": True,
                "received_at": received_at,
                "completed_at": self._clock(),
                "duration_ms": self._elapsed_ms(started),
                "source": self._source(record),
            }
        )

    async def _publish(
        self,
        record: Record,
        result: Result,
        snapshot: Snapshot | None = None,
        dead_letter: Rejection | None = None,
        trace_headers: dict[str, str] | None = None,
    ) -> None:
        topics = self._config.topics
        key = result.call_id.encode() if result.call_id else record.key
        headers = trace_headers or {}
        messages = [Outgoing(topics.results, key, result.to_bytes(), headers)]
        if snapshot is not None:
            snapshot_key = snapshot.call_id.encode()
            messages.append(Outgoing(topics.snapshots, snapshot_key, snapshot.to_bytes(), headers))
        if dead_letter is not None:
            letter_headers = {**headers, **_dead_letter_headers(record, dead_letter)}
            messages.append(Outgoing(topics.dead_letter, record.key, record.value, letter_headers))
        await self._publisher.publish(messages)
        self._count(record, result, dead_letter)
        log.info(
            "command",
            command_id=result.command_id,
            call_id=result.call_id,
            type=result.type,
            outcome=result.outcome.value,
            error=result.error.code.value if result.error else None,
            attempts=result.attempts,
            http_status=result.http_status,
            duration_ms=result.duration_ms,
            partition=record.partition,
            offset=record.offset,
            duplicate=result.duplicate,
        )

    def _count(self, record: Record, result: Result, dead_letter: Rejection | None) -> None:
        metrics = self._metrics
        kind = result.type or "unknown"
        metrics.commands.labels(kind, result.outcome.value).inc()
        if result.duplicate:
            metrics.duplicates.inc()
        if dead_letter is not None:
            metrics.dead_letters.labels(dead_letter.code.value).inc()
        if record.timestamp_ms is not None:
            age_s = time.time() - record.timestamp_ms / 1000
            metrics.command_latency.labels(kind).observe(max(age_s, 0.0))


def _failed(code: ErrorCode, message: str, *, retryable: bool = False) -> Execution:
    return Execution(
        Outcome.FAILED, 0, None, ErrorInfo(code=code, message=message, retryable=retryable)
    )


def _dead_letter_headers(record: Record, rejection: Rejection) -> dict[str, str]:
    return {
        "content-type": "application/octet-stream",  # the original bytes, JSON or not
        "error.code": rejection.code.value,
        "error.message": rejection.message,
        "source.topic": record.topic,
        "source.partition": str(record.partition),
        "source.offset": str(record.offset),
    }
