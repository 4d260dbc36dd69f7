"""`python -m simulator` as a process: start-up line, settings precedence, --help, SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulator.__main__ import build_parser, load_settings
from simulator.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def sim_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIM_")}
    return {**env, **extra}


class Process:
    def __init__(self, proc: asyncio.subprocess.Process, listening: dict[str, Any]) -> None:
        self.proc = proc
        self.listening = listening

    @property
    def url(self) -> str:
        return str(self.listening["url"])


@pytest.fixture
async def run_sim() -> AsyncIterator[Any]:
    procs: list[asyncio.subprocess.Process] = []

    async def _run(*args: str, **env: str) -> Process:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "simulator",
            *args,
            cwd=REPO,
            env=sim_env(**env),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        procs.append(proc)
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=20)
        return Process(proc, json.loads(line))

    yield _run
    for proc in procs:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_starts_prints_address_and_stops_on_sigterm(run_sim: Any) -> None:
    sim: Process = await run_sim(
        "--port",
        "0",
        "--application-key",
        "cli-key",
        SIM_APPLICATION_KEY="env-key",
        SIM_AUTH_SCHEMES="signed",
    )
    assert sim.listening["event"] == "listening"
    assert sim.url.startswith("http://127.0.0.1:")
    async with httpx.AsyncClient(base_url=sim.url) as http:
        assert (await http.get("/_admin/health")).json() == {"status": "ok"}
        config = (await http.get("/_admin/config")).json()
    # CLI beats env; env beats defaults.
    assert config["applicationKey"] == "cli-key"
    assert config["authSchemes"] == ["signed"]
    sim.proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(sim.proc.wait(), timeout=10) == 0
    assert sim.proc.stdout is not None
    rest = (await sim.proc.stdout.read()).decode().splitlines()
    assert [json.loads(line)["event"] for line in rest] == ["stopping", "stopped"]


async def test_sigint_stops_cleanly(run_sim: Any) -> None:
    sim: Process = await run_sim("--port", "0")
    sim.proc.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(sim.proc.wait(), timeout=10) == 0


def test_invalid_setting_exits_2_naming_it_without_the_secret() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "simulator", "--error-rate", "2"],
        cwd=REPO,
        env=sim_env(SIM_APPLICATION_SECRET="%%not-base64-secret%%"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "error_rate" in result.stderr
    assert "application_secret" in result.stderr
    assert "not-base64-secret" not in result.stderr + result.stdout


def test_help_lists_every_setting(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    for name in Settings.model_fields:
        assert f"--{name.replace('_', '-')}" in text
        assert f"SIM_{name.upper()}" in text


def test_env_lists_and_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("SIM_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("SIM_ERROR_STATUSES", "[502, 504]")
    monkeypatch.setenv("SIM_AUTO_CREATE_CALLS", "false")
    monkeypatch.setenv("SIM_LOG_LEVEL", "debug")
    settings = load_settings(["--auth-schemes", "basic,signed", "--latency-ms", "15"])
    assert settings.error_statuses == (502, 504)
    assert settings.auto_create_calls is False
    assert settings.auth_schemes == frozenset({"basic", "signed"})
    assert settings.latency_ms == 15
    assert settings.log_level == "DEBUG"
    assert load_settings(["--auto-create-calls"]).auto_create_calls is True
    defaults = load_settings(["--error-statuses", "500"])
    assert defaults.error_statuses == (500,)
    assert defaults.application_key == "sim-key"
    assert defaults.application_secret.get_secret_value() == "c2ltLXNlY3JldC0xMjM0NTY="
    assert (defaults.host, defaults.port) == ("127.0.0.1", 8700)
