"""Carrying out one command against Sinch: the request, its retries, the snapshot read.

The HTTP side of the pipeline: knows the Sinch client, not Kafka. Every attempt is signed
afresh by the client; the retry policy decides, this module only waits and counts.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import structlog

from service.domain import plan as planning
from service.domain.commands import Command, GetCallInfo
from service.domain.plan import CallRequest
from service.domain.policy import (
    MAYBE_PROCESSED_STATUSES,
    STALE_TIMESTAMP,
    Backoff,
    Decision,
    History,
    Verdict,
    judge_response,
    judge_transport,
)
from service.domain.results import CallState, ErrorCode, ErrorInfo, Outcome, normalize_call
from service.domain.wire import utc_now
from service.ops.metrics import Metrics
from service.ops.tracing import CommandTrace, current_span
from service.sinch import (
    SinchClient,
    SinchInvalidRequestError,
    SinchRequest,
    SinchResponse,
    SinchTransportError,
)

log = structlog.get_logger(logger_name="service.flow.executor")

GET_CALL_INFO_LIMIT = (
    "Sinch has no call information for this call: it ended, the id or region is wrong, or it "
    "is not a call from an in-app client to PSTN or SIP (the only calls Sinch documents "
    "call information for)"
)

Wait = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Execution:
    outcome: Outcome
    attempts: int
    http_status: int | None
    error: ErrorInfo | None
    call: CallState | None = None
    # On success: something the caller should know (policy.ALREADY_ENDED).
    note: str | None = None


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
        backoff: Backoff,
        max_attempts: int,
        metrics: Metrics,
        rng: random.Random | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._metrics = metrics
        self._sinch = sinch
        self._backoff = backoff
        self._max_attempts = max_attempts
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
        its in-flight slot meanwhile, so a backing-off call never holds up other calls)."""
        attempts = _Attempts()
        decision = await self._send(request, command.expires_at, attempts, wait, trace)
        if decision.verdict is not Verdict.SUCCESS:
            assert decision.code is not None
            error = self._error_info(decision, attempts.response, command)
            return Execution(Outcome.FAILED, attempts.count, attempts.status, error)
        call = None
        if isinstance(command, GetCallInfo):
            call = normalize_call(_json(attempts.response))
        elif snapshot and decision.note is None:
            call = await self._read_call(command, wait, trace)
        return Execution(
            Outcome.SUCCEEDED, attempts.count, attempts.status, None, call, decision.note
        )

    async def _read_call(
        self, command: Command, wait: Wait, trace: CommandTrace | None
    ) -> CallState | None:
        """The snapshot after a successful command: best effort, it never fails the command.

        Sinch documents the read only for calls from an in-app client to PSTN or SIP; for other
        calls it may answer 404 although the call goes on, so a 404 here says nothing."""
        attempts = _Attempts()
        decision = await self._send(
            planning.read_call(command), command.expires_at, attempts, wait, trace
        )
        if decision.verdict is Verdict.SUCCESS:
            return normalize_call(_json(attempts.response))
        log.warning(
            "snapshot_unavailable",
            call_id=command.call_id,
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
        while True:
            attempts.count += 1
            started = time.perf_counter()
            try:
                response = await self._attempt(request, trace)
            except SinchInvalidRequestError as error:  # refused locally: a retry cannot help
                return Decision(Verdict.FAIL, ErrorCode.INTERNAL_ERROR, str(error))
            except SinchTransportError as error:
                decision = judge_transport(
                    request_sent=error.request_sent,
                    timeout=error.timeout,
                    harmless=request.harmless,
                    detail=error.error_type,
                )
                attempts.status, attempts.response = None, None
                self._metrics.sinch_responses.labels("none").inc()
                maybe_sent = error.request_sent
            else:
                self._metrics.sinch_responses.labels(str(response.status_code)).inc()
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
                )
                maybe_sent = response.status_code in MAYBE_PROCESSED_STATUSES
                if body is not None and body.error_code == STALE_TIMESTAMP:
                    attempts.history = replace(attempts.history, resigned=True)
            if maybe_sent:
                attempts.history = replace(attempts.history, maybe_sent=True)
            self._metrics.sinch_latency.labels(request.method).observe(
                time.perf_counter() - started
            )
            if decision.verdict is not Verdict.RETRY:
                return decision
            delay = self._next_delay(decision, attempts.count, expires_at)
            if delay is None:
                return Decision(Verdict.FAIL, decision.code, decision.message, retryable=True)
            log.debug(
                "retrying",
                path=request.path,
                attempt=attempts.count,
                delay_s=round(delay, 3),
                error=decision.code,
            )
            self._metrics.retries.labels(decision.code.value if decision.code else "unknown").inc()
            await wait(delay)

    async def _attempt(self, request: CallRequest, trace: CommandTrace | None) -> SinchResponse:
        if trace is None:
            outgoing = SinchRequest(
                request.method, request.path, request.body, request.region, request.host
            )
            return await self._sinch.send(outgoing)
        with trace.attempt(request.method, request.path) as headers:
            outgoing = SinchRequest(
                request.method, request.path, request.body, request.region, request.host, headers
            )
            response = await self._sinch.send(outgoing)
            current_span().set_attribute("http.response.status_code", response.status_code)
            return response

    def _next_delay(
        self, decision: Decision, attempt: int, expires_at: datetime | None
    ) -> float | None:
        if attempt >= self._max_attempts:
            return None
        delay = self._backoff.delay(attempt, decision.retry_after_s, self._rng)
        if delay is None:
            return None
        if expires_at is not None and self._clock() + timedelta(seconds=delay) >= expires_at:
            return None
        return delay

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
            sinch_reference=body.reference if body else None,
        )


def _json(response: SinchResponse | None) -> object:
    if response is None:
        return None
    try:
        return response.json()
    except ValueError:
        return None
