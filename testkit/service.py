"""The service under test: in this process (`running_service`, for integration tests that look
inside) or as its own process (`ServiceProcess`, for fault tests and benchmarks that kill it,
stop it or measure its CPU). Both talk to the simulator with its public test credentials."""

from __future__ import annotations

import contextlib
import sys
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from service.app import Service
from service.settings import (
    IdempotencySettings,
    KafkaSettings,
    Settings,
    SinchSettings,
    TopicSettings,
)
from testkit.kafka import remember_topics
from testkit.processes import ROOT, SIM_KEY, SIM_SECRET, Process, clean_env


def unique_topics(prefix: str, run: str | None = None) -> TopicSettings:
    """Every topic of the contract under a name no other run uses: `<prefix>.results.<run>`."""
    run = run or uuid.uuid4().hex[:10]
    topics = TopicSettings(
        **{name: f"{prefix}.{name.replace('_', '-')}.{run}" for name in TopicSettings.model_fields}
    )
    remember_topics(getattr(topics, name) for name in TopicSettings.model_fields)
    return topics


def topic_env(topics: TopicSettings) -> dict[str, str]:
    """The `CALLCTL_TOPICS__*` variables naming `topics`, for the service and callctl."""
    return {
        f"CALLCTL_TOPICS__{name.upper()}": getattr(topics, name)
        for name in TopicSettings.model_fields
    }


def service_env(
    *,
    bootstrap: str,
    simulator_url: str,
    topics: TopicSettings,
    group: str,
    state_dir: Path,
    tuning: Mapping[str, str] | None = None,
    **extra: str,
) -> dict[str, str]:
    """`CALLCTL_*` for `python -m service` against the simulator: its own topics, group and
    SQLite file; JSON logs; any free health port; no snapshots unless told. `tuning` (a test
    suite's settings) goes on top, and `extra` (one test's) on top of that."""
    return {
        "CALLCTL_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "CALLCTL_KAFKA__GROUP_ID": group,
        **topic_env(topics),
        "CALLCTL_SINCH__BASE_URL": simulator_url,
        "CALLCTL_SINCH__APPLICATION_KEY": SIM_KEY,
        "CALLCTL_SINCH__APPLICATION_SECRET": SIM_SECRET,
        "CALLCTL_IDEMPOTENCY__SQLITE_PATH": str(state_dir / "idempotency.sqlite3"),
        "CALLCTL_SNAPSHOT_DEFAULT": "false",
        "CALLCTL_LOG_FORMAT": "json",
        "CALLCTL_HTTP_PORT": "0",
        **(tuning or {}),
        **extra,
    }


class ServiceProcess(Process):
    """`python -m service` with `env` over a clean environment; logs in `<workdir>/<name>.log`."""

    def __init__(self, name: str, env: dict[str, str], workdir: Path, cwd: Path = ROOT) -> None:
        argv = [sys.executable, "-m", "service"]
        super().__init__(argv, clean_env(**env), workdir / f"{name}.log", cwd)
        self.name = name


def service_settings(
    bootstrap: str, simulator_url: str, workdir: Path, **overrides: Any
) -> Settings:
    """Settings for an in-process service: unique topics and group, topics created at start,
    commits every 100 ms."""
    topics = overrides.pop("topics", None) or unique_topics("it")
    sinch = overrides.pop("sinch", None) or SinchSettings(
        base_url=simulator_url,
        application_key=SIM_KEY,
        application_secret=SecretStr(SIM_SECRET),
    )
    return Settings(
        kafka=KafkaSettings(
            bootstrap_servers=bootstrap,
            group_id=f"it-{uuid.uuid4().hex[:8]}",
            create_topics=True,
            topic_partitions=overrides.pop("partitions", 3),
            commit_interval_ms=100,
        ),
        topics=topics,
        sinch=sinch,
        idempotency=IdempotencySettings(sqlite_path=workdir / "idempotency.sqlite3"),
        http_port=0,
        **overrides,
    )


@contextlib.asynccontextmanager
async def running_service(settings: Settings) -> AsyncIterator[Service]:
    """The service in this process, started and stopped as its FastStream app does."""
    service = Service(settings)
    app = service.application()
    await app.start()
    try:
        yield service
    finally:
        await app.stop()
