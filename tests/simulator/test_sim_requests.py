"""The request log (/_admin/requests) and the counters (/_admin/stats)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.simulator.simtest_support import Api, StartSim, basic_headers, call_path, encode

SAY = {"name": "say", "text": "Hello", "locale": "en-US"}
CONTINUE = {"name": "continue"}
ENTRY_FIELDS = {
    "seq",
    "receivedAt",
    "method",
    "path",
    "endpoint",
    "callId",
    "leg",
    "contentType",
    "traceparent",
    "authScheme",
    "authOk",
    "body",
    "status",
    "errorCode",
    "errorMessage",
    "fault",
    "faultAfterProcessing",
    "injectedDelayMs",
    "durationMs",
}


async def requests(client: httpx.AsyncClient, **params: str | int) -> list[dict[str, Any]]:
    response = await client.get("/_admin/requests", params=params)
    assert response.status_code == 200
    entries: list[dict[str, Any]] = response.json()["requests"]
    return entries


async def test_every_request_is_recorded_in_order(api: Api, client: httpx.AsyncClient) -> None:
    svaml = {"instructions": [SAY], "action": {"name": "continue"}}
    await api.patch("call-a", svaml)
    await api.patch("call-a", {"instructions": [{"name": "answer"}]})
    await api.patch("call-b", {"instructions": [SAY], "action": CONTINUE}, leg="callee")
    await api.get("call-a")
    await client.patch(call_path("call-b"), content=b"{}", headers={"Content-Type": "x"})

    entries = await requests(client)
    assert len(entries) == 5
    assert all(set(e) == ENTRY_FIELDS for e in entries)
    seqs = [e["seq"] for e in entries]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 5
    summary = [(e["method"], e["endpoint"], e["callId"], e["leg"], e["status"]) for e in entries]
    assert summary == [
        ("PATCH", "E1", "call-a", None, 204),
        ("PATCH", "E1", "call-a", None, 400),
        ("PATCH", "E3", "call-b", "callee", 200),
        ("GET", "E2", "call-a", None, 200),
        ("PATCH", "E1", "call-b", None, 401),
    ]
    first, rejected = entries[0], entries[1]
    assert first["body"] == encode(svaml).decode()
    assert first["path"] == "/calling/v1/calls/id/call-a"
    assert first["authScheme"] == "signed"
    assert first["authOk"] is True
    assert str(first["receivedAt"]).endswith("Z")
    assert rejected["errorCode"] == 40003
    assert str(rejected["errorMessage"]).startswith("instructions[0].name")
    assert entries[4]["authScheme"] is None
    assert entries[4]["errorCode"] == 40100


async def test_filter_by_call_since_and_limit(api: Api, client: httpx.AsyncClient) -> None:
    for call in ("a", "b", "a", "b", "a"):
        await api.get(call)
    only_a = await requests(client, callId="a")
    assert [e["callId"] for e in only_a] == ["a", "a", "a"]
    middle = only_a[0]["seq"]
    assert isinstance(middle, int)
    later = await requests(client, since=middle)
    assert [e["callId"] for e in later] == ["b", "a", "b", "a"]
    assert all(isinstance(e["seq"], int) and e["seq"] > middle for e in later)
    assert [e["callId"] for e in await requests(client, since=middle, callId="a")] == ["a", "a"]
    assert len(await requests(client, limit=2)) == 2
    last_seq = later[-1]["seq"]
    assert await requests(client, since=last_seq) == []


async def test_bad_query_parameters(client: httpx.AsyncClient) -> None:
    for params in ({"since": "x"}, {"limit": "0"}, {"since": "-1"}):
        response = await client.get("/_admin/requests", params=params)
        assert response.status_code == 400
        assert "error" in response.json()


async def test_clear_keeps_seq_growing(api: Api, client: httpx.AsyncClient) -> None:
    await api.get("a")
    before = (await requests(client))[-1]["seq"]
    assert isinstance(before, int)
    assert (await client.delete("/_admin/requests")).status_code == 204
    assert await requests(client) == []
    await api.get("a")
    after = await requests(client)
    assert len(after) == 1
    seq = after[0]["seq"]
    assert isinstance(seq, int)
    assert seq > before


async def test_log_is_bounded(start_sim: StartSim) -> None:
    server = await start_sim(request_log_limit=3)
    async with httpx.AsyncClient(base_url=server.url) as http:
        api = Api(http)
        for call in ("a", "b", "c", "d", "e"):
            await api.get(call)
        entries = await requests(http)
        assert [e["callId"] for e in entries] == ["c", "d", "e"]
        assert [e["seq"] for e in entries] == [3, 4, 5]
        assert [e["callId"] for e in await requests(http, since=1)] == ["c", "d", "e"]
        assert [e["callId"] for e in await requests(http, since=4)] == ["e"]


async def test_unknown_paths_are_recorded_admin_is_not(client: httpx.AsyncClient) -> None:
    await client.get("/calling/v1/whatever", headers=basic_headers())
    await client.get("/_admin/health")
    await client.get("/_admin/nothing")
    entries = await requests(client)
    assert [(e["path"], e["status"], e["endpoint"]) for e in entries] == [
        ("/calling/v1/whatever", 404, None)
    ]


async def test_stats_count_by_route_and_status(api: Api, client: httpx.AsyncClient) -> None:
    await api.patch("a", {"action": {"name": "hangup"}})
    await api.patch("a", {"action": {"name": "hangup"}})
    await api.get("a")
    await api.patch("b", {"instructions": [SAY], "action": CONTINUE}, leg="both")
    await client.put("/_admin/faults", json={"rateLimitRate": 1.0})
    await api.get("a")
    stats = (await client.get("/_admin/stats")).json()
    assert stats["byRoute"] == {
        "E1": {"204": 1, "404": 1},
        "E2": {"200": 1, "429": 1},
        "E3": {"200": 1},
    }
    assert stats["total"] == 5
    assert stats["faults"] == {"rateLimit": 1}
    assert stats["calls"] == {"total": 2, "ongoing": 1, "final": 1}
    assert stats["requestLog"]["entries"] == 5
    assert (await client.delete("/_admin/stats")).status_code == 204
    assert (await client.get("/_admin/stats")).json()["total"] == 0


async def test_reset_restores_everything(api: Api, client: httpx.AsyncClient) -> None:
    await api.get("a")
    await client.put("/_admin/faults", json={"latencyMs": 10})
    await client.patch("/_admin/config", json={"autoCreateCalls": False})
    assert (await client.post("/_admin/reset")).status_code == 204
    assert await requests(client) == []
    assert (await client.get("/_admin/calls")).json()["calls"] == []
    assert (await client.get("/_admin/faults")).json()["latencyMs"] == 0
    assert (await client.get("/_admin/config")).json()["autoCreateCalls"] is True


async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/_admin/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
