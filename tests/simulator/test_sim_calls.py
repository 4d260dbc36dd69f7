"""Call state through the Calling API (E1, E2, E3) and the /_admin/calls endpoints."""

from __future__ import annotations

import httpx

from simulator.app import RunningServer
from tests.simulator.simtest_support import Api, StartSim, call_path, encode, signed_headers

E2_FIELDS = {
    "from",
    "to",
    "domain",
    "callId",
    "duration",
    "status",
    "result",
    "reason",
    "timestamp",
    "custom",
    "userRate",
    "debit",
}
SAY = {"name": "say", "text": "Hello", "locale": "en-US"}
CONTINUE = {"name": "continue"}


async def test_hangup_then_get_shows_final_managerhangup(api: Api, call_id: str) -> None:
    hangup = await api.patch(call_id, {"action": {"name": "hangup"}})
    assert hangup.status_code == 204
    assert hangup.content == b""
    got = await api.get(call_id)
    assert got.status_code == 200
    body = got.json()
    assert body["status"] == "FINAL"
    assert body["reason"] == "MANAGERHANGUP"
    assert body["callId"] == call_id


async def test_patch_after_final_is_40400_but_get_still_works(api: Api, call_id: str) -> None:
    assert (await api.patch(call_id, {"action": {"name": "hangup"}})).status_code == 204
    again = await api.patch(call_id, {"instructions": [SAY], "action": {"name": "continue"}})
    assert again.status_code == 404
    assert again.json()["errorCode"] == 40400
    assert again.json()["message"] == "Call not found"
    leg = await api.patch(call_id, {"instructions": [SAY], "action": CONTINUE}, leg="caller")
    assert leg.status_code == 404
    assert (await api.get(call_id)).json()["status"] == "FINAL"


async def test_get_has_exactly_the_sinch_fields(api: Api, client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/_admin/calls",
        json={
            "callId": "call-1_A",
            "from": {"type": "number", "endpoint": 46700000009},
            "to": {"type": "Number", "endpoint": "+46700000010"},
            "custom": "order 42",
        },
    )
    assert created.status_code == 201
    body = (await api.get("call-1_A")).json()
    assert set(body) == E2_FIELDS
    assert body["from"] == {"type": "number", "endpoint": 46700000009}
    assert body["to"] == {"type": "Number", "endpoint": "+46700000010"}
    assert body["custom"] == "order 42"
    assert body["domain"] == "pstn"
    assert (body["status"], body["result"], body["reason"]) == ("ONGOING", "ANSWERED", "N/A")
    assert set(body["userRate"]) == {"currencyId", "amount"}
    assert set(body["debit"]) == {"currencyId", "amount"}
    # Sinch's sample timestamp has no zone: 2023-04-21T14:45:51.
    assert len(body["timestamp"]) == 19
    assert body["timestamp"][10] == "T"


async def test_duration_grows_and_stops_at_hangup(
    api: Api, sim: RunningServer, call_id: str
) -> None:
    assert (await api.get(call_id)).json()["duration"] == 0
    call = sim.simulator.calls.get(call_id)
    assert call is not None
    call.started_mono -= 90  # as if answered 90 s ago
    body = (await api.get(call_id)).json()
    assert body["duration"] == 90
    assert body["debit"]["amount"] > 0
    await api.patch(call_id, {"action": {"name": "hangup"}})
    assert (await api.get(call_id)).json()["duration"] == 90
    assert call.ended_mono is not None
    # An hour after the hangup the duration is still frozen at the hangup.
    assert call.duration(call.ended_mono + 3600) == 90


async def test_by_default_an_unknown_call_is_40400_like_sinch(
    start_sim: StartSim, call_id: str
) -> None:
    server = await start_sim()
    assert server.simulator.config.auto_create_calls is False
    async with httpx.AsyncClient(base_url=server.url) as http:
        path = call_path(call_id)
        body = encode({"action": {"name": "hangup"}})
        patched = await http.patch(path, content=body, headers=signed_headers("PATCH", path, body))
        assert patched.status_code == 404
        assert patched.json()["errorCode"] == 40400
        got = await http.get(path, headers=signed_headers("GET", path))
        assert got.status_code == 404
        assert got.json()["errorCode"] == 40400
        # Once created through the admin API, the same call works.
        assert (await http.post("/_admin/calls", json={"callId": call_id})).status_code == 201
        again = await http.patch(path, content=body, headers=signed_headers("PATCH", path, body))
        assert again.status_code == 204


async def test_auto_create_can_be_switched_off_live(
    api: Api, client: httpx.AsyncClient, call_id: str
) -> None:
    response = await client.patch("/_admin/config", json={"autoCreateCalls": False})
    assert response.json()["autoCreateCalls"] is False
    assert (await api.get(call_id)).status_code == 404


async def test_e3_say_is_200_with_empty_body(api: Api, call_id: str) -> None:
    for leg in ("caller", "callee", "both"):
        response = await api.patch(
            call_id, {"instructions": [SAY], "action": {"name": "continue"}}, leg=leg
        )
        assert response.status_code == 200, response.text
        assert response.content == b""


async def test_e3_unknown_leg_is_400(api: Api, call_id: str) -> None:
    response = await api.patch(call_id, {"instructions": [SAY]}, leg="everyone")
    assert response.status_code == 400
    body = response.json()
    assert body["errorCode"] == 40001
    assert body["message"].startswith("callLeg:")


async def test_svaml_effects_are_tracked(api: Api, client: httpx.AsyncClient, call_id: str) -> None:
    recording = {
        "name": "startRecording",
        "options": {"destinationUrl": "s3://bucket/calls", "credentials": "k:s:eu-central-1"},
    }
    cookie = {"name": "setCookie", "key": "step", "value": "2"}
    park = {"name": "park", "holdPrompt": "#tts[Please hold]", "maxDuration": 60}
    first = {"instructions": [recording, cookie], "action": CONTINUE}
    assert (await api.patch(call_id, first)).status_code == 204
    assert (await api.patch(call_id, {"action": park})).status_code == 204
    state = (await client.get(f"/_admin/calls/{call_id}")).json()
    assert (state["parked"], state["recording"], state["cookies"]) == (True, True, {"step": "2"})

    # Unparking takes the SVAML one would have answered the incoming call with.
    connect = {"name": "connectPstn", "number": "+46700000009"}
    unpark = {"instructions": [{"name": "stopRecording"}], "action": connect}
    assert (await api.patch(call_id, unpark)).status_code == 204
    state = (await client.get(f"/_admin/calls/{call_id}")).json()
    assert (state["parked"], state["recording"]) == (False, False)
    assert [a["action"] for a in state["applied"]] == [CONTINUE, park, connect]
    assert state["applied"][0]["instructions"] == [recording, cookie]
    seqs = [a["seq"] for a in state["applied"]]
    assert seqs == sorted(seqs)
    assert all(isinstance(s, int) for s in seqs)


async def test_patch_is_refused_on_app_to_app_calls(
    api: Api, client: httpx.AsyncClient, call_id: str
) -> None:
    # Sinch: the PATCH endpoints are "only for calls that originate from or terminate to PSTN
    # or SIP networks".
    await client.post("/_admin/calls", json={"callId": call_id, "domain": "mxp"})
    response = await api.patch(call_id, {"action": {"name": "hangup"}})
    assert response.status_code == 400
    assert response.json()["errorCode"] == 40003
    assert response.json()["status"] == "400 InvalidRequest"
    assert (await api.get(call_id)).status_code == 200


async def test_rejected_patch_changes_nothing(
    api: Api, client: httpx.AsyncClient, call_id: str
) -> None:
    await client.post("/_admin/calls", json={"callId": call_id})
    bad = {"instructions": [SAY, {"name": "say", "text": "", "locale": "en-US"}]}
    assert (await api.patch(call_id, {**bad, "action": {"name": "hangup"}})).status_code == 400
    state = (await client.get(f"/_admin/calls/{call_id}")).json()
    assert state["status"] == "ONGOING"
    assert state["applied"] == []


async def test_admin_create_list_get_end_delete(
    api: Api, client: httpx.AsyncClient, call_id: str
) -> None:
    created = await client.post("/_admin/calls", json={})
    assert created.status_code == 201
    generated = created.json()["callId"]
    assert len(generated) == 32
    assert (await client.post("/_admin/calls", json={"callId": generated})).status_code == 409
    assert (await client.post("/_admin/calls", json={"callId": "bad id!"})).status_code == 400
    assert (await client.post("/_admin/calls", json={"nope": 1})).status_code == 400

    listed = (await client.get("/_admin/calls")).json()["calls"]
    assert [c["callId"] for c in listed] == [generated]

    ended = await client.post(f"/_admin/calls/{generated}/end", json={"reason": "CALLERHANGUP"})
    assert ended.json()["status"] == "FINAL"
    assert ended.json()["reason"] == "CALLERHANGUP"
    assert (await api.patch(generated, {"action": {"name": "hangup"}})).status_code == 404

    assert (await client.get("/_admin/calls/unknown")).status_code == 404
    assert (await client.delete(f"/_admin/calls/{generated}")).status_code == 204
    assert (await client.get(f"/_admin/calls/{generated}")).status_code == 404
    await client.post("/_admin/calls", json={"callId": call_id})
    assert (await client.delete("/_admin/calls")).status_code == 204
    assert (await client.get("/_admin/calls")).json()["calls"] == []


async def test_call_store_is_bounded(start_sim: StartSim) -> None:
    server = await start_sim(max_calls=2)
    async with httpx.AsyncClient(base_url=server.url) as http:
        for name in ("c1", "c2", "c3"):
            await http.post("/_admin/calls", json={"callId": name})
        listed = (await http.get("/_admin/calls")).json()["calls"]
    assert [c["callId"] for c in listed] == ["c2", "c3"]


async def test_other_methods_and_paths_get_sinch_errors(
    client: httpx.AsyncClient, call_id: str
) -> None:
    deleted = await client.delete(call_path(call_id))
    assert deleted.status_code == 405
    assert deleted.json()["errorCode"] == 40500
    leg_get = await client.get(call_path(call_id, "caller"))
    assert leg_get.status_code == 405
    missing = await client.get("/calling/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["errorCode"] == 40400
