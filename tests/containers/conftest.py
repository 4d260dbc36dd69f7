"""Containers for `make test-containers`: the images `make images` built, on the host network.

One Kafka and one simulator serve the session; each test that needs the service starts its own
with topics of its own. Image names: IMAGE, SIMULATOR_IMAGE, KAFKA_IMAGE (as build.sh names them).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# No registry here for testcontainers' reaper image; every container is stopped by its fixture.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

from call_control_testing import (
    KAFKA_IMAGE,
    SERVICE_IMAGE,
    SIMULATOR_IMAGE,
    CallControlContainer,
    KafkaContainer,
    SinchSimulatorContainer,
    Topics,
)

pytestmark = pytest.mark.containers


def image(variable: str, default: str) -> str:
    return os.environ.get(variable) or default


@pytest.fixture(scope="session")
def kafka() -> Iterator[KafkaContainer]:
    with KafkaContainer(image("KAFKA_IMAGE", KAFKA_IMAGE)) as container:
        yield container


@pytest.fixture(scope="session")
def sinch() -> Iterator[SinchSimulatorContainer]:
    with SinchSimulatorContainer(image("SIMULATOR_IMAGE", SIMULATOR_IMAGE)) as container:
        yield container


@pytest.fixture(scope="module")
def service(
    kafka: KafkaContainer, sinch: SinchSimulatorContainer
) -> Iterator[CallControlContainer]:
    """One service per test module, on topics of its own."""
    container = CallControlContainer(
        kafka, sinch, image("IMAGE", SERVICE_IMAGE), topics=Topics.unique("ct")
    )
    with container:
        yield container
