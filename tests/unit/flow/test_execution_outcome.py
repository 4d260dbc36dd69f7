"""Once Sinch has answered, that answer is the outcome: abandoning the snapshot read or the
store write cannot turn it into `outcome_unknown`. A retry never goes out after `expiresAt`,
even when its wait ended late. Unmapped library errors become contract codes."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx

from service.delivery.lanes import Turn
from service.domain.results import ErrorCode, Outcome
from service.flow.handler import HandlerConfig
from service.idempotency.store import MemoryStore
from tests.unit.flow.test_executor import NOW, Run, Sinch
from tests.unit.flow.test_executor import say as executor_say
from tests.unit.flow.test_handler import Harness, new_turn, say

CALL_BODY = {"status": "ONGOING", "domain": "pstn"}


async def abandon_when(turn: Turn, condition: asyncio.Event) -> None:
    await condition.wait()
    assert turn._abandon(), "something runs under abandonable"


async def test_abandon_during_the_snapshot_read_keeps_the_success() -> None:
    harness = Harness(config=HandlerConfig(65536, snapshot_default=True))
    reading, never = asyncio.Event(), asyncio.Event()
    transport = harness.handler._executor._sinch._http._transport
    answer = transport.handler  # type: ignore[attr-defined]

    async def sinch(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            reading.set()
            await never.wait()  # the read hangs until abandoned
        response: httpx.Response = await answer(request)
        return response

    transport.handler = sinch  # type: ignore[attr-defined]
    turn = await new_turn()
    abandoning = asyncio.create_task(abandon_when(turn, reading))
    result = await harness.run(say(), turn)
    await abandoning
    assert result["outcome"] == "succeeded", result
    assert result["httpStatus"] == 204 and result["attempts"] == 1
    assert not [m for m in harness.sent if m.topic == "snapshots"], "no snapshot was read"
    never.set()
    again = await harness.run(say())  # a redelivery finds the stored success
    assert again["duplicate"] is True and again["outcome"] == "succeeded"


class SlowStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__(lease_s=10, retention_s=3600)
        self.writing = asyncio.Event()
        self.go_on = asyncio.Event()

    async def complete(self, command_id: str, fingerprint: str, result: bytes) -> None:
        self.writing.set()
        await self.go_on.wait()
        await super().complete(command_id, fingerprint, result)


async def test_abandon_during_the_store_write_keeps_the_success() -> None:
    store = SlowStore()
    harness = Harness(store=store)
    turn = await new_turn()

    async def abandon_then_finish() -> bool:
        await store.writing.wait()
        abandoned = turn._abandon()
        store.go_on.set()
        return abandoned

    abandoning = asyncio.create_task(abandon_then_finish())
    result = await harness.run(say(), turn)
    assert await abandoning is False, "the store write is not abandonable work"
    assert result["outcome"] == "succeeded"
    assert result["error"] is None


async def test_a_retry_whose_wait_ended_past_expires_at_is_not_sent() -> None:
    now = [NOW]
    sinch = Sinch(httpx.Response(503), httpx.Response(204))
    run = Run(sinch, clock=lambda: now[0])

    async def late_wait(seconds: float) -> None:  # the place came back long after the backoff
        now[0] += timedelta(seconds=30)

    run.wait = late_wait  # type: ignore[method-assign]
    expires = (NOW + timedelta(seconds=10)).isoformat()
    execution = await run(executor_say(expiresAt=expires))
    assert len(sinch.requests) == 1, "the retry would go out after expiresAt"
    assert execution.outcome is Outcome.FAILED
    assert execution.attempts == 1
    assert execution.error is not None
    assert execution.error.code is ErrorCode.UPSTREAM_UNAVAILABLE
    assert "expiresAt passed" in execution.error.message


async def test_errors_the_transport_does_not_map_become_contract_codes() -> None:
    """Anything a transport raises (not only httpx's errors) is an answer-less attempt."""
    cases: list[tuple[Exception, dict[str, Any], ErrorCode, bool]] = [
        (RuntimeError("a library bug"), executor_say(), ErrorCode.UPSTREAM_UNAVAILABLE, False),
        (ConnectionRefusedError(), executor_say(), ErrorCode.UPSTREAM_UNAVAILABLE, True),
        (TimeoutError(), executor_say(), ErrorCode.TIMEOUT, False),
        (OSError("reset"), executor_say(), ErrorCode.UPSTREAM_UNAVAILABLE, False),
    ]
    for error, command, code, retried in cases:
        sinch = Sinch(error, httpx.Response(204))
        execution = await Run(sinch)(command)
        if retried:  # provably not sent: repeated, and the repeat succeeds
            assert execution.outcome is Outcome.SUCCEEDED, error
            continue
        assert execution.outcome is Outcome.FAILED, error
        assert execution.error is not None and execution.error.code is code, error
        assert len(sinch.requests) == 1, f"{error!r}: maybe sent, a say is not repeated"
