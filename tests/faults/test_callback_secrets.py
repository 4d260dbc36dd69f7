"""Sinch callbacks at DEBUG, signed right and wrong: no secret, signature or Authorization
header reaches a log line or an event."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx

from simulator.auth import decode_secret, signature
from testkit.kafka import read_topic
from testkit.processes import SIM_KEY, SIM_SECRET, SimulatorProcess, free_port
from testkit.service import ServiceProcess, service_env, unique_topics
from tests.faults.support import new_run

PATH = "/sinch/callbacks"


def signed(body: bytes, secret: str = SIM_SECRET) -> tuple[dict[str, str], str]:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    sig = signature(decode_secret(secret), "POST", body, "application/json", stamp, PATH)
    headers = {
        "Content-Type": "application/json",
        "x-timestamp": stamp,
        "Authorization": f"Application {SIM_KEY}:{sig}",
    }
    return headers, sig


async def test_no_secret_from_callbacks_reaches_logs_or_events(
    kafka: str, simulator: SimulatorProcess, tmp_path: Path
) -> None:
    run = new_run()
    topics = unique_topics("fault", run)
    port = free_port()
    env = service_env(
        bootstrap=kafka,
        simulator_url=simulator.url,
        topics=topics,
        group=f"cb-secrets-{run}",
        state_dir=tmp_path,
        CALLCTL_LOG_LEVEL="DEBUG",
        CALLCTL_CALLBACKS__ENABLED="true",
        CALLCTL_CALLBACKS__HOST="127.0.0.1",
        CALLCTL_CALLBACKS__PORT=str(port),
    )
    service = ServiceProcess("service", env, tmp_path)
    service.start()
    signatures = []
    try:
        url = f"http://127.0.0.1:{port}{PATH}"
        body = json.dumps({"event": "ice", "callid": f"{run}-c", "cli": "+4670"}).encode()
        async with httpx.AsyncClient(timeout=10) as http:
            for _ in range(150):
                try:
                    headers, sig = signed(body)
                    response = await http.post(url, content=body, headers=headers)
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.2)
            else:
                raise AssertionError(f"the callback port did not open: {service.logs()[-2000:]}")
            assert response.status_code == 200, response.text
            signatures.append(sig)
            wrong, wrong_sig = signed(body, "d3JvbmctYnV0LXZhbGlkLWJhc2U2NA==")
            signatures.append(wrong_sig)
            assert (await http.post(url, content=body, headers=wrong)).status_code == 401
    finally:
        assert service.terminate() == 0
    logs = service.logs()
    assert '"callback"' in logs, "the line per callback was logged"
    for secret in (SIM_SECRET, *signatures, f"Application {SIM_KEY}:"):
        assert secret not in logs
    events = await read_topic(kafka, topics.events)
    assert len(events) == 1
    for secret in (SIM_SECRET, *signatures):
        assert secret.encode() not in events[0].value
