"""Callouts and conference commands through the handler, with a MockTransport for Sinch:
the callout's result carries the new callId (its replay too) and is keyed by the record key;
an interrupted callout is never repeated; a conference command publishes the participants
on the conferences topic, keyed by conferenceId."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from service.delivery.answers import OutputTopics, messages
from service.delivery.publishing import Outgoing
from service.delivery.records import Record
from service.domain.decode import Rejection, decode_command
from service.flow.executor import Executor
from service.flow.handler import CommandHandler, HandlerConfig
from service.idempotency.leases import Leases
from service.idempotency.store import ClaimKind, MemoryStore, fingerprint
from service.ops.metrics import Metrics
from service.ops.tracing import Tracing
from service.retry import Backoff, RetryPolicy
from service.settings import TracingSettings
from service.sinch import BasicAuth, SinchClient, build_http_client
from tests.unit.flow.test_handler import new_turn

TOPICS = OutputTopics("results", "snapshots", "dead-letter", "conferences")
PARTICIPANTS = {"participants": [{"cli": "+4670", "id": "leg-1", "duration": 3, "muted": True}]}


class Sinch:
    """Answers a callout with a new callId, a conference GET with `conference`, else 204."""

    def __init__(self, store: MemoryStore | None = None, callout_status: int = 200) -> None:
        self.requests: list[httpx.Request] = []
        self.callout_status = callout_status
        self.conference: dict[str, Any] | None = PARTICIPANTS

        async def answer(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            path = request.url.path
            if path == "/calling/v1/callouts":
                if self.callout_status != 200:
                    return httpx.Response(self.callout_status)
                return httpx.Response(200, json={"callId": f"new-{len(self.requests)}"})
            if request.method == "GET" and path.startswith("/calling/v1/conferences/"):
                if self.conference is None:
                    body = {"errorCode": 40400, "message": "Conference not found"}
                    return httpx.Response(404, json=body)
                return httpx.Response(200, json=self.conference)
            if request.method == "GET":
                return httpx.Response(200, json={"callId": "x", "status": "ONGOING"})
            return httpx.Response(204)

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
        self.handler = CommandHandler(
            HandlerConfig(max_command_bytes=65536, snapshot_default=True),
            leases=Leases(self.store, renew_every_s=3600),
            executor=executor,
            tracing=Tracing(TracingSettings()),
        )
        self.sent: list[Outgoing] = []

    async def run(self, command: dict[str, Any], key: bytes | None) -> dict[str, Any]:
        record = Record("commands", 0, len(self.sent), key, json.dumps(command).encode())
        answer = await self.handler(record, await new_turn())
        self.sent += messages(record, answer, TOPICS)
        result: dict[str, Any] = json.loads(answer.result)
        return result

    def on(self, topic: str) -> list[Outgoing]:
        return [m for m in self.sent if m.topic == topic]


CALLOUT = {
    "commandId": "co-1",
    "type": "callout",
    "callout": {
        "method": "conferenceCallout",
        "conferenceCallout": {
            "destination": {"type": "number", "endpoint": "+46700000010"},
            "conferenceId": "room-1",
        },
    },
}


async def test_a_callout_result_carries_the_new_call_and_its_replay_too() -> None:
    sinch = Sinch()
    first = await sinch.run(CALLOUT, b"+46700000010")
    again = await sinch.run(CALLOUT, b"+46700000010")
    assert first["outcome"] == "succeeded" and first["callId"] == "new-1"
    assert first["conferenceId"] == "room-1"
    assert (again["duplicate"], again["callId"]) == (True, "new-1")
    assert [r.url.path for r in sinch.requests] == [
        "/calling/v1/callouts",
        "/calling/v1/calls/id/new-1",  # the new call's snapshot
    ]
    results = sinch.on(TOPICS.results)
    assert {m.key for m in results} == {b"+46700000010"}
    [snapshot] = sinch.on(TOPICS.snapshots)
    assert snapshot.key == b"new-1" and json.loads(snapshot.value or b"")["callId"] == "new-1"


async def test_a_keyless_callout_answers_keyless() -> None:
    sinch = Sinch()
    result = await sinch.run(CALLOUT, None)
    assert result["callId"] == "new-1"
    assert sinch.on(TOPICS.results)[0].key is None


async def test_an_interrupted_callout_is_not_repeated() -> None:
    clock = [1000.0]
    store = MemoryStore(lease_s=10, retention_s=3600, clock=lambda: clock[0])
    sinch = Sinch(store)
    decoded = decode_command(None, json.dumps(CALLOUT).encode(), max_bytes=65536)
    assert not isinstance(decoded, Rejection)
    print_ = fingerprint(decoded.model_dump_json(by_alias=True).encode())
    assert (await store.claim("co-1", print_)).kind is ClaimKind.NEW  # claimed, then died
    clock[0] += 11
    result = await sinch.run(CALLOUT, b"+46700000010")
    assert sinch.requests == []
    assert (result["outcome"], result["error"]["code"]) == ("failed", "outcome_unknown")


async def test_a_callout_answered_500_is_sent_once() -> None:
    sinch = Sinch(callout_status=500)
    result = await sinch.run(CALLOUT, b"+46700000010")
    assert len(sinch.requests) == 1
    assert result["error"]["code"] == "outcome_unknown" and result["callId"] is None


@pytest.mark.parametrize(
    ("kind", "extra", "participants"),
    [
        ("getConferenceInfo", {}, PARTICIPANTS["participants"]),
        ("muteParticipant", {"callId": "leg-1"}, PARTICIPANTS["participants"]),
        ("kickAllParticipants", {}, []),
    ],
)
async def test_conference_commands_publish_the_participants(
    kind: str, extra: dict[str, Any], participants: list[Any]
) -> None:
    sinch = Sinch()
    command = {"commandId": f"c-{kind}", "type": kind, "conferenceId": "room-1", **extra}
    result = await sinch.run(command, b"room-1")
    assert result["outcome"] == "succeeded" and result["conferenceId"] == "room-1"
    assert result["callId"] == extra.get("callId")
    [conference] = sinch.on(TOPICS.conferences)
    assert conference.key == b"room-1"
    published = json.loads(conference.value or b"")
    assert published["conferenceId"] == "room-1" and published["commandId"] == f"c-{kind}"
    expected = [
        {"cli": None, "id": None, "duration": None, "muted": None, "onhold": None, **p}
        for p in participants
    ]
    assert published["participants"] == expected
    assert sinch.on(TOPICS.snapshots) == []  # no call snapshot for a conference command
    assert {m.key for m in sinch.on(TOPICS.results)} == {b"room-1"}


async def test_a_kick_that_empties_the_conference_publishes_no_participants() -> None:
    sinch = Sinch()
    sinch.conference = None  # the read after the kick: Sinch no longer knows the conference
    kick = {"commandId": "k-1", "type": "kickParticipant", "conferenceId": "room-1"}
    result = await sinch.run({**kick, "callId": "leg-1"}, b"room-1")
    assert result["outcome"] == "succeeded"
    [conference] = sinch.on(TOPICS.conferences)
    assert json.loads(conference.value or b"")["participants"] == []
