from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from harness import SimulatorProcess
from kafka_broker import kafka_broker


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
