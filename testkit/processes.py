"""Processes the tests and the benchmarks start: a generic child process with its own log file,
and the simulator with its admin API.

Every child gets `clean_env()`: a developer's exported `CALLCTL_*` or `SIM_*` variables (or the
tests' own `CALLCTL_TEST_*`) must not change what a test or a benchmark runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import httpx

ROOT = Path(__file__).resolve().parents[1]
# The simulator's documented defaults (simulator/README.md): public test values, not secrets.
SIM_KEY = "sim-key"
SIM_SECRET = "c2ltLXNlY3JldC0xMjM0NTY="  # noqa: S105
START_TIMEOUT_S = 30.0


def free_port() -> int:
    """A loopback port nothing listens on right now (for "nothing answers there" tests)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without `CALLCTL_*` and `SIM_*`, plus `extra`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CALLCTL_", "SIM_"))}
    return {**base, **extra}


class Process:
    """A child process whose stdout and stderr go to `log_path`, for post-mortems."""

    started: ClassVar[list[Process]] = []  # so that a failed test's leftovers can be ended

    def __init__(
        self, argv: list[str], env: dict[str, str], log_path: Path, cwd: Path = ROOT
    ) -> None:
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.cwd = cwd  # `python -m` imports from here first (the bench runs a code snapshot)
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        Process.started.append(self)

    @classmethod
    def end_leftovers(cls) -> None:
        """kill -9 every process of this class started here that still runs (a test failed
        before stopping it)."""
        for process in Process.started:
            if isinstance(process, cls) and process.alive():
                process.kill()
        Process.started = [p for p in Process.started if p.alive()]

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """kill -9: no shutdown, no final commit."""
        assert self.popen is not None
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(10)

    def terminate(self, timeout_s: float = 60) -> int:
        """SIGTERM and wait for the exit code (a graceful stop must finish within `timeout_s`)."""
        assert self.popen is not None
        self.popen.send_signal(signal.SIGTERM)
        return self.popen.wait(timeout_s)

    async def stop(self, timeout_s: float = 3.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout_s`, without blocking the event loop."""
        popen = self.popen
        if popen is None:
            return None
        if popen.poll() is None:
            popen.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(popen.wait, timeout_s)
            except subprocess.TimeoutExpired:
                popen.kill()
                await asyncio.to_thread(popen.wait, 10)
        return popen.returncode

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, chars: int = 2_000) -> str:
        return self.logs()[-chars:]


class SimulatorProcess:
    """`python -m simulator` on a port of its own choosing (announced in its "listening" line),
    and a client for its `/_admin` API (simulator/README.md)."""

    def __init__(self, workdir: Path, *args: str, cwd: Path = ROOT) -> None:
        argv = [sys.executable, "-m", "simulator", "--port", "0", "--log-level", "INFO", *args]
        self.process = Process(argv, clean_env(), workdir / "simulator.log", cwd)
        self.url = ""
        self._admin: httpx.AsyncClient | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid

    @property
    def admin(self) -> httpx.AsyncClient:
        assert self._admin is not None, "the simulator is not started"
        return self._admin

    def start(self) -> None:
        """Start it and wait until it listens."""
        self.process.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.url:
            if time.monotonic() > deadline or not self.process.alive():
                raise RuntimeError(f"simulator did not start:\n{self.process.tail()}")
            for line in self.process.logs().splitlines():
                with contextlib.suppress(ValueError):
                    entry = json.loads(line)
                    if isinstance(entry, dict) and entry.get("event") == "listening":
                        self.url = str(entry["url"])
            time.sleep(0.05)
        self._admin = httpx.AsyncClient(base_url=self.url, timeout=30)

    def stop(self) -> None:
        if self.process.alive():
            try:
                self.process.terminate(10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    async def close(self) -> None:
        if self._admin is not None:
            await self._admin.aclose()
        await self.process.stop()

    # --- /_admin ---------------------------------------------------------------------

    async def reset(self) -> None:
        """Back to its start-up state: no calls, empty request log and counters, no faults."""
        (await self.admin.post("/_admin/reset")).raise_for_status()

    async def set_faults(self, **faults: Any) -> None:
        """Replace the fault configuration; what is not named is off."""
        (await self.admin.put("/_admin/faults", json=faults)).raise_for_status()

    async def create_call(self, call_id: str, **spec: Any) -> None:
        """An ongoing PSTN call (Sinch knows only calls that exist); `spec`: e.g. parked."""
        body = {"callId": call_id, **spec}
        (await self.admin.post("/_admin/calls", json=body)).raise_for_status()

    async def requests(self, call_id: str | None = None) -> list[dict[str, Any]]:
        """The request log (of one call, when named), up to the server's page size."""
        params = {"callId": call_id} if call_id else {}
        response = await self.admin.get("/_admin/requests", params=params)
        response.raise_for_status()
        entries: list[dict[str, Any]] = response.json()["requests"]
        return entries

    async def request_log(self) -> list[dict[str, Any]]:
        """The whole request log, page by page."""
        entries: list[dict[str, Any]] = []
        since = 0
        while True:
            response = await self.admin.get(
                "/_admin/requests", params={"since": since, "limit": 5000}
            )
            response.raise_for_status()
            page = response.json()["requests"]
            if not page:
                return entries
            entries.extend(page)
            since = page[-1]["seq"]

    async def requests_served(self) -> int:
        response = await self.admin.get("/_admin/stats")
        response.raise_for_status()
        return int(response.json()["total"])
