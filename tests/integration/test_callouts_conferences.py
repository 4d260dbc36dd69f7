"""Callouts and conference commands through the real broker against the simulator process:
a callout's result carries a callId the simulator knows, a replay carries it again, a callout
that may have reached Sinch is never sent twice, and a participant muted, held with music,
resumed and kicked shows each step in the conference snapshot (issue 13)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from service.kafka.topics import ensure_topics
from service.settings import CallbackSettings, Settings
from testkit.kafka import KafkaClient
from testkit.processes import SimulatorProcess, free_port
from testkit.service import running_service, service_settings

CALLOUTS = "/calling/v1/callouts"


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def callout(method: str, details: dict[str, Any], command_id: str | None = None) -> dict[str, Any]:
    return {
        "commandId": command_id or new_id("callout"),
        "type": "callout",
        "callout": {"method": method, method: details},
    }


def tts(endpoint: str) -> dict[str, Any]:
    return callout(
        "ttsCallout",
        {
            "destination": {"type": "number", "endpoint": endpoint},
            "cli": "+46700000001",
            "text": "Your table is ready",
            "locale": "en-US",
        },
    )


def join(conference_id: str, endpoint: str) -> dict[str, Any]:
    return callout(
        "conferenceCallout",
        {"destination": {"type": "number", "endpoint": endpoint}, "conferenceId": conference_id},
    )


def conference_command(conference_id: str, kind: str, **fields: Any) -> dict[str, Any]:
    return {"commandId": new_id(kind), "type": kind, "conferenceId": conference_id, **fields}


async def callout_posts(simulator: SimulatorProcess) -> list[dict[str, Any]]:
    return [r for r in await simulator.request_log() if r["path"] == CALLOUTS]


async def known_call(simulator: SimulatorProcess, call_id: str) -> dict[str, Any]:
    response = await simulator.admin.get(f"/_admin/calls/{call_id}")
    assert response.status_code == 200, f"the simulator does not know {call_id}"
    found: dict[str, Any] = response.json()
    return found


async def test_a_callout_result_carries_the_new_call_and_a_replay_carries_it_again(
    settings: Settings, simulator: SimulatorProcess, kafka_client: KafkaClient
) -> None:
    placed = tts("+46700000020")
    unkeyed = tts("+46700000021")
    async with running_service(settings):
        await kafka_client.send(placed, key="+46700000020")  # the contract's recommended key
        await kafka_client.send(unkeyed)  # no key at all: fine for a callout
        first = await kafka_client.results_for([placed["commandId"], unkeyed["commandId"]])
        await kafka_client.send(placed, key="+46700000020")  # the same commandId again
        await kafka_client.collect(
            lambda _: any(r["duplicate"] for r in kafka_client.results()), timeout_s=30
        )

    result = first[placed["commandId"]]
    assert result["outcome"] == "succeeded", result["error"]
    call_id = result["callId"]
    assert call_id and call_id != first[unkeyed["commandId"]]["callId"]
    call = await known_call(simulator, call_id)
    assert call["to"] == {"type": "number", "endpoint": "+46700000020"}
    assert result["request"]["method"] == "POST" and result["request"]["path"] == CALLOUTS

    [replay] = [r for r in kafka_client.results() if r["duplicate"]]
    assert replay["commandId"] == placed["commandId"] and replay["callId"] == call_id
    assert len(await callout_posts(simulator)) == 2, "the replay placed no call"

    # The results are keyed by the record key; the new call's snapshot by its callId.
    keys = {r.json()["commandId"]: r.key for r in kafka_client.on(settings.topics.results)}
    assert keys[placed["commandId"]] == b"+46700000020"
    assert keys[unkeyed["commandId"]] is None
    snapshots = [r for r in kafka_client.on(settings.topics.snapshots) if r.key == call_id.encode()]
    assert snapshots and snapshots[0].json()["call"]["status"] == "ONGOING"


async def test_a_callout_that_may_have_reached_sinch_is_not_sent_twice(
    settings: Settings, simulator: SimulatorProcess, kafka_client: KafkaClient
) -> None:
    # The simulator places the call, then answers 500 (first) or drops the connection (second).
    spoiled = tts("+46700000030")
    dropped = tts("+46700000031")
    async with running_service(settings):
        await simulator.set_faults(errorRate=1.0, errorStatuses=[500], afterProcessingRate=1.0)
        await kafka_client.send(spoiled, key="+46700000030")
        await kafka_client.results_for([spoiled["commandId"]])
        await simulator.set_faults(dropRate=1.0, afterProcessingRate=1.0)
        await kafka_client.send(dropped, key="+46700000031")
        await kafka_client.results_for([dropped["commandId"]])
        await simulator.set_faults()
        await kafka_client.send(spoiled, key="+46700000030")  # replayed, never re-sent
        await kafka_client.collect(
            lambda _: any(r["duplicate"] for r in kafka_client.results()), timeout_s=30
        )

    results = {r["commandId"]: r for r in kafka_client.results() if not r["duplicate"]}
    for cmd in (spoiled, dropped):
        result = results[cmd["commandId"]]
        assert result["outcome"] == "failed"
        assert result["attempts"] == 1, "a callout is never repeated once it may have reached Sinch"
        assert result["error"]["code"] == "outcome_unknown"
        assert result["error"]["retryable"] is False
    posts = await callout_posts(simulator)
    assert len(posts) == 2, posts
    assert {p["fault"] for p in posts} == {"error", "drop"}
    calls = (await simulator.admin.get("/_admin/calls")).json()["calls"]
    assert len(calls) == 2, "each callout placed its call once"
    [replay] = [r for r in kafka_client.results() if r["duplicate"]]
    assert replay["error"]["code"] == "outcome_unknown"


def participants(kafka_client: KafkaClient, topic: str, conference_id: str) -> list[Any]:
    return [
        r.json()
        for r in kafka_client.on(topic)
        if r.key == conference_id.encode() and r.json()["conferenceId"] == conference_id
    ]


async def test_a_participant_muted_held_resumed_and_kicked_shows_in_the_snapshot(
    settings: Settings, simulator: SimulatorProcess, kafka_client: KafkaClient
) -> None:
    room = new_id("room")
    topic = settings.topics.conferences
    async with running_service(settings):
        first, second = join(room, "+46700000041"), join(room, "+46700000042")
        await kafka_client.send(first, key="+46700000041")
        await kafka_client.send(second, key="+46700000042")
        placed = await kafka_client.results_for([first["commandId"], second["commandId"]])
        one, two = (placed[c["commandId"]]["callId"] for c in (first, second))
        assert placed[first["commandId"]]["conferenceId"] == room

        steps = [
            conference_command(room, "getConferenceInfo"),
            conference_command(room, "muteParticipant", callId=one),
            conference_command(room, "holdParticipant", callId=one, moh="music1"),
            conference_command(room, "resumeParticipant", callId=one),
            conference_command(room, "kickParticipant", callId=one),
            conference_command(room, "kickAllParticipants"),
        ]
        for step in steps:
            await kafka_client.send(step, key=room)
        results = await kafka_client.results_for([s["commandId"] for s in steps])
        await kafka_client.collect(
            lambda _: len(participants(kafka_client, topic, room)) >= len(steps), timeout_s=30
        )

    for step in steps:
        result = results[step["commandId"]]
        assert result["outcome"] == "succeeded", (step["type"], result["error"])
        assert result["conferenceId"] == room
    assert results[steps[2]["commandId"]]["request"]["body"] == {
        "command": "onhold",
        "moh": "music1",
    }

    snapshots = participants(kafka_client, topic, room)
    by_command = {s["commandId"]: {p["id"]: p for p in s["participants"]} for s in snapshots}
    info, muted, held, resumed, kicked, empty = (by_command[s["commandId"]] for s in steps)
    assert set(info) == {one, two}
    assert info[one]["cli"] == "+46700000041" and info[one]["muted"] is False
    assert (muted[one]["muted"], muted[one]["onhold"]) == (True, False)
    assert (held[one]["muted"], held[one]["onhold"]) == (True, True)
    assert (resumed[one]["muted"], resumed[one]["onhold"]) == (True, False)
    assert set(kicked) == {two}
    assert empty == {}
    assert (await known_call(simulator, one))["status"] == "FINAL"
    keys = {r.json()["commandId"]: r.key for r in kafka_client.on(settings.topics.results)}
    assert {keys[s["commandId"]] for s in steps} == {room.encode()}


async def test_a_conference_command_for_an_unknown_conference_fails_without_retries(
    settings: Settings, simulator: SimulatorProcess, kafka_client: KafkaClient
) -> None:
    room = new_id("empty")
    mute = conference_command(room, "muteParticipant", callId="nobody")
    mismatched = conference_command(room, "getConferenceInfo")
    async with running_service(settings):
        await kafka_client.send(mute, key=room)
        await kafka_client.send(mismatched, key="another-room")
        results = await kafka_client.results_for([mute["commandId"], mismatched["commandId"]])
    failed = results[mute["commandId"]]
    assert failed["outcome"] == "failed" and failed["attempts"] == 1
    assert failed["error"]["code"] == "conference_not_found"
    assert failed["error"]["sinchErrorCode"] == 40400
    refused = results[mismatched["commandId"]]
    assert refused["outcome"] == "rejected" and refused["error"]["code"] == "key_mismatch"


async def test_a_callouts_ace_and_dice_arrive_on_the_events_topic(
    kafka: str, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/sinch/callbacks"
    sim = SimulatorProcess(tmp_path, "--no-auto-create-calls", "--callback-url", url)
    sim.start()
    try:
        settings = service_settings(kafka, sim.url, tmp_path)
        callbacks = CallbackSettings(enabled=True, host="127.0.0.1", port=port)
        settings = settings.model_copy(update={"callbacks": callbacks})
        assert f"{settings.callbacks.port}{settings.callbacks.path}" in url
        await ensure_topics(settings.kafka, settings.topics)
        placed = tts("+46700000050")
        placed["callout"]["ttsCallout"].update(enableAce=True, enableDice=True)
        async with KafkaClient(kafka, settings.topics) as client, running_service(settings):
            await client.send(placed, key="+46700000050")
            result = (await client.results_for([placed["commandId"]]))[placed["commandId"]]
            call_id = result["callId"]
            assert result["outcome"] == "succeeded" and call_id

            def types() -> list[str]:
                return [
                    r.json()["eventType"]
                    for r in client.on(settings.topics.events)
                    if r.key == call_id.encode()
                ]

            await client.collect(lambda _: types() == ["ace"])
            hangup = {"commandId": new_id("hangup"), "callId": call_id, "type": "hangup"}
            await client.send(hangup)
            await client.results_for([hangup["commandId"]])
            await client.collect(lambda _: types() == ["ace", "dice"])
    finally:
        await sim.close()
