"""The inbound half through real parts: the simulator rings the service's callback endpoint
with signed callbacks, events go to the real broker, commands come back over Kafka.

Callbacks the tests send themselves are signed with the simulator's signing code, an
implementation independent of the service's.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.settings import CallbackSettings, Settings, SinchSettings
from simulator.auth import decode_secret, signature
from testkit.kafka import KafkaClient, command
from testkit.processes import SIM_KEY, SIM_SECRET, SimulatorProcess, free_port
from testkit.service import running_service
from testkit.waiting import eventually
from tests.integration.test_cli_integration import callctl

PARK_NUMBER = "+46700000010"
CONNECT_NUMBER = "+46700000020"
MENU_NUMBER = "+46700000030"
ROUTES = f"""
numbers:
  "{CONNECT_NUMBER}":
    ice: {{action: {{name: connectPstn, number: "+46700000099"}}}}
  "{MENU_NUMBER}":
    ice:
      action:
        name: runMenu
        locale: en-US
        menus:
          - id: main
            mainPrompt: "#tts[Press your customer number and hash]"
            maxDigits: 8
"""


@pytest.fixture
def callback_settings(settings: Settings, tmp_path: Path) -> Settings:
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES)
    callbacks = CallbackSettings(
        enabled=True, host="127.0.0.1", port=free_port(), routes_file=routes
    )
    return settings.model_copy(update={"callbacks": callbacks})


def callback_url(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.callbacks.port}{settings.callbacks.path}"


def new_call_id() -> str:
    return f"in-{uuid.uuid4().hex[:12]}"


async def ring(sim: SimulatorProcess, settings: Settings, to: str, **extra: Any) -> dict[str, Any]:
    body = {"to": to, "callbackUrl": callback_url(settings), "callId": new_call_id(), **extra}
    response = await sim.admin.post("/_admin/inbound/ring", json=body)
    assert response.status_code == 201, response.text
    ringing: dict[str, Any] = response.json()
    return ringing


async def inbound(sim: SimulatorProcess, call_id: str) -> dict[str, Any]:
    response = await sim.admin.get(f"/_admin/inbound/{call_id}")
    response.raise_for_status()
    state: dict[str, Any] = response.json()
    return state


def events(client: KafkaClient, call_id: str) -> list[dict[str, Any]]:
    return [r.json() for r in client.on(client.topics.events) if r.key == call_id.encode()]


def snapshots(client: KafkaClient, call_id: str) -> list[dict[str, Any]]:
    return [r.json() for r in client.on(client.topics.snapshots) if r.key == call_id.encode()]


async def events_for(client: KafkaClient, call_id: str, types: list[str]) -> list[dict[str, Any]]:
    await client.collect(lambda _: [e["eventType"] for e in events(client, call_id)] == types)
    return events(client, call_id)


def signed(body: bytes, path: str, *, secret: str = SIM_SECRET, age_s: float = 0) -> dict[str, str]:
    moment = datetime.now(UTC) - timedelta(seconds=age_s)
    stamp = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    sig = signature(decode_secret(secret), "POST", body, "application/json", stamp, path)
    return {
        "Content-Type": "application/json",
        "x-timestamp": stamp,
        "Authorization": f"Application {SIM_KEY}:{sig}",
    }


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


async def test_signed_ice_gets_the_policy_svaml_and_an_event(
    callback_settings: Settings, simulator: SimulatorProcess, kafka_client: KafkaClient
) -> None:
    async with running_service(callback_settings):
        parked = await ring(simulator, callback_settings, PARK_NUMBER, region="euc1")
        connected = await ring(simulator, callback_settings, CONNECT_NUMBER, custom="c=1")
        park_events = await events_for(kafka_client, parked["callId"], ["ice"])
        connect_events = await events_for(kafka_client, connected["callId"], ["ice", "ace"])

    assert parked["phase"] == "parked"
    ice = parked["callbacks"][0]
    assert ice["status"] == 200
    assert ice["answer"]["action"]["name"] == "park"
    assert ice["answer"]["action"]["maxDuration"] <= 600
    event = park_events[0]
    assert event["answer"] == ice["answer"]
    assert event["callId"] == parked["callId"]
    assert event["region"] == "euc1"
    assert event["callResourceUrl"].startswith("https://calling-euc1.api.sinch.com/")
    assert event["to"] == {"type": "number", "endpoint": PARK_NUMBER}
    assert event["from"]["endpoint"] == "+46700000001"
    assert event["callback"]["event"] == "ice" and event["callback"]["callid"] == parked["callId"]
    assert event["receivedAt"].endswith("Z")

    assert connected["phase"] == "connected"
    assert connected["connectedTo"] == {"name": "connectPstn", "number": "+46700000099"}
    ice_event, ace_event = connect_events
    assert ice_event["answer"] == {"action": {"name": "connectPstn", "number": "+46700000099"}}
    assert ice_event["custom"] == "c=1"
    assert ace_event["answer"] == {"action": {"name": "continue"}}


async def test_unsigned_stale_oversized_or_bogus_callbacks_publish_nothing(
    callback_settings: Settings, kafka_client: KafkaClient, http: httpx.AsyncClient
) -> None:
    url = callback_url(callback_settings)
    path = callback_settings.callbacks.path
    call_id = new_call_id()
    ice = json.dumps({"event": "ice", "callid": call_id, "timestamp": "2026-12-01T14:00:00Z",
                      "to": {"type": "number", "endpoint": PARK_NUMBER}}).encode()  # fmt: skip
    other_secret = "b3RoZXItc2VjcmV0LTEyMzQ="
    huge = json.dumps({"event": "ice", "callid": call_id, "custom": "x" * 70_000}).encode()
    cases = [
        ({"Content-Type": "application/json"}, ice, 401, "authorization header is missing"),
        (signed(ice, path, age_s=3600), ice, 401, "x-timestamp"),
        (signed(ice, path, secret=other_secret), ice, 401, "signature does not match"),
        (signed(ice, "/other/path"), ice, 401, "signature does not match"),
        (signed(huge, path), huge, 413, "larger than"),
        (signed(b'{"hello":1}', path), b'{"hello":1}', 400, "event: missing"),
        (signed(b"[]", path), b"[]", 400, "JSON object"),
    ]
    async with running_service(callback_settings):
        for headers, body, status, message in cases:
            response = await http.post(url, content=body, headers=headers)
            assert response.status_code == status, (status, response.text)
            assert message in response.json()["error"]
            assert SIM_SECRET not in response.text
        # A good one last: when its event is there, anything published before it would be too.
        good = await http.post(url, content=ice, headers=signed(ice, path))
        assert good.status_code == 200
        await events_for(kafka_client, call_id, ["ice"])
    assert len(kafka_client.on(kafka_client.topics.events)) == 1


async def test_a_callback_delivered_twice_is_published_once(
    callback_settings: Settings, kafka_client: KafkaClient, http: httpx.AsyncClient
) -> None:
    url, path, call_id = (
        callback_url(callback_settings),
        callback_settings.callbacks.path,
        new_call_id(),
    )
    ice = json.dumps({"event": "ice", "callid": call_id, "timestamp": "2026-12-01T14:00:00Z",
                      "to": {"type": "number", "endpoint": PARK_NUMBER}}).encode()  # fmt: skip
    ace = json.dumps({"event": "ace", "callid": call_id, "timestamp": "2026-12-01T14:00:05Z"})
    async with running_service(callback_settings):
        first = await http.post(url, content=ice, headers=signed(ice, path))
        again = await http.post(url, content=ice, headers=signed(ice, path))
        after = await http.post(url, content=ace.encode(), headers=signed(ace.encode(), path))
        await events_for(kafka_client, call_id, ["ice", "ace"])
    assert first.status_code == again.status_code == after.status_code == 200
    assert first.content == again.content and json.loads(first.content)["action"]["name"] == "park"


async def test_a_parked_call_is_connected_by_an_unpark_command_from_kafka(
    callback_settings: Settings, simulator: SimulatorProcess, kafka_client: KafkaClient
) -> None:
    async with running_service(callback_settings):
        parked = await ring(simulator, callback_settings, PARK_NUMBER)
        call_id = parked["callId"]
        assert parked["phase"] == "parked"
        await events_for(kafka_client, call_id, ["ice"])
        unpark = command(
            call_id, "unpark", action={"name": "connectPstn", "number": "+46700000777"}
        )
        await kafka_client.send(unpark)
        result = (await kafka_client.results_for([unpark["commandId"]]))[unpark["commandId"]]
        assert result["outcome"] == "succeeded", result
        await events_for(kafka_client, call_id, ["ice", "ace"])
        state = await inbound(simulator, call_id)
    assert state["phase"] == "connected"
    assert state["connectedTo"] == {"name": "connectPstn", "number": "+46700000777"}
    patches = [r for r in await simulator.requests(call_id) if r["method"] == "PATCH"]
    assert json.loads(patches[0]["body"])["action"]["name"] == "connectPstn"


async def test_menu_input_arrives_as_a_pie_event(
    callback_settings: Settings, simulator: SimulatorProcess, kafka_client: KafkaClient
) -> None:
    async with running_service(callback_settings):
        ringing = await ring(simulator, callback_settings, MENU_NUMBER)
        call_id = ringing["callId"]
        assert ringing["phase"] == "menu"
        pressed = await simulator.admin.post(
            f"/_admin/inbound/{call_id}/input", json={"digits": "4711#"}
        )
        assert pressed.status_code == 200, pressed.text
        ice, pie = await events_for(kafka_client, call_id, ["ice", "pie"])
    assert ice["answer"]["action"]["name"] == "runMenu"
    assert pie["menuResult"] == {
        "type": "sequence", "value": "4711#", "menuId": "main", "inputMethod": "dtmf",
    }  # fmt: skip
    assert pie["answer"] == {"action": {"name": "continue"}}


async def test_after_dice_a_command_is_answered_call_ended_without_a_request(
    callback_settings: Settings, simulator: SimulatorProcess, kafka_client: KafkaClient
) -> None:
    async with running_service(callback_settings):
        parked = await ring(simulator, callback_settings, PARK_NUMBER)
        call_id = parked["callId"]
        hung = await simulator.admin.post(f"/_admin/inbound/{call_id}/hangup", json={})
        assert hung.status_code == 200, hung.text
        _, dice = await events_for(kafka_client, call_id, ["ice", "dice"])
        await kafka_client.collect(lambda _: bool(snapshots(kafka_client, call_id)))
        hangup = command(call_id, "hangup")
        await kafka_client.send(hangup)
        result = (await kafka_client.results_for([hangup["commandId"]]))[hangup["commandId"]]

    assert dice["reason"] == "CALLERHANGUP" and dice["answer"] is None
    assert dice["duration"] is not None and dice["debit"]["currencyId"] == "EUR"
    snapshot = snapshots(kafka_client, call_id)[0]
    assert snapshot["commandId"] is None
    assert snapshot["call"]["status"] == "FINAL"
    assert snapshot["call"]["reason"] == "CALLERHANGUP"
    assert snapshot["call"]["debit"] == dice["debit"]
    assert result["outcome"] == "failed"
    assert result["error"]["code"] == "call_ended"
    assert result["attempts"] == 0 and result["request"] is None
    assert [r for r in await simulator.requests(call_id) if r["method"] == "PATCH"] == []


async def test_a_command_without_region_goes_to_the_host_of_its_ice(
    callback_settings: Settings,
    simulator: SimulatorProcess,
    kafka_client: KafkaClient,
    tmp_path: Path,
) -> None:
    regional = SimulatorProcess(
        tmp_path, "--no-auto-create-calls"
    )  # stands in for calling-euc1: every request it gets is routed
    regional.start()
    try:
        sinch = SinchSettings(
            base_url=simulator.url,
            regional_url_template=regional.url,
            application_key=SIM_KEY,
            application_secret=callback_settings.sinch.application_secret,
        )
        settings = callback_settings.model_copy(update={"sinch": sinch})
        async with running_service(settings):
            parked = await ring(simulator, settings, PARK_NUMBER, region="euc1")
            call_id = parked["callId"]
            await events_for(kafka_client, call_id, ["ice"])
            await regional.create_call(call_id)  # the regional host knows its calls
            info = command(call_id, "getCallInfo")
            await kafka_client.send(info)
            result = (await kafka_client.results_for([info["commandId"]]))[info["commandId"]]
        assert result["outcome"] == "succeeded", result
        assert [r["method"] for r in await regional.requests(call_id)] == ["GET"]
        assert await simulator.requests(call_id) == []
    finally:
        await regional.close()


async def test_readiness_covers_the_callback_endpoint(
    callback_settings: Settings, kafka_client: KafkaClient
) -> None:
    async with running_service(callback_settings) as service:
        await eventually(lambda: _assert(service.ready()))
        assert service.callbacks is not None
        await service.callbacks.stop()
        assert not service.ready()


def _assert(condition: bool) -> None:
    assert condition


async def test_callctl_rings_and_shows_the_story(
    callback_settings: Settings, simulator: SimulatorProcess, kafka_client: KafkaClient
) -> None:
    call_id = new_call_id()
    sim = ["--simulator-url", simulator.url]
    async with running_service(callback_settings):
        ring_run = await callctl(
            callback_settings, "simulator", "ring", "--to", PARK_NUMBER, "--call-id", call_id,
            "--callback-url", callback_url(callback_settings), *sim,
        )  # fmt: skip
        hangup_run = await callctl(callback_settings, "simulator", "hangup", call_id, *sim)
        await events_for(kafka_client, call_id, ["ice", "dice"])
        shown = await callctl(callback_settings, "events", "--call-id", call_id)
        as_json = await callctl(callback_settings, "events", "--call-id", call_id, "--json")
    assert ring_run.code == 0, ring_run.err
    assert "phase    parked" in ring_run.out and "ice    -> 200  answer: park" in ring_run.out
    assert hangup_run.code == 0 and "phase    ended" in hangup_run.out
    assert shown.code == 0, shown.err
    lines = shown.out.splitlines()
    assert lines[0].split() == ["TIME", "EVENT", "CALL", "ID", "DETAIL", "ANSWER"]
    assert [line.split()[1] for line in lines[1:]] == ["ice", "dice"]
    assert "park" in lines[1] and "CALLERHANGUP" in lines[2]
    assert [json.loads(line)["eventType"] for line in as_json.out.splitlines()] == ["ice", "dice"]
