"""Simulated inbound calls: the simulator rings an application like Sinch does. The application
here is a small receiver in the test that checks each callback's signature (written from
Sinch's documentation, independently of the simulator) and answers from a script."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiohttp import web

from simulator.app import RunningServer
from tests.simulator.simtest_support import KEY, SECRET, Api

PATH = "/hooks/sinch"


@dataclass
class Receiver:
    """Answers callbacks from `answers[event]`; records what came and whether it was signed."""

    answers: dict[str, Any] = field(default_factory=dict)
    received: list[dict[str, Any]] = field(default_factory=list)
    signed_ok: list[bool] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.signed_ok.append(self._verify(request, body))
        callback = json.loads(body)
        self.received.append(callback)
        answer = self.answers.get(callback["event"])
        if answer is None:
            return web.Response(status=200)
        return web.json_response(answer)

    @staticmethod
    def _verify(request: web.Request, body: bytes) -> bool:
        md5 = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
        ts = request.headers["x-timestamp"]
        to_sign = f"POST\n{md5}\n{request.headers['Content-Type']}\nx-timestamp:{ts}\n{PATH}"
        digest = hmac.new(base64.b64decode(SECRET), to_sign.encode(), hashlib.sha256).digest()
        expected = f"Application {KEY}:{base64.b64encode(digest).decode()}"
        return request.headers.get("Authorization") == expected

    def events(self) -> list[str]:
        return [c["event"] for c in self.received]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post(PATH, rec.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    rec.url = f"http://127.0.0.1:{port}{PATH}"
    yield rec
    await runner.cleanup()


async def ring(client: httpx.AsyncClient, rec: Receiver, **extra: Any) -> dict[str, Any]:
    body = {"to": "+46700000010", "callbackUrl": rec.url, **extra}
    response = await client.post("/_admin/inbound/ring", json=body)
    assert response.status_code == 201, response.text
    state: dict[str, Any] = response.json()
    return state


PARK = {
    "action": {"name": "park", "holdPrompt": "#tts[hold]", "locale": "en-US", "maxDuration": 60}
}


async def test_signed_ice_then_park_then_unpark_by_patch_then_hangup(
    sim: RunningServer, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.answers = {"ice": PARK, "ace": {"action": {"name": "continue"}}}
    state = await ring(client, receiver, region="euc1", callId="inbound-1", custom="x=1")
    assert state["phase"] == "parked"
    ice = receiver.received[0]
    assert ice["event"] == "ice" and ice["callid"] == "inbound-1"
    assert ice["callResourceUrl"] == (
        "https://calling-euc1.api.sinch.com/calling/v1/calls/id/inbound-1"
    )
    assert ice["cli"] == "+46700000001" and ice["to"] == {
        "type": "number",
        "endpoint": "+46700000010",
    }
    assert ice["custom"] == "x=1" and ice["applicationKey"] == KEY

    # `continue` is not an unpark: the call stays parked
    kept = await Api(client).patch("inbound-1", {"action": {"name": "continue"}})
    assert kept.status_code == 204
    assert (await client.get("/_admin/inbound/inbound-1")).json()["phase"] == "parked"

    unpark = {"action": {"name": "connectPstn", "number": "+46700000099"}}
    assert (await Api(client).patch("inbound-1", unpark)).status_code == 204
    for _ in range(50):
        shown = (await client.get("/_admin/inbound/inbound-1")).json()
        if shown["phase"] == "connected" and receiver.events()[-1] == "ace":
            break
        await asyncio.sleep(0.05)
    assert shown["connectedTo"] == unpark["action"]
    assert receiver.events() == ["ice", "ace"]

    hung = await client.post("/_admin/inbound/inbound-1/hangup", json={})
    assert hung.status_code == 200 and hung.json()["phase"] == "ended"
    dice = receiver.received[-1]
    assert dice["event"] == "dice" and dice["reason"] == "CALLERHANGUP"
    assert dice["result"] == "ANSWERED" and dice["from"] == "+46700000001"
    assert set(dice) >= {"duration", "debit", "userRate", "to", "timestamp"}
    assert all(receiver.signed_ok)
    again = await client.post("/_admin/inbound/inbound-1/hangup", json={})
    assert again.status_code == 409


async def test_menu_input_is_a_pie_and_a_hangup_answer_ends_with_dice(
    sim: RunningServer, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    menu = {"action": {"name": "runMenu", "menus": [{"id": "main", "mainPrompt": "#tts[Hi]"}]}}
    receiver.answers = {"ice": menu, "pie": {"action": {"name": "hangup"}}}
    state = await ring(client, receiver)
    call_id = state["callId"]
    assert state["phase"] == "menu"
    pressed = await client.post(f"/_admin/inbound/{call_id}/input", json={"digits": "12#"})
    assert pressed.status_code == 200
    assert receiver.events() == ["ice", "pie", "dice"]
    assert receiver.received[1]["menuResult"] == {
        "type": "sequence", "value": "12#", "menuId": "main", "inputMethod": "dtmf",
    }  # fmt: skip
    assert receiver.received[2]["reason"] == "MANAGERHANGUP"
    assert pressed.json()["phase"] == "ended"


async def test_no_answer_ends_the_call_like_sinch(
    sim: RunningServer, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    state = await ring(client, receiver)  # the receiver answers ICE with an empty 200
    assert state["phase"] == "ended"
    assert receiver.events() == ["ice", "dice"]
    assert receiver.received[1]["reason"] == "GENERALERROR"


async def test_ring_needs_a_callback_url_and_refuses_bad_input(
    sim: RunningServer, client: httpx.AsyncClient
) -> None:
    missing = await client.post("/_admin/inbound/ring", json={"to": "+4670"})
    assert missing.status_code == 400 and "callbackUrl" in missing.json()["error"]
    bad = await client.post(
        "/_admin/inbound/ring", json={"to": "+4670", "callbackUrl": "ftp://x", "region": "mars"}
    )
    assert bad.status_code == 400
    assert (await client.post("/_admin/inbound/nope/hangup", json={})).status_code == 404
