"""Shared pytest set-up."""

from __future__ import annotations

import os

import pytest


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say which real services the run uses, so a CI log shows it at the top."""
    kafka = os.environ.get("CALLCTL_TEST_KAFKA", "none named (testcontainers if Docker answers)")
    redis = os.environ.get("CALLCTL_TEST_REDIS", "none named")
    return [f"kafka broker: {kafka}", f"redis: {redis}"]
