"""The executor's retry loop, with Sinch behind an httpx MockTransport: which answers are
retried, the attempt budget, `Retry-After`, `expiresAt`, harmless commands versus the rest."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from service.domain.commands import Command
from service.domain.decode import Rejection, decode_command
from service.domain.plan import plan
from service.domain.results import ErrorCode, Outcome
from service.flow.executor import Execution, Executor
from service.retry import Backoff, RetryPolicy
from service.sinch import BasicAuth, SinchClient, build_http_client

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
Answer = httpx.Response | Exception


class Meter:
    def __init__(self) -> None:
        self.statuses: list[int | None] = []
        self.retries: list[str] = []

    def sinch_answered(self, method: str, status: int | None, seconds: float) -> None:
        self.statuses.append(status)

    def retried(self, error: str) -> None:
        self.retries.append(error)


class Sinch:
    """Answers from a script, one per request; the last one repeats."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


class Run:
    def __init__(
        self,
        sinch: Sinch,
        *,
        max_attempts: int = 3,
        max_retry_after_s: float = 10,
        clock: Callable[[], datetime] = lambda: NOW,
    ) -> None:
        http = build_http_client(
            connect_timeout=1,
            read_timeout=1,
            write_timeout=1,
            pool_timeout=1,
            max_connections=4,
            transport=httpx.MockTransport(sinch),
        )
        self.meter = Meter()
        self.waits: list[float] = []
        self.executor = Executor(
            SinchClient(http, BasicAuth("key", "secret"), base_url="http://sinch.test"),
            policy=RetryPolicy(
                Backoff(0.5, 4.0), max_attempts=max_attempts, max_retry_after_s=max_retry_after_s
            ),
            meter=self.meter,
            clock=clock,
        )

    async def wait(self, seconds: float) -> None:
        self.waits.append(seconds)

    async def __call__(self, command: dict[str, Any]) -> Execution:
        decoded = decode_command(None, json.dumps(command).encode(), max_bytes=65536)
        assert not isinstance(decoded, Rejection)
        parsed: Command = decoded
        return await self.executor.run(parsed, plan(parsed), snapshot=False, wait=self.wait)


def say(**extra: Any) -> dict[str, Any]:
    return {
        "commandId": "c-1",
        "callId": "call-1",
        "type": "say",
        "text": "hi",
        "locale": "en-US",
    } | extra


HANGUP = {"commandId": "c-2", "callId": "call-1", "type": "hangup"}


async def test_a_transient_answer_is_retried_after_a_jittered_wait() -> None:
    sinch = Sinch(httpx.Response(503), httpx.Response(503), httpx.Response(204))
    run = Run(sinch)
    execution = await run(say())
    assert execution.outcome is Outcome.SUCCEEDED
    assert execution.attempts == 3
    assert len(sinch.requests) == 3
    assert len(run.waits) == 2
    assert 0 <= run.waits[0] <= 0.5 and 0 <= run.waits[1] <= 1.0, "full jitter, doubling"
    assert run.meter.statuses == [503, 503, 204]
    assert run.meter.retries == ["upstream_unavailable", "upstream_unavailable"]


async def test_the_attempt_budget_ends_the_retries_with_a_retryable_failure() -> None:
    run = Run(Sinch(httpx.Response(503)), max_attempts=3)
    execution = await run(say())
    assert execution.outcome is Outcome.FAILED
    assert execution.attempts == 3
    assert len(run.waits) == 2
    assert execution.error is not None
    assert execution.error.code is ErrorCode.UPSTREAM_UNAVAILABLE
    assert execution.error.retryable is True


async def test_retry_after_is_honoured_up_to_its_limit() -> None:
    run = Run(
        Sinch(httpx.Response(429, headers={"Retry-After": "3"}), httpx.Response(204)),
        max_retry_after_s=10,
    )
    execution = await run(say())
    assert execution.outcome is Outcome.SUCCEEDED
    assert run.waits == [3.0]

    patient_no_longer = Run(
        Sinch(httpx.Response(429, headers={"Retry-After": "60"})), max_retry_after_s=10
    )
    execution = await patient_no_longer(say())
    assert execution.outcome is Outcome.FAILED
    assert execution.attempts == 1, "asked to wait longer than we would: not retried"
    assert execution.error is not None and execution.error.code is ErrorCode.RATE_LIMITED
    assert patient_no_longer.waits == []


async def test_no_retry_would_end_past_expires_at() -> None:
    expires = (NOW + timedelta(seconds=2)).isoformat()
    run = Run(Sinch(httpx.Response(429, headers={"Retry-After": "3"}), httpx.Response(204)))
    execution = await run(say(expiresAt=expires))
    assert execution.outcome is Outcome.FAILED
    assert execution.attempts == 1
    assert run.waits == []

    in_time = Run(Sinch(httpx.Response(429, headers={"Retry-After": "1"}), httpx.Response(204)))
    assert (await in_time(say(expiresAt=expires))).outcome is Outcome.SUCCEEDED


async def test_maybe_processed_failures_are_retried_only_for_harmless_commands() -> None:
    for answer in (httpx.Response(500), httpx.ReadTimeout("no answer")):
        harmful = Run(Sinch(answer, httpx.Response(204)))
        execution = await harmful(say())
        assert execution.outcome is Outcome.FAILED, f"{answer!r}: say may have played"
        assert execution.attempts == 1
        assert execution.error is not None and execution.error.retryable is True

        harmless = Run(Sinch(answer, httpx.Response(204)))
        assert (await harmless(HANGUP)).outcome is Outcome.SUCCEEDED
        assert len(harmless.waits) == 1


async def test_a_request_that_never_left_is_retried_even_when_harmful() -> None:
    run = Run(Sinch(httpx.ConnectError("refused"), httpx.Response(204)))
    execution = await run(say())
    assert execution.outcome is Outcome.SUCCEEDED
    assert execution.attempts == 2
    assert run.meter.statuses == [None, 204]


async def test_a_final_answer_is_not_retried() -> None:
    call_not_found = httpx.Response(404, json={"errorCode": 40400, "message": "Call not found"})
    run = Run(Sinch(call_not_found, httpx.Response(204)))
    execution = await run(say())
    assert execution.outcome is Outcome.FAILED
    assert execution.attempts == 1
    assert execution.error is not None and execution.error.code is ErrorCode.CALL_NOT_FOUND
    assert run.waits == []
