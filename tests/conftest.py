"""Shared pytest set-up."""

from __future__ import annotations

import os

import pytest

# tests/containers needs a Docker engine and the images of `make images`: `make test-containers`
# runs it (CALLCTL_TEST_CONTAINERS=1); everywhere else it is not collected.
collect_ignore = [] if os.environ.get("CALLCTL_TEST_CONTAINERS") == "1" else ["containers"]


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say which real services the run uses, so a CI log shows it at the top."""
    kafka = os.environ.get("CALLCTL_TEST_KAFKA", "none named (testcontainers if Docker answers)")
    redis = os.environ.get("CALLCTL_TEST_REDIS", "none named")
    return [f"kafka broker: {kafka}", f"redis: {redis}"]
