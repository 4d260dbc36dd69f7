"""deploy/compose.yaml started for real with the local images (deploy/compose.local.yaml) on
ports of its own: a hangup through it, then `down -v` leaves nothing of the project behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import docker
import httpx

from call_control_testing import CommandClient, Topics, command, free_port

ROOT = Path(__file__).resolve().parents[2]


def compose_command() -> list[str]:
    """Docker's compose v2 plugin when installed, else Debian's docker-compose (1.29)."""
    probe = subprocess.run(
        ["docker", "compose", "version"], capture_output=True, check=False, timeout=30
    )
    if probe.returncode == 0:
        return ["docker", "compose"]
    legacy = shutil.which("docker-compose")
    assert legacy, "neither `docker compose` nor `docker-compose` is installed"
    return [legacy]


def wait_ready(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(1)
    raise AssertionError(f"{url} not ready within {timeout_s:.0f} s")


def test_compose_stack_runs_a_hangup_and_comes_down_clean() -> None:
    project = f"cc-test-{uuid.uuid4().hex[:8]}"
    kafka_port, simulator_port, http_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "COMPOSE_KAFKA_PORT": str(kafka_port),
        "COMPOSE_SIMULATOR_PORT": str(simulator_port),
        "COMPOSE_HTTP_PORT": str(http_port),
    }
    base = [
        *compose_command(), "-p", project,
        "-f", str(ROOT / "deploy/compose.yaml"), "-f", str(ROOT / "deploy/compose.local.yaml"),
    ]  # fmt: skip

    def compose(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*base, *args], env=env, capture_output=True, text=True, check=False, timeout=300
        )

    engine = docker.from_env()
    labels = {"label": f"com.docker.compose.project={project}"}
    try:
        up = compose("up", "-d", "--no-build")
        assert up.returncode == 0, up.stderr
        wait_ready(f"http://127.0.0.1:{http_port}/readyz", 180)

        call_id = f"call-{uuid.uuid4().hex[:12]}"
        # Like Sinch, the simulator knows only the calls it is given.
        httpx.post(
            f"http://127.0.0.1:{simulator_port}/_admin/calls", json={"callId": call_id}
        ).raise_for_status()
        client = CommandClient(f"localhost:{kafka_port}", Topics(), timeout_s=60)
        result = client.execute_blocking(command(call_id, "hangup"))
        assert result["outcome"] == "succeeded", result
        seen = httpx.get(
            f"http://127.0.0.1:{simulator_port}/_admin/requests", params={"callId": call_id}
        ).json()["requests"]
        assert [r["method"] for r in seen if r["method"] == "PATCH"] == ["PATCH"]

        stop = compose("stop")
        assert stop.returncode == 0, stop.stderr
        [service_id] = compose("ps", "-q", "call-control").stdout.split()
        state = engine.api.inspect_container(service_id)["State"]
        assert state["ExitCode"] == 0, json.dumps(state)
    finally:
        down = compose("down", "-v", "--remove-orphans")
    assert down.returncode == 0, down.stderr
    assert engine.containers.list(all=True, filters=labels) == []
    assert engine.volumes.list(filters=labels) == []
    assert engine.networks.list(filters=labels) == []
