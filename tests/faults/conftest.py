from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from testkit.processes import SimulatorProcess
from testkit.service import ServiceProcess


@pytest.fixture(autouse=True)
def _no_leftover_processes() -> Iterator[None]:
    """A test that fails before stopping its service processes would leave them running (and
    using the CPU the next tests measure against): end them."""
    yield
    ServiceProcess.end_leftovers()


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorProcess]:
    # calls are created on first use: thousands of calls need no set-up
    sim = SimulatorProcess(tmp_path_factory.mktemp("simulator"), "--auto-create-calls")
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("CALLCTL_TEST_REDIS")
    if not url:
        pytest.fail(
            "CALLCTL_TEST_REDIS is not set: run `deploy/redis.sh start` and set "
            "CALLCTL_TEST_REDIS=redis://127.0.0.1:6379/15 (`make test` does both)",
            pytrace=False,
        )
    return url
