"""The flow of one command with fakes at its seams: MockTransport for Sinch, an in-memory
store. What the answer says for each branch, and which requests were made."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from structlog.contextvars import bind_contextvars, clear_contextvars, merge_contextvars
from structlog.testing import capture_logs

from service.delivery.answers import Answer, OutputTopics, messages
from service.delivery.lanes import Dropped, Turn
from service.delivery.publishing import Outgoing
from service.delivery.records import Record
from service.domain.decode import Rejection, decode_command
from service.flow.executor import Executor
from service.flow.handler import CommandHandler, HandlerConfig
from service.idempotency.leases import Leases
from service.idempotency.store import Claim, ClaimKind, MemoryStore, fingerprint
from service.ops.metrics import Metrics
from service.ops.tracing import Tracing
from service.retry import Backoff, RetryPolicy
from service.settings import TracingSettings
from service.sinch import BasicAuth, SinchClient, build_http_client

TOPICS = OutputTopics("results", "snapshots", "dead-letter")


class FlakyStore(MemoryStore):
    """Fails its first `failures` calls, like Redis restarting."""

    def __init__(self, failures: int) -> None:
        super().__init__(lease_s=10, retention_s=3600)
        self.failures = failures

    async def claim(self, command_id: str, fingerprint: str) -> Claim:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("redis is restarting")
        return await super().claim(command_id, fingerprint)


class Harness:
    def __init__(
        self,
        store: MemoryStore | None = None,
        status: int = 204,
        config: HandlerConfig | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.requests: list[httpx.Request] = []
        # when set, Sinch's answer to every request (an exception is raised as the transport's)
        self.reply: Callable[[httpx.Request], httpx.Response] | None = None
        self.status = status
        self.call_body: dict[str, Any] | None = None  # what a GET of the call answers
        self.sinch_gate: asyncio.Event | None = None  # when set, Sinch answers once it opens

        async def answer(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            if self.sinch_gate is not None:
                await self.sinch_gate.wait()
            if self.reply is not None:
                return self.reply(request)
            if request.method == "GET" and self.call_body is not None:
                return httpx.Response(200, json=self.call_body)
            if self.status == 404:  # Sinch's "call not found" body
                return httpx.Response(404, json={"errorCode": 40400, "message": "Call not found"})
            return httpx.Response(self.status)

        http = build_http_client(
            connect_timeout=1,
            read_timeout=1,
            write_timeout=1,
            pool_timeout=1,
            max_connections=4,
            transport=httpx.MockTransport(answer),
        )
        executor = Executor(
            SinchClient(http, BasicAuth("key", "secret"), base_url="http://sinch.test"),
            policy=RetryPolicy(Backoff(0.001, 0.01), max_attempts=3, max_retry_after_s=1),
            meter=Metrics(),
        )
        self.store = store or MemoryStore(lease_s=10, retention_s=3600)
        self.leases = Leases(self.store, renew_every_s=3600)
        self.handler = CommandHandler(
            config or HandlerConfig(max_command_bytes=65536, snapshot_default=False),
            leases=self.leases,
            executor=executor,
            tracing=tracing or Tracing(TracingSettings()),
        )
        self.sent: list[Outgoing] = []
        self.answers: list[Answer] = []
        self.offset = 0

    async def run(
        self,
        command: dict[str, Any],
        turn: Turn | None = None,
        headers: tuple[tuple[str, bytes], ...] = (),
    ) -> dict[str, Any]:
        record = Record(
            "commands",
            0,
            self.offset,
            command["callId"].encode(),
            json.dumps(command).encode(),
            headers,
        )
        self.offset += 1
        answer = await self.handler(record, turn or await new_turn())
        self.answers.append(answer)
        self.sent += messages(record, answer, TOPICS)
        assert self.leases.held == frozenset(), "no claim is left renewed after its command"
        result: dict[str, Any] = json.loads(answer.result)
        return result


async def new_turn() -> Turn:
    place = asyncio.Semaphore(1)
    await place.acquire()
    return Turn(place)


def say(command_id: str = "c-1", text: str = "hi") -> dict[str, Any]:
    return {
        "commandId": command_id,
        "callId": "call-1",
        "type": "say",
        "text": text,
        "locale": "en-US",
    }


async def test_a_store_outage_delays_the_command_instead_of_failing_it() -> None:
    harness = Harness(store=FlakyStore(failures=3))
    result = await harness.run(say())
    assert result["outcome"] == "succeeded"
    assert len(harness.requests) == 1


async def test_replay_and_conflict() -> None:
    harness = Harness()
    first = await harness.run(say())
    again = await harness.run(say())
    other = await harness.run(say(text="different"))
    assert first["duplicate"] is False
    assert again["duplicate"] is True
    assert again["outcome"] == "succeeded"
    assert again["source"]["offset"] == 1
    assert other["outcome"] == "rejected"
    assert other["error"]["code"] == "idempotency_conflict"
    assert len(harness.requests) == 1
    dead = [m for m in harness.sent if m.topic == TOPICS.dead_letter]
    assert len(dead) == 1
    assert dead[0].headers["error.code"] == "idempotency_conflict"


@pytest.mark.parametrize(
    ("command", "requests", "outcome"),
    [
        (say(), 0, "failed"),  # may already have played: not repeated
        ({"commandId": "c-1", "callId": "call-1", "type": "hangup"}, 1, "succeeded"),
    ],
)
async def test_an_interrupted_execution_is_repeated_only_when_harmless(
    command: dict[str, Any], requests: int, outcome: str
) -> None:
    clock = [1000.0]
    store = MemoryStore(lease_s=10, retention_s=3600, clock=lambda: clock[0])
    harness = Harness(store=store)
    decoded = decode_command(None, json.dumps(command).encode(), max_bytes=65536)
    assert not isinstance(decoded, Rejection)
    print_ = fingerprint(decoded.model_dump_json(by_alias=True).encode())
    assert (await store.claim("c-1", print_)).kind is ClaimKind.NEW  # claimed, then died
    clock[0] += 11
    result = await harness.run(command)
    assert len(harness.requests) == requests
    assert result["outcome"] == outcome
    if outcome == "failed":
        assert result["error"]["code"] == "outcome_unknown"


async def test_expired_at_its_turn_is_not_executed() -> None:
    harness = Harness()
    result = await harness.run({**say(), "expiresAt": "2000-01-01T00:00:00Z"})
    assert result["outcome"] == "expired"
    assert harness.requests == []


async def test_a_final_failure_is_stored_and_replayed_not_retried() -> None:
    harness = Harness(status=404)
    first = await harness.run(say())
    again = await harness.run(say())
    assert first["error"]["code"] == "call_not_found"
    assert again["duplicate"] is True
    assert again["error"]["code"] == "call_not_found"
    assert len(harness.requests) == 1


async def test_snapshots_are_switched_off_per_type_and_tts_limit_is_the_setting() -> None:
    config = HandlerConfig(
        max_command_bytes=65536,
        snapshot_default=True,
        snapshot_off_types=frozenset({"say"}),
        tts_max_chars=700,
    )
    harness = Harness(config=config)
    long_say = await harness.run(say(text="x" * 650))
    assert long_say["outcome"] == "succeeded", "650 characters pass a raised limit"
    assert [r.method for r in harness.requests] == ["PATCH"], "no snapshot read for say"
    await harness.run({"commandId": "c-2", "callId": "call-1", "type": "stopRecording"})
    assert [r.method for r in harness.requests] == ["PATCH", "PATCH", "GET"]
    over = await harness.run(say(command_id="c-3", text="x" * 701))
    assert over["error"]["code"] == "invalid_command"
    assert over["error"]["message"] == "text: at most 700 characters (got 701)"


async def test_abandoned_while_executing_answers_outcome_unknown_and_stores_it() -> None:
    harness = Harness()
    harness.sinch_gate = asyncio.Event()  # Sinch never answers
    turn = await new_turn()
    running = asyncio.create_task(harness.run(say(), turn))
    for _ in range(100):
        if harness.requests:
            break
        await asyncio.sleep(0.01)
    assert turn._abandon(), "executing: abandonable"
    result = await running
    assert result["outcome"] == "failed"
    assert result["error"]["code"] == "outcome_unknown"
    assert result["error"]["retryable"] is False, "say is not harmless"
    harness.sinch_gate.set()
    again = await harness.run(say())
    assert again["duplicate"] is True, "the abandoned result was stored"
    assert again["error"]["code"] == "outcome_unknown"
    assert len(harness.requests) == 1


async def test_lines_about_a_command_carry_its_ids() -> None:
    harness = Harness(store=FlakyStore(failures=2))
    bind_contextvars(partition=0, offset=0)  # what delivery binds for the record
    try:
        with capture_logs(processors=[merge_contextvars]) as logs:
            await harness.run(say(command_id="c-42"))
    finally:
        clear_contextvars()
    waits = [entry for entry in logs if entry["event"] == "idempotency_store_unavailable"]
    assert len(waits) == 2
    for line in waits:
        assert line["command_id"] == "c-42"
        assert line["call_id"] == "call-1"
        assert (line["partition"], line["offset"]) == (0, 0)


async def test_a_read_that_tells_nothing_publishes_no_snapshot() -> None:
    harness = Harness(config=HandlerConfig(max_command_bytes=65536, snapshot_default=True))
    stop = {"commandId": "c-1", "callId": "call-1", "type": "stopRecording"}
    assert (await harness.run(stop))["outcome"] == "succeeded"
    assert [r.method for r in harness.requests] == ["PATCH", "GET"], "the call was read"
    assert not [m for m in harness.sent if m.topic == TOPICS.snapshots], "an empty 2xx read"
    harness.call_body = {"callId": "call-1", "status": "ONGOING"}
    assert (await harness.run({**stop, "commandId": "c-2"}))["outcome"] == "succeeded"
    snapshots = [m for m in harness.sent if m.topic == TOPICS.snapshots]
    assert len(snapshots) == 1 and json.loads(snapshots[0].value or b"")["call"]["status"] == (
        "ONGOING"
    )


async def test_the_command_line_names_the_error_and_sinch_reference() -> None:
    harness = Harness(status=404)
    harness.reply = lambda _: httpx.Response(
        404, json={"errorCode": 40400, "message": "Call not found", "reference": "ref-77"}
    )
    result = await harness.run(say())
    summary = harness.answers[-1].summary
    assert summary["error"] == "call_not_found"
    assert summary["error_message"] == result["error"]["message"]
    assert "Call not found" in str(summary["error_message"])
    assert summary["sinch_reference"] == result["error"]["sinchReference"] == "ref-77"


async def test_without_a_body_reference_the_request_id_header_is_the_reference() -> None:
    harness = Harness()
    harness.reply = lambda _: httpx.Response(
        400,
        json={"errorCode": 40001, "message": "Invalid parameter"},
        headers={"x-request-id": "req-9"},
    )
    result = await harness.run(say())
    assert result["error"]["sinchReference"] == "req-9"
    assert harness.answers[-1].summary["sinch_reference"] == "req-9"


async def test_a_success_has_no_error_fields_on_its_line() -> None:
    harness = Harness()
    await harness.run(say())
    summary = harness.answers[-1].summary
    assert summary["error"] is None
    assert summary["error_message"] is None
    assert summary["sinch_reference"] is None


@pytest.mark.parametrize(
    ("key", "call_id", "expected"),
    [
        (b"call-1", "bad id!\r\n", b"call-1"),  # malformed: the sender's key, not the echo
        (b"call-1", "call-2", b"call-1"),  # key_mismatch: where the sender produced it
        (b"call-1", 12, b"call-1"),  # not a string
        (None, "bad id!", None),  # no key and nothing usable
        (None, "call-3\u0000", None),
    ],
)
async def test_a_rejected_result_is_keyed_by_the_record_key(
    key: bytes | None, call_id: object, expected: bytes | None
) -> None:
    harness = Harness()
    body = {"commandId": "c-1", "callId": call_id, "type": "hangup"}
    record = Record("commands", 0, 0, key, json.dumps(body).encode())
    answer = await harness.handler(record, await new_turn())
    assert json.loads(answer.result)["outcome"] == "rejected"
    assert answer.key == expected
    assert answer.dead_letter is not None
    [letter] = [m for m in messages(record, answer, TOPICS) if m.topic == "dead-letter"]
    assert letter.key == key, "the dead letter keeps the record's key"


async def _claimed_by_another_owner(store: MemoryStore, command: dict[str, Any]) -> str:
    """Claim the command as another (now gone or still live) owner; returns that owner."""
    decoded = decode_command(None, json.dumps(command).encode(), max_bytes=65536)
    assert not isinstance(decoded, Rejection)
    print_ = fingerprint(decoded.model_dump_json(by_alias=True).encode())
    other, store.owner = store.owner, "another-replica"
    assert (await store.claim(command["commandId"], print_)).kind is ClaimKind.NEW
    store.owner = other
    return "another-replica"


async def test_a_gone_owners_claim_is_interrupted_at_once_and_never_resent() -> None:
    """The dead replica's liveness key expired: no lease wait, and a command that is not
    harmless is answered outcome_unknown without a request."""
    store = MemoryStore(lease_s=3600, retention_s=3600)
    harness = Harness(store=store)
    store.gone.add(await _claimed_by_another_owner(store, say()))
    result = await asyncio.wait_for(harness.run(say()), timeout=2)
    assert harness.requests == []
    assert result["outcome"] == "failed" and result["error"]["code"] == "outcome_unknown"


async def test_waiting_on_a_live_owners_claim_is_dropped_by_a_hand_over_leaving_nothing() -> None:
    store = MemoryStore(lease_s=3600, retention_s=3600)
    harness = Harness(store=store)
    await _claimed_by_another_owner(store, say())
    turn = await new_turn()
    record = Record("commands", 0, 0, b"call-1", json.dumps(say()).encode())
    with capture_logs() as logs:
        waiting = asyncio.create_task(harness.handler(record, turn))
        await asyncio.sleep(0.05)
        assert not waiting.done(), "BUSY: waits for the live owner"
        assert turn._drop(), "the wait is droppable"
        with pytest.raises(Dropped):
            await waiting
    assert harness.requests == []
    assert harness.leases.held == frozenset(), "nothing claimed, nothing left renewed"
    assert store._entries["c-1"].owner == "another-replica", "the claim stays the owner's"
    assert not [line for line in logs if line["event"] == "claim_waited"]
