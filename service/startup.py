"""Waiting for Kafka and Redis at start, for at most `CALLCTL_STARTUP_TIMEOUT_S`.

A pod scheduled while its broker restarts should wait for it, not crash-loop with a traceback.
Each dependency's address is tried with capped, jittered exponential backoff, one log line per
failed attempt naming the address and the cause, until it accepts a connection or the time is
up; then `python -m service` prints one line and exits with `EXIT_DEPENDENCY_UNAVAILABLE`.
Meanwhile the health port answers: live, not ready.

Reachability is a TCP connection: whether the broker or Redis then accepts our credentials and
certificates is the service's own start-up, which names the setting that is wrong (retrying a
wrong password for minutes would only hide it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import structlog
from prometheus_client import CollectorRegistry

from service.ops.health import HealthServer
from service.settings import Settings

EXIT_DEPENDENCY_UNAVAILABLE = 3
FIRST_DELAY_S = 0.5
MAX_DELAY_S = 5.0
CONNECT_TIMEOUT_S = 3.0

log = structlog.get_logger(logger_name="service.startup")


@dataclass(frozen=True, slots=True)
class Dependency:
    name: str  # "Kafka", "Redis"
    addresses: tuple[tuple[str, int], ...]  # any one accepting a connection will do


class DependencyUnavailable(Exception):
    def __init__(self, dependency: Dependency, cause: str, timeout_s: float) -> None:
        self.dependency = dependency
        self.cause = cause
        addresses = ", ".join(_show(a) for a in dependency.addresses)
        super().__init__(
            f"{dependency.name} at {addresses} not reachable within "
            f"CALLCTL_STARTUP_TIMEOUT_S={timeout_s:g} s (last cause: {cause})"
        )


class StartupInterrupted(Exception):
    """SIGTERM or SIGINT while waiting: nothing has started, so stopping is clean."""


def _show(address: tuple[str, int]) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _host_port(text: str, default_port: int) -> tuple[str, int]:
    # urlsplit understands "host:port" and "[v6]:port" once given a scheme
    parts = urlsplit(f"//{text.strip()}")
    return parts.hostname or "localhost", parts.port or default_port


def dependencies(settings: Settings) -> list[Dependency]:
    """What the service needs before it can start; addresses only, never credentials."""
    kafka = tuple(
        _host_port(server, 9092)
        for server in settings.kafka.bootstrap_servers.split(",")
        if server.strip()
    )
    needed = [Dependency("Kafka", kafka)]
    if settings.idempotency.backend == "redis":
        url = urlsplit(settings.idempotency.redis_url.get_secret_value())
        if url.scheme in ("redis", "rediss"):  # a unix socket has no network to wait for
            needed.append(Dependency("Redis", ((url.hostname or "localhost", url.port or 6379),)))
    return needed


def _cause(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return f"no answer within {CONNECT_TIMEOUT_S:g} s"
    if isinstance(error, socket.gaierror) and error.strerror:
        return error.strerror.lower()  # "name or service not known"
    if isinstance(error, OSError) and error.errno:
        return os.strerror(error.errno).lower()  # "connection refused"
    return str(error) or type(error).__name__


async def _connect(address: tuple[str, int], timeout_s: float) -> None:
    host, port = address
    async with asyncio.timeout(timeout_s):
        _, writer = await asyncio.open_connection(host, port)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def wait_for(
    dependency: Dependency,
    *,
    deadline: float,
    timeout_s: float,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Return once one of the dependency's addresses accepts a connection; raise
    `DependencyUnavailable` when `deadline` (on `clock`) passes first."""
    delay = FIRST_DELAY_S
    attempt = 0
    while True:
        attempt += 1
        cause = ""
        for address in dependency.addresses:
            try:
                await _connect(address, max(0.1, min(CONNECT_TIMEOUT_S, deadline - clock())))
            except (OSError, TimeoutError) as error:
                cause = _cause(error)
                log.warning(
                    "dependency_unreachable",
                    dependency=dependency.name,
                    address=_show(address),
                    cause=cause,
                    attempt=attempt,
                )
            else:
                if attempt > 1:
                    log.info(
                        "dependency_reachable",
                        dependency=dependency.name,
                        address=_show(address),
                        attempts=attempt,
                    )
                return
        remaining = deadline - clock()
        if remaining <= 0:
            raise DependencyUnavailable(dependency, cause, timeout_s)
        await asyncio.sleep(min(remaining, delay * random.uniform(0.8, 1.2)))
        delay = min(MAX_DELAY_S, delay * 2)


@contextlib.contextmanager
def _interruptible(task: asyncio.Task[None]) -> Iterator[None]:
    """SIGTERM/SIGINT cancel the wait; the handlers in place before are put back after."""
    loop = asyncio.get_running_loop()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    for sig in previous:
        loop.add_signal_handler(sig, task.cancel)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            loop.remove_signal_handler(sig)
            signal.signal(sig, handler)


async def wait_for_dependencies(settings: Settings) -> None:
    """Wait for every dependency within `settings.startup_timeout_s`, answering the health
    port meanwhile (live, not ready). Raises `DependencyUnavailable` or `StartupInterrupted`."""
    timeout_s = settings.startup_timeout_s
    deadline = time.monotonic() + timeout_s
    health = HealthServer(
        settings.http_host,
        settings.http_port,
        not_ready=lambda: ["waiting for dependencies"],
        registry=CollectorRegistry(),
    )
    task = asyncio.current_task()
    assert task is not None
    await health.start()
    try:
        with _interruptible(task):
            for dependency in dependencies(settings):
                await wait_for(dependency, deadline=deadline, timeout_s=timeout_s)
    except asyncio.CancelledError:
        raise StartupInterrupted from None
    finally:
        await health.stop()
