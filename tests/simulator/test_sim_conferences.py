"""Callouts and conferences in the simulator, over a real socket: strict fields, the call a
callout places, conference participants and what mute, hold and kick do; auth, faults and the
request log as for calls; ACE and DiCE for callouts when a callback URL is configured."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from simulator.app import RunningServer
from tests.simulator.simtest_support import StartSim, encode, signed_headers
from tests.simulator.test_sim_inbound import Receiver, receiver  # noqa: F401 (fixture)

CALLOUTS = "/calling/v1/callouts"
DESTINATION = {"type": "number", "endpoint": "+46700000010"}


def conference_path(conference_id: str, call_id: str | None = None) -> str:
    path = f"/calling/v1/conferences/id/{conference_id}"
    return f"{path}/{call_id}" if call_id else path


async def send(
    client: httpx.AsyncClient, method: str, path: str, body: Any = None
) -> httpx.Response:
    raw = encode(body) if body is not None else b""
    headers = signed_headers(method, path, raw)
    return await client.request(method, path, content=raw, headers=headers)


async def callout(client: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    return await send(client, "POST", CALLOUTS, body)


def conference_callout(conference_id: str, endpoint: str, **extra: Any) -> dict[str, Any]:
    details = {
        "destination": {"type": "number", "endpoint": endpoint},
        "conferenceId": conference_id,
        **extra,
    }
    return {"method": "conferenceCallout", "conferenceCallout": details}


async def test_a_tts_callout_places_a_call_the_calls_api_knows(
    sim: RunningServer, client: httpx.AsyncClient
) -> None:
    body = {
        "method": "ttsCallout",
        "ttsCallout": {"destination": DESTINATION, "text": "Hi", "locale": "en-US"},
    }
    answer = await callout(client, body)
    assert answer.status_code == 200, answer.text
    call_id = answer.json()["callId"]
    got = await send(client, "GET", f"/calling/v1/calls/id/{call_id}")
    assert got.status_code == 200
    assert got.json()["to"] == DESTINATION and got.json()["status"] == "ONGOING"
    logged = (await client.get("/_admin/requests")).json()["requests"][-2]
    assert logged["method"] == "POST" and logged["path"] == CALLOUTS
    assert logged["endpoint"] == "callouts" and logged["status"] == 200


async def test_callouts_are_strict_on_fields(sim: RunningServer, client: httpx.AsyncClient) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"method": "ttsCallout"}, "ttsCallout: required"),
        ({"method": "smsCallout", "smsCallout": {}}, "method: must be one of"),
        (
            {"method": "ttsCallout", "ttsCallout": {"destination": DESTINATION}},
            "ttsCallout.text: required",
        ),
        (
            {
                "method": "ttsCallout",
                "ttsCallout": {"destination": DESTINATION, "text": "x", "speed": 2},
            },
            "ttsCallout.speed: unknown field",
        ),
        (
            conference_callout("r", "+4670", mohClass="jazz"),
            "conferenceCallout.mohClass: must be one of",
        ),
        (conference_callout("x" * 65, "+4670"), "conferenceCallout.conferenceId: at most 64"),
        (
            {"method": "customCallout", "customCallout": {"ice": "not a url"}},
            "customCallout.ice: must be a URL or SVAML",
        ),
        (
            {
                "method": "ttsCallout",
                "ttsCallout": {"destination": DESTINATION, "text": "x"},
                "conferenceCallout": {},
            },
            "conferenceCallout: unknown field",
        ),
    ]
    for body, message in cases:
        answer = await callout(client, body)
        assert answer.status_code == 400, (body, answer.text)
        assert message in answer.json()["message"], (message, answer.json())
    assert (await client.get("/_admin/calls")).json()["calls"] == []


async def test_conference_participants_are_muted_held_resumed_and_kicked(
    sim: RunningServer, client: httpx.AsyncClient
) -> None:
    first = (await callout(client, conference_callout("room-1", "+46700000011"))).json()["callId"]
    second = (await callout(client, conference_callout("room-1", "+46700000012"))).json()["callId"]
    info = await send(client, "GET", conference_path("room-1"))
    assert info.status_code == 200
    people = {p["id"]: p for p in info.json()["participants"]}
    assert set(people) == {first, second}
    assert people[first] == {
        "cli": "+46700000011",
        "id": first,
        "duration": 0,
        "muted": False,
        "onhold": False,
    }

    steps: list[tuple[dict[str, Any], dict[str, bool]]] = [
        ({"command": "mute"}, {"muted": True, "onhold": False}),
        ({"command": "onhold", "moh": "music1"}, {"muted": True, "onhold": True}),
        ({"command": "resume"}, {"muted": True, "onhold": False}),
        ({"command": "unmute"}, {"muted": False, "onhold": False}),
    ]
    for body, expected in steps:
        done = await send(client, "PATCH", conference_path("room-1", first), body)
        assert done.status_code == 204, done.text
        seen = {
            p["id"]: p
            for p in (await send(client, "GET", conference_path("room-1"))).json()["participants"]
        }
        assert {k: seen[first][k] for k in expected} == expected

    kicked = await send(client, "DELETE", conference_path("room-1", first))
    assert kicked.status_code == 204
    left = (await send(client, "GET", conference_path("room-1"))).json()["participants"]
    assert [p["id"] for p in left] == [second]
    call = await send(client, "GET", f"/calling/v1/calls/id/{first}")
    assert call.json()["status"] == "FINAL" and call.json()["reason"] == "MANAGERHANGUP"
    again = await send(client, "DELETE", conference_path("room-1", first))
    assert again.status_code == 404 and again.json()["errorCode"] == 40400

    everyone = await send(client, "DELETE", conference_path("room-1"))
    assert everyone.status_code == 204
    gone = await send(client, "GET", conference_path("room-1"))
    assert gone.status_code == 404 and gone.json()["errorCode"] == 40400


async def test_participant_commands_are_strict(
    sim: RunningServer, client: httpx.AsyncClient
) -> None:
    call_id = (await callout(client, conference_callout("room-2", "+4670"))).json()["callId"]
    path = conference_path("room-2", call_id)
    for body, message in [
        ({}, "command: required"),
        ({"command": "deafen"}, "command: must be one of"),
        ({"command": "mute", "moh": "ring"}, "moh: only with the onhold command"),
        ({"command": "mute", "extra": 1}, "extra: unknown field"),
    ]:
        answer = await send(client, "PATCH", path, body)
        assert answer.status_code == 400, body
        assert message in answer.json()["message"]
    unknown = await send(client, "PATCH", conference_path("room-2", "nobody"), {"command": "mute"})
    assert unknown.status_code == 404


async def test_connect_conf_joins_a_conference(
    sim: RunningServer, client: httpx.AsyncClient
) -> None:
    created = await client.post("/_admin/calls", json={"callId": "parked-1"})
    assert created.status_code in (200, 201)
    parked = await send(
        client, "PATCH", "/calling/v1/calls/id/parked-1", {"action": {"name": "park"}}
    )
    assert parked.status_code == 204
    joined = await send(
        client,
        "PATCH",
        "/calling/v1/calls/id/parked-1",
        {"action": {"name": "connectConf", "conferenceId": "room-3"}},
    )
    assert joined.status_code == 204, joined.text
    info = (await send(client, "GET", conference_path("room-3"))).json()
    assert [p["id"] for p in info["participants"]] == ["parked-1"]


async def test_callouts_need_auth_and_take_faults(
    sim: RunningServer, client: httpx.AsyncClient
) -> None:
    body = conference_callout("room-4", "+4670")
    unsigned = await client.post(
        CALLOUTS, content=encode(body), headers={"Content-Type": "application/json"}
    )
    assert unsigned.status_code == 401
    faults = {"errorRate": 1.0, "errorStatuses": [500], "afterProcessingRate": 1.0}
    assert (await client.put("/_admin/faults", json=faults)).status_code == 200
    spoiled = await callout(client, body)
    assert spoiled.status_code == 500
    # The request took effect although its answer was spoiled: the participant is there.
    await client.delete("/_admin/faults")
    info = await send(client, "GET", conference_path("room-4"))
    assert len(info.json()["participants"]) == 1


async def test_callouts_send_ace_and_dice_when_asked(
    start_sim: StartSim,
    receiver: Receiver,  # noqa: F811
) -> None:
    server = await start_sim(callback_url=receiver.url)
    receiver.answers = {"ace": {"action": {"name": "continue"}}}
    async with httpx.AsyncClient(base_url=server.url, timeout=10.0) as client:
        body = conference_callout("room-5", "+46700000013", enableAce=True, enableDice=True)
        call_id = (await callout(client, body)).json()["callId"]
        quiet = (await callout(client, conference_callout("room-5", "+46700000014"))).json()[
            "callId"
        ]
        for _ in range(50):
            if receiver.events() == ["ace"]:
                break
            await asyncio.sleep(0.05)
        assert receiver.events() == ["ace"] and receiver.received[0]["callid"] == call_id
        await send(client, "DELETE", conference_path("room-5"))
        for _ in range(50):
            if receiver.events() == ["ace", "dice"]:
                break
            await asyncio.sleep(0.05)
        assert receiver.events() == ["ace", "dice"]
        assert receiver.received[1]["callid"] == call_id
        assert all(c["callid"] != quiet for c in receiver.received)
        assert all(receiver.signed_ok)
