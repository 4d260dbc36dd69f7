"""Start-up waiting (service/startup.py) against real sockets on loopback."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from pydantic import SecretStr

from service.settings import IdempotencySettings, KafkaSettings, Settings, SinchSettings
from service.startup import Dependency, DependencyUnavailable, dependencies, wait_for


def _settings(**overrides: object) -> Settings:
    return Settings(
        sinch=SinchSettings(application_key="k", application_secret=SecretStr("c2VjcmV0")),
        **overrides,  # type: ignore[arg-type]
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_dependencies_are_every_bootstrap_server_and_redis_without_its_password() -> None:
    settings = _settings(
        kafka=KafkaSettings(bootstrap_servers="k1:9093, [::1]:9094,k3"),
        idempotency=IdempotencySettings(
            backend="redis", redis_url=SecretStr("rediss://:hunter2@redis.example:6380/0")
        ),
    )
    kafka, redis = dependencies(settings)
    assert kafka == Dependency("Kafka", (("k1", 9093), ("::1", 9094), ("k3", 9092)))
    assert redis == Dependency("Redis", (("redis.example", 6380),))
    assert "hunter2" not in repr(redis)


def test_sqlite_needs_only_kafka() -> None:
    assert [d.name for d in dependencies(_settings())] == ["Kafka"]


async def test_returns_at_once_when_an_address_accepts() -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        dependency = Dependency("Kafka", (("127.0.0.1", _closed_port()), ("127.0.0.1", port)))
        started = time.monotonic()
        await wait_for(dependency, deadline=time.monotonic() + 10, timeout_s=10)
        assert time.monotonic() - started < 2


async def test_gives_up_at_the_deadline_naming_address_and_cause() -> None:
    port = _closed_port()
    dependency = Dependency("Kafka", (("127.0.0.1", port),))
    started = time.monotonic()
    with pytest.raises(DependencyUnavailable) as raised:
        await wait_for(dependency, deadline=time.monotonic() + 1.5, timeout_s=1.5)
    assert 1.4 < time.monotonic() - started < 5
    assert str(raised.value) == (
        f"Kafka at 127.0.0.1:{port} not reachable within CALLCTL_STARTUP_TIMEOUT_S=1.5 s "
        "(last cause: connection refused)"
    )


async def test_waits_for_a_dependency_that_comes_up_later() -> None:
    port = _closed_port()
    dependency = Dependency("Redis", (("127.0.0.1", port),))

    async def come_up() -> asyncio.Server:
        await asyncio.sleep(1.2)
        return await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", port)

    later = asyncio.create_task(come_up())
    await wait_for(dependency, deadline=time.monotonic() + 20, timeout_s=20)
    server = await later
    server.close()
    await server.wait_closed()
