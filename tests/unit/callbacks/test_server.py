"""The callback endpoint with fakes at its seams: Kafka that does not acknowledge, a store that
is down, a callback delivered twice, DiCE's snapshot. Real HTTP on a loopback port."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping

import httpx
import pytest
from prometheus_client import CollectorRegistry

from service.callbacks.calls import MemoryCallBook
from service.callbacks.policy import AnswerPolicy
from service.callbacks.server import CallbackServer
from service.callbacks.signature import CallbackVerifier
from service.delivery.publishing import Outgoing, Publisher
from service.domain.calls import CallRoute
from service.idempotency.store import MemoryStore
from service.settings import CallbackSettings, TopicSettings
from service.sinch.auth import SignedAuth, decode_secret

KEY, SECRET = "app-key", "c2ltLXNlY3JldC0xMjM0NTY="
TOPICS = TopicSettings()


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[Outgoing] = []
        self.acknowledge = True

    async def send(self, message: Outgoing) -> asyncio.Future[object]:
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        if self.acknowledge:
            self.sent.append(message)
            future.set_result(None)
        return future


class DownStore(MemoryStore):
    async def claim(self, command_id: str, fingerprint: str) -> object:  # type: ignore[override]
        raise ConnectionError("redis is down")


class Endpoint:
    def __init__(self, store: MemoryStore | None = None) -> None:
        self.producer = FakeProducer()
        self.book: MemoryCallBook = MemoryCallBook(3600)
        self.store = store or MemoryStore(lease_s=30, retention_s=3600)
        self.server = CallbackServer(
            CallbackSettings(enabled=True, host="127.0.0.1", port=0, publish_timeout_s=0.3),
            TOPICS,
            verifier=CallbackVerifier(KEY, decode_secret(SECRET), max_skew_s=300),
            policy=AnswerPolicy(),
            store=self.store,
            calls=self.book,
            publisher=Publisher(self.producer),
            registry=CollectorRegistry(),
        )
        self.auth = SignedAuth(KEY, SECRET)

    async def post(self, callback: Mapping[str, object]) -> httpx.Response:
        body = json.dumps(callback).encode()
        headers = {
            **self.auth.headers("POST", "/sinch/callbacks", body),
            "Content-Type": "application/json",
        }
        async with httpx.AsyncClient() as client:
            return await client.post(
                f"http://127.0.0.1:{self.server.port}/sinch/callbacks",
                content=body,
                headers=headers,
            )


@pytest.fixture
async def endpoint() -> AsyncIterator[Endpoint]:
    ep = Endpoint()
    await ep.server.start()
    yield ep
    await ep.server.stop()


ICE: dict[str, object] = {
    "event": "ice",
    "callid": "call-1",
    "timestamp": "2026-12-01T14:00:00Z",
    "callResourceUrl": "https://calling-use1.api.sinch.com/calling/v1/calls/id/call-1",
    "to": {"type": "number", "endpoint": "+4670"},
}


async def test_kafka_not_acknowledging_is_503_and_the_callback_can_come_again(
    endpoint: Endpoint,
) -> None:
    endpoint.producer.acknowledge = False
    refused = await endpoint.post(ICE)
    assert refused.status_code == 503 and "Kafka" in refused.json()["error"]
    endpoint.producer.acknowledge = True
    answered = await endpoint.post(ICE)  # the claim was given back
    assert answered.status_code == 200
    assert json.loads(answered.content)["action"]["name"] == "park"
    assert len(endpoint.producer.sent) == 1


async def test_twice_delivered_is_one_event_and_the_same_answer(endpoint: Endpoint) -> None:
    first, second = await endpoint.post(ICE), await endpoint.post(ICE)
    assert first.content == second.content
    assert [m.topic for m in endpoint.producer.sent] == [TOPICS.events]
    event = json.loads(endpoint.producer.sent[0].value or b"")
    assert endpoint.producer.sent[0].key == b"call-1"
    assert event["region"] == "use1" and event["answer"] == json.loads(first.content)
    route = await endpoint.book.recall("call-1")
    assert route is not None and route.region == "use1" and route.called_number == "+4670"


async def test_dice_publishes_event_and_final_snapshot_and_ends_the_call(
    endpoint: Endpoint,
) -> None:
    await endpoint.post(ICE)
    dice = {"event": "dice", "callid": "call-1", "reason": "CALLERHANGUP", "result": "ANSWERED",
            "duration": 9, "debit": {"currencyId": "EUR", "amount": 0.01}}  # fmt: skip
    answered = await endpoint.post(dice)
    assert answered.status_code == 200 and answered.content == b""
    topics = [m.topic for m in endpoint.producer.sent]
    assert topics == [TOPICS.events, TOPICS.events, TOPICS.snapshots]
    snapshot = json.loads(endpoint.producer.sent[2].value or b"")
    assert snapshot["commandId"] is None
    assert snapshot["call"]["status"] == "FINAL" and snapshot["call"]["duration"] == 9
    route = await endpoint.book.recall("call-1")
    assert route is not None and route.ended and route.region == "use1"


async def test_store_down_is_503_and_nothing_published() -> None:
    ep = Endpoint(DownStore(lease_s=30, retention_s=60))
    await ep.server.start()
    try:
        response = await ep.post(ICE)
    finally:
        await ep.server.stop()
    assert response.status_code == 503 and "store" in response.json()["error"]
    assert ep.producer.sent == []


async def test_ace_answer_follows_the_number_remembered_from_ice() -> None:
    ep = Endpoint()
    ep.server._policy = AnswerPolicy.from_data(
        {"numbers": {"+4670": {"ace": {"action": {"name": "hangup"}}}}}
    )
    await ep.server.start()
    try:
        await ep.post(ICE)
        ace = await ep.post({"event": "ace", "callid": "call-1", "timestamp": "t"})
        other = await ep.post({"event": "ace", "callid": "call-2", "timestamp": "t"})
    finally:
        await ep.server.stop()
    assert ace.content == b'{"action":{"name":"hangup"}}'
    assert other.content == b'{"action":{"name":"continue"}}'


class CountingBook(MemoryCallBook):
    def __init__(self) -> None:
        super().__init__(3600)
        self.recalls = 0

    async def recall(self, call_id: str) -> CallRoute | None:
        self.recalls += 1
        return await super().recall(call_id)


async def test_later_callbacks_of_a_call_answered_here_do_not_ask_the_book() -> None:
    ep = Endpoint()
    ep.book = CountingBook()
    ep.server = CallbackServer(
        CallbackSettings(enabled=True, host="127.0.0.1", port=0),
        TOPICS,
        verifier=CallbackVerifier(KEY, decode_secret(SECRET), max_skew_s=300),
        policy=AnswerPolicy(),
        store=ep.store,
        calls=ep.book,
        publisher=Publisher(ep.producer),
        registry=CollectorRegistry(),
    )
    # Another replica answered call-2's ICE: only the book knows it.
    await ep.book.remember("call-2", CallRoute("euc1", None, "+4671"))
    await ep.server.start()
    try:
        await ep.post(ICE)
        for event in ("ace", "dice"):
            response = await ep.post({"event": event, "callid": "call-1", "timestamp": "t"})
            assert response.status_code == 200
        assert ep.book.recalls == 0
        for event in ("ace", "dice"):
            response = await ep.post({"event": event, "callid": "call-2", "timestamp": "t"})
            assert response.status_code == 200
    finally:
        await ep.server.stop()
    assert ep.book.recalls == 1  # call-2's route read once, then kept
    ended = await MemoryCallBook.recall(ep.book, "call-2")
    assert ended is not None and ended.ended and ended.region == "euc1"
    assert ended.called_number == "+4671"
