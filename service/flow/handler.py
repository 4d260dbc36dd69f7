"""The flow of one command record: bytes in, one `Answer` out.

    decode ─ invalid ─────────────────────────────→ dead letter + rejected result
      └ claim commandId ─ seen ───────────────────→ stored result again, duplicate: true
            ├ other payload ──────────────────────→ dead letter + rejected (idempotency_conflict)
            ├ interrupted, not harmless ──────────→ failed (outcome_unknown)
            └ new ─ expired ──────────────────────→ expired result
                  └ Sinch (retried by policy) ────→ result (+ snapshot)
                        └ abandoned by delivery ──→ failed (outcome_unknown)

Every branch ends in exactly one answer, and a result that came from a claim is stored before it
is answered, so a crash in between replays it rather than guessing. Delivery publishes the
answer, counts it and logs it; the flow only waits through its `Turn` (a pause gives the
in-flight place back) and binds the command's ids to the log context.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import TypeVar

import structlog
from structlog.contextvars import bind_contextvars

from service.delivery.answers import Answer, DeadLetter
from service.delivery.lanes import Abandoned, Turn
from service.delivery.records import Record
from service.domain.calls import CallRoute, no_route, route_command
from service.domain.commands import Command
from service.domain.decode import Rejection, decode_command
from service.domain.paths import is_call_id
from service.domain.plan import CallRequest, plan
from service.domain.results import (
    ErrorCode,
    ErrorInfo,
    Outcome,
    RequestEcho,
    Result,
    Snapshot,
    Source,
    known_state,
)
from service.domain.svaml import DEFAULT_TTS_MAX_CHARS
from service.domain.wire import utc_now
from service.flow.executor import Execution, Executor, wants_snapshot
from service.idempotency.leases import Leases
from service.idempotency.store import Claim, ClaimKind, fingerprint
from service.ops.tracing import CommandTrace, Tracing
from service.retry import Again, Backoff, RetryPolicy, retry

log = structlog.get_logger(logger_name="service.command")
T = TypeVar("T")

# An outage of the idempotency store (Redis restarting, a full disk) is waited out: failing the
# command instead would turn an outage into a burst of wrong results.
STORE_OUTAGE = RetryPolicy(Backoff(base_s=0.1, cap_s=5.0))


@dataclass(frozen=True, slots=True)
class HandlerConfig:
    max_command_bytes: int
    snapshot_default: bool
    # Command types that never read a snapshot, whatever the command says (Sinch may answer
    # 404 for calls it has no call information for).
    snapshot_off_types: frozenset[str] = frozenset()
    tts_max_chars: int = DEFAULT_TTS_MAX_CHARS


@dataclass(frozen=True, slots=True)
class _Run:
    """One record's run: where it came from and when it started."""

    record: Record
    received_at: datetime
    started: float
    trace: CommandTrace


class CommandHandler:
    def __init__(
        self,
        config: HandlerConfig,
        *,
        leases: Leases,
        executor: Executor,
        tracing: Tracing,
        clock: Callable[[], datetime] = utc_now,
        on_store_error: Callable[[], None] = lambda: None,
        call_route: Callable[[str], Awaitable[CallRoute | None]] = no_route,
    ) -> None:
        self._on_store_error = on_store_error  # counts store outages (a metric)
        self._call_route = call_route
        self._tracing = tracing
        self._config = config
        self._leases = leases
        self._executor = executor
        self._clock = clock

    async def __call__(self, record: Record, turn: Turn) -> Answer:
        run = _Run(record, self._clock(), time.perf_counter(), self._tracing.start(record))
        decoded = self._decode(record)
        if isinstance(decoded, Rejection):
            return self._answer(run, self._rejected(run, decoded), dead_letter=decoded)
        command = decoded
        bind_contextvars(command_id=command.command_id, call_id=command.call_id)
        print_ = fingerprint(command.model_dump_json(by_alias=True).encode())
        claim = await self._claim(turn, command.command_id, print_)
        if claim.kind is ClaimKind.DUPLICATE:
            assert claim.result is not None
            return self._answer(run, self._replay(run, claim.result))
        if claim.kind is ClaimKind.CONFLICT:
            rejection = Rejection(
                ErrorCode.IDEMPOTENCY_CONFLICT,
                "commandId was used before with a different payload",
                command.command_id,
                command.call_id,
                command.type,
            )
            return self._answer(run, self._rejected(run, rejection, command), dead_letter=rejection)
        try:
            # Callbacks hook: the call's region from its ICE; no request once DiCE said it ended.
            route = await self._persist(turn, self._call_route, command.call_id)
            routed = route_command(route, command)
            ended = routed if isinstance(routed, ErrorInfo) else None
            if not isinstance(routed, ErrorInfo):
                command = routed
            request = plan(command)
            execution = (
                (Execution(Outcome.FAILED, 0, None, ended) if ended is not None else None)
                or self._interrupted(claim, request)
                or self._expired(command)
                or await self._execute(command, request, turn, run.trace)
            )
            result = self._result(run, command, request, execution)
            result_bytes = result.to_bytes()
            # Stored before it is answered: a crash in between replays it instead of guessing.
            await self._persist(
                turn, self._leases.complete, command.command_id, print_, result_bytes
            )
        finally:
            self._leases.let_go(command.command_id)
        return self._answer(
            run, result, self._snapshot(command, execution), result_bytes=result_bytes
        )

    def crashed(self, record: Record, error: Exception) -> Answer:
        """A bug, not bad input: answer with `internal_error` rather than stall the partition.
        Total: when the command cannot be read again, the answer names none."""
        try:
            decoded = self._decode(record)
            command = decoded if not isinstance(decoded, Rejection) else None
            return self._internal_error(record, error, command)
        except Exception:
            log.exception("crash_answer_without_command")
            return self._internal_error(record, error, None)

    def _internal_error(self, record: Record, error: Exception, command: Command | None) -> Answer:
        now = self._clock()
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
        return _answer(record, result, result.to_bytes())

    # --- steps ---------------------------------------------------------------------------

    def _decode(self, record: Record) -> Command | Rejection:
        return decode_command(
            record.key,
            record.value,
            max_bytes=self._config.max_command_bytes,
            tts_max_chars=self._config.tts_max_chars,
        )

    async def _claim(self, turn: Turn, command_id: str, print_: str) -> Claim:
        """The commandId's claim; while another live owner holds it (a hand-over under way),
        wait for its lease without holding an in-flight place."""
        claim = await self._persist(turn, self._leases.claim, command_id, print_)
        while claim.kind is ClaimKind.BUSY:
            await turn.pause(claim.retry_in_s)
            claim = await self._persist(turn, self._leases.claim, command_id, print_)
        return claim

    async def _persist(
        self, turn: Turn, operation: Callable[..., Awaitable[T]], *args: object
    ) -> T:
        """An idempotency-store call that outlives an outage of the store, holding this call's
        lane and nothing else (it waits through `turn.pause`)."""
        return await retry(
            partial(operation, *args),
            policy=STORE_OUTAGE,
            retry_on=(Exception,),
            sleep=turn.pause,
            on_retry=self._store_unavailable,
        )

    def _store_unavailable(self, _attempt: int, delay: float, why: Again) -> None:
        self._on_store_error()
        log.warning("idempotency_store_unavailable", error=why.reason, retry_in_s=round(delay, 3))

    @staticmethod
    def _interrupted(claim: Claim, request: CallRequest) -> Execution | None:
        if claim.kind is ClaimKind.INTERRUPTED and not request.harmless:
            return _failed(
                ErrorCode.OUTCOME_UNKNOWN,
                "an earlier execution was interrupted and may have reached Sinch; not repeated",
            )
        return None

    def _expired(self, command: Command) -> Execution | None:
        if command.expires_at is not None and self._clock() >= command.expires_at:
            return Execution(
                Outcome.EXPIRED,
                0,
                None,
                ErrorInfo(
                    code=ErrorCode.EXPIRED, message="expiresAt passed before the command's turn"
                ),
            )
        return None

    async def _execute(
        self, command: Command, request: CallRequest, turn: Turn, trace: CommandTrace
    ) -> Execution:
        snapshot = (
            command.snapshot if command.snapshot is not None else self._config.snapshot_default
        ) and command.type not in self._config.snapshot_off_types
        try:
            execution = await turn.abandonable(
                self._executor.run(command, request, snapshot=False, wait=turn.pause, trace=trace)
            )
        except Abandoned:
            return _failed(
                ErrorCode.OUTCOME_UNKNOWN,
                "abandoned while executing (shutdown or rebalance); Sinch may have acted on it",
                retryable=request.harmless,
            )
        if not (snapshot and wants_snapshot(command, execution)):
            return execution
        # Sinch has answered: abandoning the snapshot read loses the snapshot, not the outcome.
        try:
            call = await turn.abandonable(self._executor.read_call(command, turn.pause, trace))
        except Abandoned:
            log.warning("snapshot_abandoned")
            return execution
        return replace(execution, call=call)

    def _snapshot(self, command: Command, execution: Execution) -> Snapshot | None:
        call = known_state(execution.call)  # an all-null read must not replace a good snapshot
        if call is None:
            return None
        return Snapshot(
            call_id=command.call_id,
            observed_at=self._clock(),
            command_id=command.command_id,
            call=call,
        )

    def _answer(
        self,
        run: _Run,
        result: Result,
        snapshot: Snapshot | None = None,
        *,
        dead_letter: Rejection | None = None,
        result_bytes: bytes | None = None,
    ) -> Answer:
        trace = run.trace
        attributes = {
            "callctl.command_id": result.command_id,
            "callctl.call_id": result.call_id,
            "callctl.type": result.type,
            "callctl.outcome": result.outcome.value,
            "callctl.duplicate": result.duplicate,
            "error.type": result.error.code.value if result.error else None,
        }
        return _answer(
            run.record,
            result,
            result_bytes or result.to_bytes(),
            rejected=dead_letter is not None,
            snapshot=snapshot.to_bytes() if snapshot is not None else None,
            dead_letter=DeadLetter(dead_letter.code.value, dead_letter.message)
            if dead_letter is not None
            else None,
            headers=trace.headers(),
            published=partial(
                trace.finish, attributes, failed=result.outcome is not Outcome.SUCCEEDED
            ),
        )

    # --- results -------------------------------------------------------------------------

    def _source(self, record: Record) -> Source:
        return Source(topic=record.topic, partition=record.partition, offset=record.offset)

    def _elapsed_ms(self, run: _Run) -> float:
        return round((time.perf_counter() - run.started) * 1000, 3)

    def _rejected(self, run: _Run, rejection: Rejection, command: Command | None = None) -> Result:
        return rejection.result(
            received_at=run.received_at,
            completed_at=self._clock(),
            duration_ms=self._elapsed_ms(run),
            source=self._source(run.record),
            metadata=command.metadata if command else None,
        )

    def _result(
        self, run: _Run, command: Command, request: CallRequest, execution: Execution
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
            received_at=run.received_at,
            completed_at=self._clock(),
            duration_ms=self._elapsed_ms(run),
            source=self._source(run.record),
            metadata=command.metadata,
        )

    def _replay(self, run: _Run, stored: bytes) -> Result:
        original = Result.model_validate_json(stored)
        return original.model_copy(
            update={
                "duplicate": True,
                "received_at": run.received_at,
                "completed_at": self._clock(),
                "duration_ms": self._elapsed_ms(run),
                "source": self._source(run.record),
            }
        )


def _answer(
    record: Record,
    result: Result,
    result_bytes: bytes,
    *,
    snapshot: bytes | None = None,
    dead_letter: DeadLetter | None = None,
    headers: Mapping[str, str] | None = None,
    published: Callable[[], None] | None = None,
    rejected: bool = False,
) -> Answer:
    return Answer(
        result=result_bytes,
        key=_key(record, result, rejected=rejected),
        outcome=result.outcome.value,
        kind=result.type,
        duplicate=result.duplicate,
        snapshot=snapshot,
        dead_letter=dead_letter,
        headers=headers or {},
        summary={
            "command_id": result.command_id,
            "call_id": result.call_id,
            "error": result.error.code.value if result.error else None,
            "error_message": result.error.message if result.error else None,
            "sinch_reference": result.error.sinch_reference if result.error else None,
            "attempts": result.attempts,
            "http_status": result.http_status,
            "duration_ms": result.duration_ms,
        },
        published=published,
    )


def _key(record: Record, result: Result, *, rejected: bool) -> bytes | None:
    """Results are keyed by callId. A rejected record's callId may be malformed or not its
    key: its result goes by the record's own key, to the partition its sender reads."""
    if rejected and record.key is not None:
        return record.key
    if result.call_id and (not rejected or is_call_id(result.call_id)):
        return result.call_id.encode()
    return record.key


def _failed(code: ErrorCode, message: str, *, retryable: bool = False) -> Execution:
    return Execution(
        Outcome.FAILED, 0, None, ErrorInfo(code=code, message=message, retryable=retryable)
    )
