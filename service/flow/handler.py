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

Just past 400 lines, kept whole: every branch of the diagram above is here, so that "exactly one
answer" can be read in one place (replies.py already holds how an answer is built).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TypeVar

import structlog
from structlog.contextvars import bind_contextvars

from service.delivery.answers import Answer, DeadLetter
from service.delivery.lanes import Abandoned, Turn
from service.delivery.records import Record
from service.delivery.stages import StageMeter, no_stage
from service.domain.calls import CallRoute, no_route, route_command
from service.domain.commands import BaseCommand, Callout, Command
from service.domain.decode import Rejection, decode_command
from service.domain.plan import CallRequest, plan
from service.domain.results import (
    ConferenceSnapshot,
    ErrorCode,
    ErrorInfo,
    Outcome,
    RequestEcho,
    Result,
    Snapshot,
    Source,
)
from service.domain.sinch_answers import known_state
from service.domain.svaml import DEFAULT_TTS_MAX_CHARS
from service.domain.wire import utc_now
from service.flow.executor import Execution, Executor, wants_snapshot
from service.flow.replies import reply, reply_key
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
        stage: StageMeter = no_stage,
    ) -> None:
        self._stage = stage
        self._on_store_error = on_store_error  # counts store outages (a metric)
        self._call_route = call_route
        self._tracing = tracing
        self._config = config
        self._leases = leases
        self._executor = executor
        self._clock = clock

    async def __call__(self, record: Record, turn: Turn) -> Answer:
        run = _Run(record, self._clock(), time.perf_counter(), self._tracing.start(record))
        stage, clock = self._stage, time.perf_counter
        decoded = self._decode(record)
        if isinstance(decoded, Rejection):
            return self._answer(run, self._rejected(run, decoded), dead_letter=decoded)
        command = decoded
        bind_contextvars(command_id=command.command_id, call_id=command.about_call())
        if command.about_conference() is not None:
            bind_contextvars(conference_id=command.about_conference())
        print_ = fingerprint(command.model_dump_json(by_alias=True).encode())
        mark = clock()
        stage("decode", mark - run.started)
        claim = await self._claim(turn, command.command_id, print_)
        stage("claim", clock() - mark)
        if claim.kind is ClaimKind.DUPLICATE:
            assert claim.result is not None
            return self._answer(run, self._replay(run, claim.result), command=command)
        if claim.kind is ClaimKind.CONFLICT:
            rejection = Rejection(
                ErrorCode.IDEMPOTENCY_CONFLICT,
                "commandId was used before with a different payload",
                command.command_id,
                command.about_call(),
                command.type,
            )
            return self._answer(
                run, self._rejected(run, rejection, command), dead_letter=rejection, command=command
            )
        try:
            # Callbacks hook: the call's region from its ICE; no request once DiCE said it ended.
            mark = clock()
            route = (
                await self._persist(turn, self._call_route, command.call_id)
                if isinstance(command, BaseCommand)
                else None
            )
            routed = route_command(route, command)
            ended = routed if isinstance(routed, ErrorInfo) else None
            if not isinstance(routed, ErrorInfo):
                command = routed
            request = plan(command)
            stage("plan", clock() - mark)
            execution = (
                (Execution(Outcome.FAILED, 0, None, ended) if ended is not None else None)
                or self._interrupted(claim, request)
                or self._expired(command)
                or await self._execute(command, request, turn, run.trace)
            )
            result = self._result(run, command, request, execution)
            result_bytes = result.to_bytes()
            mark = clock()
            # Stored before it is answered: a crash in between replays it instead of guessing.
            await self._persist(
                turn, self._leases.complete, command.command_id, print_, result_bytes
            )
            stage("store", clock() - mark)
        finally:
            self._leases.let_go(command.command_id)
        return self._answer(
            run,
            result,
            self._snapshot(command, execution),
            conference=self._conference(command, execution),
            result_bytes=result_bytes,
            command=command,
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
            call_id=command.about_call() if command else None,
            conference_id=command.about_conference() if command else None,
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
        return reply(record, result, result.to_bytes(), key=reply_key(record, result, command))

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
        wait for its lease without holding an in-flight place. Raises `Dropped` when delivery
        drops the record meanwhile (the claim is not this flow's, so nothing is left held)."""
        claim = await self._persist(turn, self._leases.claim, command_id, print_)
        if claim.kind is not ClaimKind.BUSY:
            return claim
        waited_from = time.monotonic()
        while claim.kind is ClaimKind.BUSY:
            # Nothing started yet: a hand-over or a stop drops this record instead of waiting.
            await turn.droppable(turn.pause(claim.retry_in_s))
            claim = await self._persist(turn, self._leases.claim, command_id, print_)
        # Waiting on another owner's claim holds this call's lane and its partition's
        # watermark: worth a line (a dead replica's claims, a duplicate commandId elsewhere).
        log.info(
            "claim_waited", waited_s=round(time.monotonic() - waited_from, 3), then=claim.kind.value
        )
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
            return await turn.abandonable(
                self._executor.follow_up(command, execution, turn.pause, trace)
            )
        except Abandoned:
            log.warning("snapshot_abandoned")
            return execution

    def _snapshot(self, command: Command, execution: Execution) -> Snapshot | None:
        call = known_state(execution.call)  # an all-null read must not replace a good snapshot
        call_id = execution.placed_call_id or command.about_call()
        if call is None or call_id is None:
            return None
        return Snapshot(
            call_id=call_id,
            observed_at=self._clock(),
            command_id=command.command_id,
            call=call,
        )

    def _conference(self, command: Command, execution: Execution) -> ConferenceSnapshot | None:
        conference_id = command.about_conference()
        if execution.participants is None or conference_id is None:
            return None
        return ConferenceSnapshot(
            conference_id=conference_id,
            observed_at=self._clock(),
            command_id=command.command_id,
            participants=execution.participants,
        )

    def _answer(
        self,
        run: _Run,
        result: Result,
        snapshot: Snapshot | None = None,
        *,
        conference: ConferenceSnapshot | None = None,
        dead_letter: Rejection | None = None,
        result_bytes: bytes | None = None,
        command: Command | None = None,
    ) -> Answer:
        trace = run.trace
        attributes = {
            "callctl.command_id": result.command_id,
            "callctl.call_id": result.call_id,
            "callctl.conference_id": result.conference_id,
            "callctl.type": result.type,
            "callctl.outcome": result.outcome.value,
            "callctl.duplicate": result.duplicate,
            "error.type": result.error.code.value if result.error else None,
        }
        return reply(
            run.record,
            result,
            result_bytes or result.to_bytes(),
            key=reply_key(run.record, result, command, rejected=dead_letter is not None),
            snapshot=snapshot.to_bytes() if snapshot is not None else None,
            snapshot_key=snapshot.call_id.encode() if snapshot is not None else None,
            conference=conference.to_bytes() if conference is not None else None,
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
        conference_id = command.about_conference()
        if isinstance(command, Callout):
            conference_id = command.callout.conference_id()
        return Result(
            command_id=command.command_id,
            call_id=execution.placed_call_id or command.about_call(),
            conference_id=conference_id,
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


def _failed(code: ErrorCode, message: str, *, retryable: bool = False) -> Execution:
    return Execution(
        Outcome.FAILED, 0, None, ErrorInfo(code=code, message=message, retryable=retryable)
    )
