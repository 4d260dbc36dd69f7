"""Fixtures: the simulator on a real loopback socket (port 0), and httpx clients for it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from simulator.app import RunningServer, start_server
from simulator.settings import Settings
from tests.simulator.simtest_support import Api, StartSim


def make_settings(**overrides: Any) -> Settings:
    # A prefix nobody sets: the tests must not depend on the SIM_* environment of the run.
    return Settings(_env_prefix="SIMTEST_UNUSED_", host="127.0.0.1", port=0, **overrides)


@pytest.fixture(scope="session")
async def sim_server() -> AsyncIterator[RunningServer]:
    # Calls are created on first use here, an explicit switch (the default is Sinch's 404):
    # these tests are about what a request does to a call, not about creating it.
    server = await start_server(make_settings(auto_create_calls=True))
    yield server
    await server.close()


@pytest.fixture
async def sim(sim_server: RunningServer) -> RunningServer:
    """The shared server, reset to its start-up state (no calls, no log, no faults)."""
    sim_server.simulator.reset()
    return sim_server


@pytest.fixture
async def client(sim: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.url, timeout=10.0) as http:
        yield http


@pytest.fixture
async def start_sim() -> AsyncIterator[StartSim]:
    """Start an extra simulator with its own settings; stopped after the test."""
    started: list[RunningServer] = []

    async def _start(**overrides: Any) -> RunningServer:
        server = await start_server(make_settings(**overrides))
        started.append(server)
        return server

    yield _start
    for server in started:
        await server.close()


@pytest.fixture
def call_id() -> str:
    return uuid.uuid4().hex


@pytest.fixture
def api(client: httpx.AsyncClient) -> Api:
    return Api(client)
