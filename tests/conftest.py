"""Shared pytest set-up."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest

from testkit.kafka import forget_named_topics
from tests.integration.kafka_broker import kafka_broker

# tests/containers needs a Docker engine and the images of `make images`: `make test-containers`
# runs it (CALLCTL_TEST_CONTAINERS=1); everywhere else it is not collected.
collect_ignore = [] if os.environ.get("CALLCTL_TEST_CONTAINERS") == "1" else ["containers"]


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say which real services the run uses, so a CI log shows it at the top."""
    kafka = os.environ.get("CALLCTL_TEST_KAFKA", "none named (testcontainers if Docker answers)")
    redis = os.environ.get("CALLCTL_TEST_REDIS", "none named")
    return [f"kafka broker: {kafka}", f"redis: {redis}"]


@pytest.fixture(scope="session")
def kafka() -> Iterator[str]:
    """The broker of the integration and fault tests (see `kafka_broker`)."""
    with kafka_broker() as bootstrap:
        yield bootstrap
        # The session's own topics go, so that repeated runs leave the broker as they found it.
        asyncio.run(forget_named_topics(bootstrap))
