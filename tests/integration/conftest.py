from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from service.kafka.topics import ensure_topics
from service.ops.logging import configure_logging
from service.settings import Settings
from testkit.kafka import KafkaClient
from testkit.processes import SimulatorProcess
from testkit.service import service_settings, unique_topics

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def simulator_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorProcess]:
    # Calls exist only once a test creates them, as with Sinch: unknown ids answer 404.
    sim = SimulatorProcess(tmp_path_factory.mktemp("simulator"), "--no-auto-create-calls")
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
async def simulator(simulator_process: SimulatorProcess) -> SimulatorProcess:
    await simulator_process.reset()
    return simulator_process


@pytest.fixture(scope="session", autouse=True)
def _logs() -> None:
    configure_logging("INFO", "console")


@pytest.fixture
def settings(kafka: str, simulator: SimulatorProcess, tmp_path: Path) -> Settings:
    return service_settings(kafka, simulator.url, tmp_path, topics=unique_topics("it"))


@pytest.fixture
async def kafka_client(kafka: str, settings: Settings) -> AsyncIterator[KafkaClient]:
    await ensure_topics(settings.kafka, settings.topics)  # before any client auto-creates them
    async with KafkaClient(kafka, settings.topics) as client:
        yield client
