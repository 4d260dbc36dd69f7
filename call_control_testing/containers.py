"""Kafka, the Sinch simulator and call-control as testcontainers, on the host's network.

Host networking keeps the wiring plain: every container listens on 127.0.0.1 on a port chosen
here (free when chosen, or the one you pass), Kafka advertises exactly that address, and the
service reaches both the way a process on the host would. It needs a Linux Docker engine (or
Docker Desktop with host networking enabled).
"""

from __future__ import annotations

import contextlib
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any, Self

import httpx
from testcontainers.core.container import DockerContainer

from call_control_testing.client import DEFAULT_TOPICS, CommandClient, Topics

KAFKA_IMAGE = "call-control-kafka:dev"
SIMULATOR_IMAGE = "call-control-simulator:dev"
SERVICE_IMAGE = "call-control:dev"
# the simulator's documented test credentials: public, not secrets
SIMULATOR_KEY = "sim-key"
SIMULATOR_SECRET = "c2ltLXNlY3JldC0xMjM0NTY="  # noqa: S105 - public, documented


def free_port() -> int:
    """A loopback port free at the time of the call."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ContainerFailed(RuntimeError):
    """A container exited or never became ready; the message ends with its last log lines."""


class _HostContainer(DockerContainer):
    """A container on the host's network that is ready when `_ready()` holds."""

    start_timeout_s = 120.0

    def __init__(self, image: str) -> None:
        super().__init__(image)
        # Docker's host network mode: no port mapping, no bridge needed
        self.with_kwargs(network="host")

    def _ready(self) -> bool:
        raise NotImplementedError

    def start(self) -> Self:
        super().start()
        self._wait_until(self._ready, self.start_timeout_s)
        return self

    def _wait_until(self, ready: Callable[[], bool], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not ready():
            wrapped = self.get_wrapped_container()
            wrapped.reload()
            if wrapped.status in {"exited", "dead"}:
                code = wrapped.attrs["State"]["ExitCode"]
                raise ContainerFailed(f"{self.image} exited with {code}:\n{self._log_tail()}")
            if time.monotonic() > deadline:
                raise ContainerFailed(
                    f"{self.image} not ready within {timeout_s:.0f} s:\n{self._log_tail()}"
                )
            time.sleep(0.25)

    def _log_tail(self, lines: int = 40) -> str:
        out, err = self.get_logs()
        text = (out + err).decode(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def logs(self) -> str:
        """Everything the container printed so far (stdout then stderr)."""
        out, err = self.get_logs()
        return (out + err).decode(errors="replace")


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


def _http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


class KafkaContainer(_HostContainer):
    """A single-node Kafka (KRaft) from the image `make images` builds here, for machines with
    no registry; where one is at hand, testcontainers' own `KafkaContainer` serves as well:
    `CallControlContainer` only needs a bootstrap address."""

    def __init__(
        self,
        image: str = KAFKA_IMAGE,
        *,
        port: int | None = None,
        controller_port: int | None = None,
        partitions: int = 3,
    ) -> None:
        super().__init__(image)
        self.port = port or free_port()
        self.controller_port = controller_port or free_port()
        self.with_envs(
            KAFKA_HOST="127.0.0.1",
            KAFKA_ADVERTISED_HOST="127.0.0.1",
            KAFKA_PORT=str(self.port),
            KAFKA_CONTROLLER_PORT=str(self.controller_port),
            KAFKA_NUM_PARTITIONS=str(partitions),
        )

    def get_bootstrap_server(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _ready(self) -> bool:
        return "Kafka Server started" in self.logs() and _port_open(self.port)


class SinchSimulatorContainer(_HostContainer):
    """The Sinch Calling API stand-in, with its `/_admin` API for arranging and inspecting calls.

    `auto_create_calls=True` (this kit's default) creates a call on its first request;
    `False` makes unknown call ids answer 404, as Sinch (and the simulator by default) does:
    then create calls with `create_call`."""

    start_timeout_s = 60.0

    def __init__(
        self,
        image: str = SIMULATOR_IMAGE,
        *,
        port: int | None = None,
        auto_create_calls: bool = True,
    ) -> None:
        super().__init__(image)
        self.port = port or free_port()
        self.application_key = SIMULATOR_KEY
        self.application_secret = SIMULATOR_SECRET
        self.with_envs(SIM_HOST="127.0.0.1", SIM_PORT=str(self.port))
        # Said explicitly either way: the simulator's own default is Sinch's 404.
        self.with_command(
            ["--auto-create-calls" if auto_create_calls else "--no-auto-create-calls"]
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _ready(self) -> bool:
        return _http_ok(f"{self.url}/_admin/health")

    def create_call(self, call_id: str) -> None:
        httpx.post(f"{self.url}/_admin/calls", json={"callId": call_id}).raise_for_status()

    def requests(self, call_id: str | None = None) -> list[dict[str, Any]]:
        """The requests the simulator received (method, path, body, ...), oldest first."""
        params = {"callId": call_id} if call_id else {}
        response = httpx.get(f"{self.url}/_admin/requests", params=params)
        response.raise_for_status()
        entries: list[dict[str, Any]] = response.json()["requests"]
        return entries

    def set_faults(self, **faults: Any) -> None:
        """E.g. `errorRate=0.5`, `latencyMs=200` (the simulator's `/_admin/faults`)."""
        httpx.put(f"{self.url}/_admin/faults", json=faults).raise_for_status()


class CallControlContainer(_HostContainer):
    """The call-control service, wired to a broker and to the simulator (or to any Sinch URL).

    It creates its topics on start (`CALLCTL_KAFKA__CREATE_TOPICS=true`), keeps its idempotency
    state in SQLite inside the container, and is ready when `/readyz` answers 200. Any other
    setting: `.with_env("CALLCTL_...", value)` before `start()`."""

    start_timeout_s = 90.0

    def __init__(
        self,
        kafka: KafkaContainer | str,
        sinch: SinchSimulatorContainer | None = None,
        image: str = SERVICE_IMAGE,
        *,
        http_port: int | None = None,
        topics: Topics = DEFAULT_TOPICS,
        group_id: str | None = None,
    ) -> None:
        super().__init__(image)
        self.bootstrap = kafka if isinstance(kafka, str) else kafka.get_bootstrap_server()
        self.http_port = http_port or free_port()
        self.topics = topics
        self.with_envs(
            CALLCTL_KAFKA__BOOTSTRAP_SERVERS=self.bootstrap,
            CALLCTL_KAFKA__GROUP_ID=group_id or f"call-control-{uuid.uuid4().hex[:8]}",
            CALLCTL_KAFKA__CREATE_TOPICS="true",
            CALLCTL_KAFKA__TOPIC_REPLICATION_FACTOR="1",
            CALLCTL_TOPICS__COMMANDS=topics.commands,
            CALLCTL_TOPICS__RESULTS=topics.results,
            CALLCTL_TOPICS__SNAPSHOTS=topics.snapshots,
            CALLCTL_TOPICS__DEAD_LETTER=topics.dead_letter,
            CALLCTL_HTTP_HOST="127.0.0.1",
            CALLCTL_HTTP_PORT=str(self.http_port),
            CALLCTL_LOG_FORMAT="json",
        )
        if sinch is not None:
            self.with_envs(
                CALLCTL_SINCH__BASE_URL=sinch.url,
                CALLCTL_SINCH__APPLICATION_KEY=sinch.application_key,
                CALLCTL_SINCH__APPLICATION_SECRET=sinch.application_secret,
            )

    @property
    def url(self) -> str:
        """Base URL of `/healthz`, `/readyz` and `/metrics`."""
        return f"http://127.0.0.1:{self.http_port}"

    def _ready(self) -> bool:
        return _http_ok(f"{self.url}/readyz")

    def client(self, *, timeout_s: float = 30.0) -> CommandClient:
        """A client for this service's topics: `async with container.client() as c: ...`."""
        return CommandClient(self.bootstrap, self.topics, timeout_s=timeout_s)

    def execute(self, command: dict[str, Any], *, timeout_s: float = 30.0) -> dict[str, Any]:
        """Send one command and return its result (blocking; see `CommandClient.execute`)."""
        return self.client(timeout_s=timeout_s).execute_blocking(command)

    def callctl(self, *args: str) -> tuple[int, str]:
        """`callctl ARGS` inside the container (its settings are the service's): exit code and
        output."""
        code, output = self.exec(["callctl", *args])
        return int(code), output.decode(errors="replace")
