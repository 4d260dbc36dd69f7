"""An exception injected at every step of handling a record, through the real engine and the
real command flow (fakes only at the seams: Sinch behind httpx's MockTransport, an in-memory
store, a fake producer and consumer). Whatever fails, each record gets exactly one result, the
lane goes on with the call's next record, the watermark reaches the end, and flow control is
re-evaluated (a paused partition resumes)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from service.delivery.answers import Answer
from service.delivery.engine import Engine
from service.delivery.publishing import Outgoing, Publisher
from service.delivery.records import Record
from service.flow import handler as handler_module
from service.flow.handler import HandlerConfig
from service.idempotency.store import Claim, MemoryStore
from service.retry import Backoff, RetryPolicy
from tests.unit.delivery.test_engine import TOPICS, TP0, FakeConsumer, Meter
from tests.unit.flow.test_handler import Harness, say

FAST = RetryPolicy(Backoff(0.001, 0.002))
CALL_BODY = {"status": "ONGOING", "domain": "pstn", "duration": 3}


class Injected(Exception):
    """The fault this test injects."""


class Once:
    """Raises `Injected` the first time it is called for `offset` (None: any), then never."""

    def __init__(self, offset: int | None = None) -> None:
        self.offset = offset
        self.fired = False

    def fire(self, offset: int | None = None) -> None:
        if not self.fired and (self.offset is None or offset == self.offset):
            self.fired = True
            raise Injected("injected")


class Producer:
    def __init__(self, fault: Once, topic: str) -> None:
        self.fault = fault
        self.topic = topic
        self.acknowledged: list[Outgoing] = []

    async def send(self, message: Outgoing) -> asyncio.Future[object]:
        if message.topic == self.topic:
            self.fault.fire()
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        self.acknowledged.append(message)
        return future


class FaultyStore(MemoryStore):
    def __init__(self, claim: Once, complete: Once) -> None:
        super().__init__(lease_s=10, retention_s=3600)
        self.claim_fault = claim
        self.complete_fault = complete

    async def claim(self, command_id: str, fingerprint: str) -> Claim:
        self.claim_fault.fire()
        return await super().claim(command_id, fingerprint)

    async def complete(self, command_id: str, fingerprint: str, result: bytes) -> None:
        self.complete_fault.fire()
        await super().complete(command_id, fingerprint, result)


class Faults:
    """Where the one fault of a run goes."""

    def __init__(self, step: str) -> None:
        self.step = step

    def at(self, step: str, offset: int | None = None) -> Once:
        return Once(offset) if step == self.step else Once(-1)


class Meter2(Meter):
    def __init__(self, fault: Once) -> None:
        super().__init__()
        self.fault = fault

    def answered(self, answer: Answer, age_s: float | None) -> None:
        self.fault.fire()
        super().answered(answer, age_s)


class PausingConsumer(FakeConsumer):
    def __init__(self, fault: Once) -> None:
        super().__init__()
        self.fault = fault

    def pause(self, tps: set[Any]) -> None:
        self.fault.fire()
        super().pause(tps)


# Offsets 0-2: one call's three commands (the middle one is the faulty record where a step
# is per record); 3: a record that is not a command (dead letter); 4: another call.
def _records() -> list[Record]:
    def command(offset: int, command_id: str, call: str) -> Record:
        body = {**say(command_id), "callId": call, "snapshot": True}
        return Record(TP0.topic, 0, offset, call.encode(), json.dumps(body).encode())

    return [
        command(0, "c-0", "call-1"),
        command(1, "c-1", "call-1"),
        command(2, "c-2", "call-1"),
        Record(TP0.topic, 0, 3, b"call-1", b"{not json"),
        command(4, "c-4", "call-2"),
    ]


STEPS = [
    "decode",
    "claim",
    "plan",
    "attempt",
    "snapshot_read",
    "store_write",
    "publish_result",
    "publish_snapshot",
    "publish_dead_letter",
    "ack",
    "flow_control",
]


@contextmanager
def patched(target: object, name: str, wrapper: Callable[[Any], Any]) -> Iterator[None]:
    original = getattr(target, name)
    setattr(target, name, wrapper(original))
    try:
        yield
    finally:
        setattr(target, name, original)


@pytest.mark.parametrize("step", STEPS)
async def test_each_record_gets_exactly_one_result_whatever_step_fails(step: str) -> None:
    faults = Faults(step)
    store = FaultyStore(claim=faults.at("claim"), complete=faults.at("store_write"))
    harness = Harness(store=store, config=HandlerConfig(65536, snapshot_default=True))
    harness.call_body = CALL_BODY
    attempt, snapshot_read = faults.at("attempt"), faults.at("snapshot_read")
    transport = harness.handler._executor._sinch._http._transport
    answer_request = transport.handler  # type: ignore[attr-defined]

    async def sinch(request: httpx.Request) -> httpx.Response:
        (snapshot_read if request.method == "GET" else attempt).fire()
        response: httpx.Response = await answer_request(request)
        return response

    transport.handler = sinch  # type: ignore[attr-defined]
    handler = harness.handler
    publish_fault = Once()
    topic = {
        "publish_result": TOPICS.results,
        "publish_snapshot": TOPICS.snapshots,
        "publish_dead_letter": TOPICS.dead_letter,
    }.get(step, "none")
    producer = Producer(publish_fault if topic != "none" else Once(-1), topic)
    meter = Meter2(faults.at("ack"))
    decode, plan = faults.at("decode", offset=1), faults.at("plan")

    def failing_decode(original: Callable[[Record], Any]) -> Callable[[Record], Any]:
        def decode_(record: Record) -> Any:
            decode.fire(record.offset)
            return original(record)

        return decode_

    def failing_plan(original: Callable[..., Any]) -> Callable[..., Any]:
        def plan_(command: Any) -> Any:
            plan.fire()
            return original(command)

        return plan_

    engine = Engine(
        handler,
        Publisher(producer, policy=FAST),
        topics=TOPICS,
        meter=meter,
        max_in_flight=2,
        max_buffered=2,  # a share of 1 per partition: the first record pauses the partition
        commit_interval_s=3600,
        revoke_timeout_s=0.2,
    )
    consumer = PausingConsumer(faults.at("flow_control"))
    engine.start(consumer)
    await engine.assign({TP0})
    records = _records()
    with (
        patched(handler, "_decode", failing_decode),
        patched(handler_module, "plan", failing_plan),
    ):
        engine.submit(records)  # a failing pause here is logged: the next record retries it
        for _ in range(200):
            await asyncio.sleep(0.005)
            if engine.state().buffered == 0 and engine.state().in_flight == 0:
                break
        await engine.commit()
    paused = set(consumer.paused)
    await engine.stop(grace_s=1)

    results = [json.loads(m.value or b"") for m in producer.acknowledged if m.topic == "results"]
    offsets = sorted(r["source"]["offset"] for r in results)
    assert offsets == [0, 1, 2, 3, 4], f"{step}: one result per record, got {offsets}"
    by_offset = {r["source"]["offset"]: r for r in results}
    # The call's later records ran after the faulty one: its lane went on, in order.
    assert [r["source"]["offset"] for r in results if r.get("callId") == "call-1"] == sorted(
        r["source"]["offset"] for r in results if r.get("callId") == "call-1"
    )
    assert by_offset[3]["outcome"] == "rejected"
    letters = [m for m in producer.acknowledged if m.topic == TOPICS.dead_letter]
    assert len(letters) == 1, "the dead letter goes out once"
    assert consumer.last_committed(TP0) == 5, f"{step}: the watermark reaches the end"
    assert consumer.pause_calls >= 1, "the partition was paused (a share of one record)"
    assert not paused, f"{step}: flow control resumed the partition"
    failed = {o: r["error"]["code"] for o, r in by_offset.items() if r["outcome"] == "failed"}
    expected = {
        "decode": {1: "internal_error"},
        "plan": {0: "internal_error"},
        # No answer to a PATCH that may have reached Sinch: not repeated (docs/contract.md)
        "attempt": {0: "upstream_unavailable"},
    }.get(step, {})
    assert failed == expected, f"{step}: {failed}"
    if step == "decode":
        assert by_offset[1]["commandId"] == "c-1", "the crash answer names the command"
    if step == "snapshot_read":
        assert by_offset[0]["outcome"] == "succeeded", "a failed snapshot read fails nothing"
    assert harness.leases.held == frozenset(), "no claim is left renewed"
