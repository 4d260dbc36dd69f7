from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.harness import SimulatorProcess
from tests.integration.kafka_broker import kafka_broker


@pytest.fixture(scope="session")
def kafka() -> Iterator[str]:
    with kafka_broker() as bootstrap:
        yield bootstrap


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorProcess]:
    # calls are created on first use: thousands of calls need no set-up
    sim = SimulatorProcess("--auto-create-calls")
    sim.start()
    yield sim
    sim.stop()
