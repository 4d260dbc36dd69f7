from __future__ import annotations

from collections.abc import Iterator

import pytest

from testkit.processes import SimulatorProcess


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorProcess]:
    # calls are created on first use: thousands of calls need no set-up
    sim = SimulatorProcess(tmp_path_factory.mktemp("simulator"), "--auto-create-calls")
    sim.start()
    yield sim
    sim.stop()
