"""Start-up before the dependencies: the service waits (not ready, one log line per attempt),
becomes ready once the broker is there, and gives up after CALLCTL_STARTUP_TIMEOUT_S with one
line and exit code 3. Uses a private broker started mid-test, never the shared one."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.startup import EXIT_DEPENDENCY_UNAVAILABLE
from testkit.kafka import KafkaClient, command
from testkit.processes import ROOT, SimulatorProcess, free_port
from testkit.service import ServiceProcess, service_env, unique_topics
from tests.integration.private_kafka import PrivateKafka

pytestmark = pytest.mark.integration


def _events(log: str, event: str) -> list[dict[str, Any]]:
    found = []
    for line in log.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("event") == event:
            found.append(entry)
    return found


async def _readyz(port: int) -> int | None:
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            return (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code
    except httpx.TransportError:
        return None


async def _until(what: str, check: Any, timeout_s: float, service: ServiceProcess) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert service.alive(), f"service exited while waiting for {what}:\n{service.logs()}"
        assert time.monotonic() < deadline, f"no {what} within {timeout_s} s:\n{service.logs()}"
        await asyncio.sleep(0.3)


async def test_service_started_before_the_broker_waits_then_serves(
    tmp_path: Path, simulator: SimulatorProcess
) -> None:
    broker = PrivateKafka(tmp_path / "broker")
    topics = unique_topics("it")
    http_port = free_port()
    env = service_env(
        bootstrap=broker.bootstrap,
        simulator_url=simulator.url,
        topics=topics,
        group="it-startup",
        state_dir=tmp_path,
        CALLCTL_HTTP_PORT=str(http_port),
        CALLCTL_STARTUP_TIMEOUT_S="300",
    )
    service = ServiceProcess("service", env, tmp_path)
    service.start()
    try:
        # live, not ready, and saying why, once per attempt
        async def waiting() -> bool:
            attempts = [
                e
                for e in _events(service.logs(), "dependency_unreachable")
                if e.get("address") == broker.bootstrap
            ]
            return len(attempts) >= 2 and await _readyz(http_port) == 503

        await _until("not-ready answers and two attempt lines", waiting, 120, service)
        attempts = _events(service.logs(), "dependency_unreachable")
        assert {e["cause"] for e in attempts} == {"connection refused"}
        assert [e["attempt"] for e in attempts] == list(range(1, len(attempts) + 1))
        assert all(e["dependency"] == "Kafka" for e in attempts)

        await asyncio.to_thread(broker.start)

        async def ready() -> bool:
            return await _readyz(http_port) == 200

        await _until("readiness after the broker started", ready, 180, service)
        assert _events(service.logs(), "dependency_reachable")

        call_id = "startup-call"
        await simulator.create_call(call_id)
        hangup = command(call_id, "hangup")
        async with KafkaClient(broker.bootstrap, topics) as client:
            await client.send(hangup)
            results = await client.results_for([hangup["commandId"]], timeout_s=60)
        assert results[hangup["commandId"]]["outcome"] == "succeeded"

        assert service.terminate() == 0, service.logs()
        assert "Traceback" not in service.logs()
    finally:
        if service.alive():
            service.kill()
        await asyncio.to_thread(broker.stop)


def test_gives_up_after_the_timeout_with_one_line_and_exit_code_3(tmp_path: Path) -> None:
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there
    env = service_env(
        bootstrap=dead,
        simulator_url="http://127.0.0.1:9",
        topics=unique_topics("it"),
        group="it-startup-timeout",
        state_dir=tmp_path,
        CALLCTL_STARTUP_TIMEOUT_S="2",
    )
    started = time.monotonic()
    done = subprocess.run(
        # ResourceWarnings shown, as they would be for an unclosed client
        [sys.executable, "-W", "always::ResourceWarning", "-m", "service"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == EXIT_DEPENDENCY_UNAVAILABLE, done.stderr
    assert time.monotonic() - started < 100
    lines = done.stderr.splitlines()
    plain = [line for line in lines if not line.startswith("{")]
    assert plain == [
        f"call-control: cannot start: Kafka at {dead} not reachable within "
        "CALLCTL_STARTUP_TIMEOUT_S=2 s (last cause: connection refused)"
    ], done.stderr
    assert len(_events(done.stderr, "dependency_unreachable")) >= 2
    for noise in ("Traceback", "Unclosed", "ResourceWarning", "Task was destroyed"):
        assert noise not in done.stderr + done.stdout
