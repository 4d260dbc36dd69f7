"""Fault injection: errors, 429, dropped connections, latency; live changes via /_admin/faults."""

from __future__ import annotations

import time

import httpx
import pytest

from simulator.app import RunningServer
from tests.simulator.simtest_support import Api, StartSim, call_path, encode, signed_headers

HANGUP = {"action": {"name": "hangup"}}


async def put_faults(client: httpx.AsyncClient, **faults: object) -> dict[str, object]:
    response = await client.put("/_admin/faults", json=faults)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_error_rate_one_gives_503_with_50300(
    api: Api, client: httpx.AsyncClient, sim: RunningServer, call_id: str
) -> None:
    await client.post("/_admin/calls", json={"callId": call_id})
    await put_faults(client, errorRate=1.0, errorStatuses=[503])
    for _ in range(5):
        response = await api.patch(call_id, HANGUP)
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert body["errorCode"] == 50300
        assert body["status"] == "503 Service Unavailable"
    # Injected before processing: the hangup never happened.
    call = sim.simulator.calls.get(call_id)
    assert call is not None
    assert call.status == "ONGOING"


async def test_error_statuses_are_picked_among_the_list(
    api: Api, client: httpx.AsyncClient
) -> None:
    await client.put("/_admin/faults", json={"errorRate": 1.0, "errorStatuses": [500, 502]})
    seen = {(await api.get(f"call{i}")).status_code for i in range(40)}
    assert seen == {500, 502}


async def test_rate_limit_gives_429_with_retry_after(api: Api, client: httpx.AsyncClient) -> None:
    await put_faults(client, rateLimitRate=1.0, retryAfterSeconds=3)
    response = await api.patch("c1", HANGUP)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.json()["errorCode"] == 42900


async def test_drop_closes_the_connection_without_a_response(
    client: httpx.AsyncClient, call_id: str
) -> None:
    await put_faults(client, dropRate=1.0)
    path = call_path(call_id)
    body = encode(HANGUP)
    with pytest.raises(httpx.RemoteProtocolError):
        await client.patch(path, content=body, headers=signed_headers("PATCH", path, body))
    # The same client keeps working for what is not faulted.
    assert (await client.get("/_admin/health")).json() == {"status": "ok"}
    log = (await client.get("/_admin/requests", params={"callId": call_id})).json()["requests"]
    assert [(e["fault"], e["status"]) for e in log] == [("drop", None)]


async def test_drop_reset_mode_resets_the_connection(api: Api, client: httpx.AsyncClient) -> None:
    await put_faults(client, dropRate=1.0, dropMode="reset")
    with pytest.raises(httpx.TransportError) as caught:
        await api.get("c1")
    assert isinstance(caught.value, httpx.ReadError | httpx.RemoteProtocolError)


async def test_latency_is_added(api: Api, client: httpx.AsyncClient) -> None:
    started = time.perf_counter()
    await api.get("c1")
    baseline = time.perf_counter() - started
    await put_faults(client, latencyMs=300)
    started = time.perf_counter()
    response = await api.get("c1")
    elapsed = time.perf_counter() - started
    assert response.status_code == 200
    assert 0.3 <= elapsed < 0.3 + baseline + 1.0
    log = (await client.get("/_admin/requests")).json()["requests"]
    assert [e["injectedDelayMs"] for e in log] == [0.0, 300.0]


async def test_jitter_stays_within_bounds(api: Api, client: httpx.AsyncClient) -> None:
    await put_faults(client, latencyMs=50, latencyJitterMs=100)
    for _ in range(5):
        await api.get("c1")
    delays = [
        e["injectedDelayMs"] for e in (await client.get("/_admin/requests")).json()["requests"]
    ]
    assert len(delays) == 5
    assert all(50 <= d <= 150 for d in delays)
    assert len(set(delays)) > 1


async def test_slow_requests(api: Api, client: httpx.AsyncClient) -> None:
    await put_faults(client, slowRate=1.0, slowMs=250)
    started = time.perf_counter()
    assert (await api.get("c1")).status_code == 200
    assert time.perf_counter() - started >= 0.25


async def test_put_faults_changes_behaviour_live(api: Api, client: httpx.AsyncClient) -> None:
    assert (await api.get("c1")).status_code == 200
    await put_faults(client, errorRate=1.0, errorStatuses=[500])
    failing = await api.get("c1")
    assert failing.status_code == 500
    assert failing.json()["errorCode"] == 50000
    current = await put_faults(client)  # PUT replaces: an empty body means no faults
    assert current["errorRate"] == 0.0
    assert (await api.get("c1")).status_code == 200


async def test_patch_merges_and_delete_restores_startup(client: httpx.AsyncClient) -> None:
    await put_faults(client, latencyMs=5)
    merged = (await client.patch("/_admin/faults", json={"errorRate": 0.5})).json()
    assert (merged["latencyMs"], merged["errorRate"]) == (5, 0.5)
    restored = (await client.delete("/_admin/faults")).json()
    assert (restored["latencyMs"], restored["errorRate"]) == (0, 0.0)
    assert (await client.get("/_admin/faults")).json() == restored
    assert set(restored) == {
        "latencyMs",
        "latencyJitterMs",
        "errorRate",
        "errorStatuses",
        "rateLimitRate",
        "retryAfterSeconds",
        "dropRate",
        "dropMode",
        "slowRate",
        "slowMs",
        "afterProcessingRate",
    }


@pytest.mark.parametrize(
    "faults",
    [
        {"errorRate": 1.5},
        {"errorStatuses": []},
        {"errorStatuses": [200]},
        {"dropMode": "x"},
        {"latencyMs": -1},
        {"unknownFault": 1},
    ],
)
async def test_invalid_faults_rejected(
    client: httpx.AsyncClient, faults: dict[str, object]
) -> None:
    response = await client.put("/_admin/faults", json=faults)
    assert response.status_code == 400
    assert response.json()["error"]
    assert (await client.get("/_admin/faults")).json()["errorRate"] == 0.0


async def test_faults_never_touch_admin(client: httpx.AsyncClient) -> None:
    await put_faults(client, errorRate=1.0, dropRate=1.0, rateLimitRate=1.0, latencyMs=2000)
    started = time.perf_counter()
    assert (await client.get("/_admin/health")).status_code == 200
    assert (await client.get("/_admin/stats")).status_code == 200
    assert time.perf_counter() - started < 1.0


async def test_error_after_processing_applies_the_request(
    api: Api, client: httpx.AsyncClient, call_id: str
) -> None:
    await put_faults(client, errorRate=1.0, errorStatuses=[500], afterProcessingRate=1.0)
    response = await api.patch(call_id, HANGUP)
    assert response.status_code == 500
    await put_faults(client)
    # The hangup took effect although the client saw a 500: the "outcome unknown" case.
    assert (await api.get(call_id)).json()["status"] == "FINAL"
    entry = (await client.get("/_admin/requests", params={"callId": call_id})).json()["requests"][0]
    assert (entry["fault"], entry["faultAfterProcessing"], entry["status"]) == ("error", True, 500)


async def test_drop_after_processing_applies_the_request(
    api: Api, client: httpx.AsyncClient, call_id: str
) -> None:
    await put_faults(client, dropRate=1.0, afterProcessingRate=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        await api.patch(call_id, HANGUP)
    await put_faults(client)
    assert (await api.get(call_id)).json()["status"] == "FINAL"


async def test_faults_from_startup_settings(start_sim: StartSim) -> None:
    server = await start_sim(error_rate=1.0, error_statuses="500", fault_seed=7)
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await Api(http).get("c1")
        assert response.status_code == 500
        assert response.json()["errorCode"] == 50000
        faults = (await http.get("/_admin/faults")).json()
        assert (faults["errorRate"], faults["errorStatuses"]) == (1.0, [500])


async def test_partial_rates_are_roughly_respected(start_sim: StartSim) -> None:
    server = await start_sim(
        error_rate=0.3, error_statuses="503", fault_seed=1234, create_calls="c1"
    )
    async with httpx.AsyncClient(base_url=server.url) as http:
        api = Api(http)
        statuses = [(await api.get("c1")).status_code for _ in range(300)]
    failures = statuses.count(503)
    assert 50 <= failures <= 130
    assert failures + statuses.count(200) == 300
