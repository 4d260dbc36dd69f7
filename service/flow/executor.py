"""Carrying out one command against Sinch: the request, its retries, the snapshot read.

The HTTP side of the flow: knows the Sinch client, never Kafka. Every attempt is signed afresh
by the client; `domain.policy` judges each answer, `service.retry` says how long to wait and
when to stop (the attempt budget, `Retry-After`, never past `expiresAt`); this module sends,
waits through the caller's `wait` (which frees the in-flight place) and counts.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

import structlog

from service.delivery.stages import StageMeter, no_stage
from service.domain import plan as planning
from service.domain.commands import Callout, Command, GetCallInfo, GetConferenceInfo
from service.domain.plan import CallRequest
from service.domain.policy import (
    MAYBE_PROCESSED_STATUSES,
    STALE_TIMESTAMP,
    Decision,
    History,
    Verdict,
    judge_response,
    judge_transport,
)
from service.domain.results import CallState, ErrorCode, ErrorInfo, Outcome, Participant
from service.domain.sinch_answers import callout_call_id, normalize_call, normalize_participants
from service.domain.wire import utc_now
from service.ops.tracing import CommandTrace
from service.retry import Again, RetryPolicy, retry
from service.sinch import (
    SinchClient,
    SinchInvalidRequestError,
    SinchRequest,
    SinchResponse,
    SinchTransportError,
    header_reference,
)

log = structlog.get_logger(logger_name="service.flow.executor")

Wait = Callable[[float], Awaitable[None]]

GET_CALL_INFO_LIMIT = (
    "Sinch has no call information for this call: it ended, the id or region is wrong, or it "
    "is not a call from an in-app client to PSTN or SIP (the only calls Sinch documents "
    "call information for)"
)


class SinchMeter(Protocol):
    """What the executor counts (the metrics owner implements it)."""

    def sinch_answered(self, method: str, status: int | None, seconds: float) -> None:
        """One attempt: its HTTP status (None when no answer came) and how long it took."""

    def retried(self, error: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Execution:
    outcome: Outcome
    attempts: int
    http_status: int | None
    error: ErrorInfo | None
    call: CallState | None = None
    # On success: something the caller should know (policy.ALREADY_ENDED).
    note: str | None = None
    # A callout's: the callId Sinch gave the call it placed.
    placed_call_id: str | None = None
    # A conference command's: the participants read after it (empty: the conference is gone).
    participants: list[Participant] | None = None


@dataclass(slots=True)
class _Attempts:
    count: int = 0
    status: int | None = None
    response: SinchResponse | None = None
    history: History = field(default_factory=History)


class Executor:
    def __init__(
        self,
        sinch: SinchClient,
        *,
        policy: RetryPolicy,
        meter: SinchMeter,
        rng: random.Random | None = None,
        clock: Callable[[], datetime] = utc_now,
        stage: StageMeter = no_stage,
    ) -> None:
        self._stage = stage
        self._meter = meter
        self._sinch = sinch
        self._policy = policy
        self._rng = rng or random.Random()
        self._clock = clock

    async def run(
        self,
        command: Command,
        request: CallRequest,
        *,
        snapshot: bool,
        wait: Wait,
        trace: CommandTrace | None = None,
    ) -> Execution:
        """Execute `request` for `command`; `wait` sleeps between attempts (the caller frees
        its in-flight place meanwhile, so a backing-off call never holds up other calls)."""
        attempts = _Attempts()
        decision = await self._send(request, command.expires_at, attempts, wait, trace)
        if decision.verdict is not Verdict.SUCCESS:
            assert decision.code is not None
            error = self._error_info(decision, attempts.response, command)
            return Execution(Outcome.FAILED, attempts.count, attempts.status, error)
        done = Execution(
            Outcome.SUCCEEDED, attempts.count, attempts.status, None, note=decision.note
        )
        answer = _json(attempts.response)
        if isinstance(command, Callout):
            placed = callout_call_id(answer)
            if placed is None:
                log.warning("callout_without_call_id", http_status=attempts.status)
            done = replace(done, placed_call_id=placed)
        elif isinstance(command, GetConferenceInfo):
            done = replace(done, participants=normalize_participants(answer))
        elif request.method == "DELETE" and (
            command.about_conference() is not None
            and request.path == planning.read_conference(command).path
        ):
            done = replace(done, participants=[])  # kicked all: nobody is left
        elif isinstance(command, GetCallInfo):
            done = replace(done, call=normalize_call(answer))
        if snapshot:
            done = await self.follow_up(command, done, wait, trace)
        return done

    async def follow_up(
        self, command: Command, execution: Execution, wait: Wait, trace: CommandTrace | None = None
    ) -> Execution:
        """The read after a success that did not bring the state already: the call (a
        callout's: the call it placed) or the conference. Best effort, it never fails the
        command (Sinch has acted: whatever goes wrong here, its answer is the outcome); a
        caller may abandon it and keep `execution`."""
        if not wants_snapshot(command, execution):
            return execution
        started = time.perf_counter()
        try:
            if command.about_conference() is not None:
                participants = await self._read_conference(command, wait, trace)
                return replace(execution, participants=participants)
            call = await self._read_call(command, wait, trace, execution.placed_call_id)
            return replace(execution, call=call)
        except Exception as error:
            log.warning(
                "snapshot_unavailable", call_id=command.about_call(), error=type(error).__name__
            )
            return execution
        finally:
            self._stage("snapshot", time.perf_counter() - started)

    async def _read_conference(
        self, command: Command, wait: Wait, trace: CommandTrace | None
    ) -> list[Participant] | None:
        attempts = _Attempts()
        decision = await self._send(
            planning.read_conference(command), command.expires_at, attempts, wait, trace
        )
        if decision.verdict is Verdict.SUCCESS:
            return normalize_participants(_json(attempts.response))
        if decision.code is ErrorCode.CONFERENCE_NOT_FOUND:
            return []  # the last participant left or was kicked: the conference is gone
        log.warning("conference_snapshot_unavailable", http_status=attempts.status)
        return None

    async def _read_call(
        self,
        command: Command,
        wait: Wait,
        trace: CommandTrace | None,
        call_id: str | None = None,
    ) -> CallState | None:
        """The call's state after a successful command.

        Sinch documents the read only for calls from an in-app client to PSTN or SIP; for other
        calls it may answer 404 although the call goes on, so a 404 here says nothing."""
        attempts = _Attempts()
        decision = await self._send(
            planning.read_call(command, call_id), command.expires_at, attempts, wait, trace
        )
        if decision.verdict is Verdict.SUCCESS:
            return normalize_call(_json(attempts.response))
        log.warning(
            "snapshot_unavailable",
            call_id=call_id or command.about_call(),
            http_status=attempts.status,
            reason="Sinch has no call information for it"
            if attempts.status == 404
            else decision.code,
        )
        return None

    async def _send(
        self,
        request: CallRequest,
        expires_at: datetime | None,
        attempts: _Attempts,
        wait: Wait,
        trace: CommandTrace | None,
    ) -> Decision:
        last: Decision | None = None

        async def attempt() -> Decision:
            nonlocal last
            # The wait before a retry may end late (a saturated service hands out places one
            # at a time): a retry never goes out once expiresAt has passed.
            if last is not None and expires_at is not None and self._seconds_until(expires_at) <= 0:
                return Decision(
                    Verdict.FAIL,
                    last.code,
                    f"{last.message}; expiresAt passed before the next attempt",
                    retryable=True,
                )
            attempts.count += 1
            last = await self._judged_attempt(request, attempts, trace)
            return last

        def on_retry(attempt: int, delay: float, why: Again) -> None:
            log.debug(
                "retrying",
                path=request.path,
                attempt=attempt,
                delay_s=round(delay, 3),
                error=why.reason,
            )
            self._meter.retried(why.reason)

        decision = await retry(
            attempt,
            policy=self._policy,
            again=_again,
            sleep=wait,
            time_left=None if expires_at is None else lambda: self._seconds_until(expires_at),
            on_retry=on_retry,
            rng=self._rng,
        )
        if decision.verdict is Verdict.RETRY:  # no attempt left, or no time
            return Decision(Verdict.FAIL, decision.code, decision.message, retryable=True)
        return decision

    def _seconds_until(self, moment: datetime) -> float:
        return (moment - self._clock()).total_seconds()

    async def _judged_attempt(
        self, request: CallRequest, attempts: _Attempts, trace: CommandTrace | None
    ) -> Decision:
        """One attempt, and what its answer means."""
        started = time.perf_counter()
        try:
            response = await self._attempt(request, trace, attempts.count - 1)
        except SinchInvalidRequestError as error:  # refused locally: a retry cannot help
            return Decision(Verdict.FAIL, ErrorCode.INTERNAL_ERROR, str(error))
        except SinchTransportError as error:
            attempts.status, attempts.response = None, None
            self._meter.sinch_answered(request.method, None, time.perf_counter() - started)
            if error.request_sent:
                attempts.history = replace(attempts.history, maybe_sent=True)
            return judge_transport(
                request_sent=error.request_sent,
                timeout=error.timeout,
                harmless=request.harmless,
                detail=error.error_type,
                places_call=request.places_call,
            )
        elapsed = time.perf_counter() - started
        self._meter.sinch_answered(request.method, response.status_code, elapsed)
        self._stage("request", elapsed)
        attempts.status, attempts.response = response.status_code, response
        body = response.error
        decision = judge_response(
            response.status_code,
            body.error_code if body else None,
            harmless=request.harmless,
            retry_after_s=response.retry_after_seconds,
            message=body.message if body else None,
            ends_call=request.ends_call,
            history=attempts.history,
            resource=request.resource,
        )
        # What this attempt teaches the next one's judgement: it may have reached Sinch, or a
        # stale timestamp was re-signed once already.
        if response.status_code in MAYBE_PROCESSED_STATUSES:
            attempts.history = replace(attempts.history, maybe_sent=True)
        if body is not None and body.error_code == STALE_TIMESTAMP:
            attempts.history = replace(attempts.history, resigned=True)
        return decision

    async def _attempt(
        self, request: CallRequest, trace: CommandTrace | None, resend_count: int
    ) -> SinchResponse:
        if trace is None or not trace.recording:
            outgoing = SinchRequest(
                request.method,
                request.path,
                request.body,
                request.region,
                request.host,
                trace.headers() if trace is not None else {},
            )
            return await self._sinch.send(outgoing)
        url = self._sinch.host_for(request.region, request.host) + request.path
        with trace.attempt(request.method, url, resend_count) as attempt:
            outgoing = SinchRequest(
                request.method,
                request.path,
                request.body,
                request.region,
                request.host,
                attempt.headers,
            )
            response = await self._sinch.send(outgoing)
            attempt.answered(response.status_code)
            return response

    @staticmethod
    def _error_info(
        decision: Decision, response: SinchResponse | None, command: Command
    ) -> ErrorInfo:
        body = response.error if response is not None else None
        message = decision.message
        if isinstance(command, GetCallInfo) and decision.code is ErrorCode.CALL_NOT_FOUND:
            message = GET_CALL_INFO_LIMIT
        if body is not None and body.message:
            message = f"{message}: {body.message}"
        return ErrorInfo(
            code=decision.code or ErrorCode.UPSTREAM_ERROR,
            message=message,
            retryable=decision.retryable,
            sinch_error_code=body.error_code if body else None,
            sinch_reference=(body.reference if body else None)
            or (header_reference(response.headers) if response is not None else None),
        )


def wants_snapshot(command: Command, execution: Execution) -> bool:
    """A read follows a success that did not bring the state already: not a read itself, not
    a hangup of a call already gone, not a callout without a call, not a kick of everyone."""
    if execution.outcome is not Outcome.SUCCEEDED:
        return False
    if isinstance(command, GetCallInfo | GetConferenceInfo):
        return False
    if isinstance(command, Callout):
        return execution.placed_call_id is not None
    if command.about_conference() is not None:
        return execution.participants is None
    return execution.note is None


def _again(decision: Decision) -> Again | None:
    if decision.verdict is not Verdict.RETRY:
        return None
    return Again(decision.code.value if decision.code else "unknown", decision.retry_after_s)


def _json(response: SinchResponse | None) -> object:
    if response is None:
        return None
    try:
        return response.json()
    except ValueError:
        return None
