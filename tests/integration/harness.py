"""Real parts for integration tests: the simulator as a process on a socket, the service in
this process against the real broker, and a Kafka client to produce commands and read results.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import SecretStr

from service.app import Service
from service.settings import (
    IdempotencySettings,
    KafkaSettings,
    Settings,
    SinchSettings,
    TopicSettings,
)

ROOT = Path(__file__).resolve().parents[2]
SIM_KEY = "sim-key"
SIM_SECRET = "c2ltLXNlY3JldC0xMjM0NTY="  # the simulator's documented default


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class SimulatorProcess:
    """`python -m simulator` on a free loopback port, with its admin API."""

    def __init__(self, *extra_args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._args = extra_args
        self._process: subprocess.Popen[bytes] | None = None
        self.admin = httpx.AsyncClient(base_url=self.url, timeout=10.0)

    def start(self) -> None:
        env = {**os.environ, "SIM_LOG_LEVEL": "WARNING"}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "simulator", "--port", str(self.port), *self._args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"simulator exited with {self._process.returncode}")
            try:
                if httpx.get(f"{self.url}/_admin/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("simulator did not answer within 30 s")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()

    async def reset(self) -> None:
        await self.set_faults()
        for path in ("/_admin/requests", "/_admin/calls"):
            (await self.admin.delete(path)).raise_for_status()

    async def set_faults(self, **faults: Any) -> None:
        defaults: dict[str, Any] = {
            "latencyMs": 0,
            "latencyJitterMs": 0,
            "errorRate": 0.0,
            "rateLimitRate": 0.0,
            "dropRate": 0.0,
            "slowRate": 0.0,
        }
        response = await self.admin.put("/_admin/faults", json={**defaults, **faults})
        response.raise_for_status()

    async def requests(self, call_id: str | None = None) -> list[dict[str, Any]]:
        params = {"callId": call_id} if call_id else {}
        response = await self.admin.get("/_admin/requests", params=params)
        response.raise_for_status()
        entries: list[dict[str, Any]] = response.json()["requests"]
        return entries

    async def create_call(self, call_id: str, **spec: Any) -> None:
        """An ongoing PSTN call (Sinch knows only calls that exist); `spec`: e.g. parked."""
        body = {"callId": call_id, **spec}
        (await self.admin.post("/_admin/calls", json=body)).raise_for_status()


def unique_topics() -> TopicSettings:
    suffix = uuid.uuid4().hex[:10]
    return TopicSettings(
        commands=f"it.commands.{suffix}",
        results=f"it.results.{suffix}",
        snapshots=f"it.snapshots.{suffix}",
        dead_letter=f"it.dead-letter.{suffix}",
        events=f"it.events.{suffix}",
    )


def service_settings(
    bootstrap: str, simulator_url: str, workdir: Path, **overrides: Any
) -> Settings:
    """Settings as a test wants them: unique topics and group, created on start, fast commits."""
    topics = overrides.pop("topics", None) or unique_topics()
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
    service = Service(settings)
    app = service.application()
    await app.start()
    try:
        yield service
    finally:
        await app.stop()


def command(call_id: str, type_: str, **fields: Any) -> dict[str, Any]:
    return {"commandId": f"cmd-{uuid.uuid4().hex}", "callId": call_id, "type": type_, **fields}


@dataclass
class Received:
    topic: str
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]
    partition: int
    offset: int

    def json(self) -> Any:
        return json.loads(self.value)


@dataclass
class KafkaClient:
    """Produces commands and reads every output topic of one test's topic set."""

    bootstrap: str
    topics: TopicSettings
    received: list[Received] = field(default_factory=list)
    # aiokafka security options (service.kafka.topics.client_options), for a secured broker
    security: dict[str, Any] = field(default_factory=dict)
    _producer: AIOKafkaProducer | None = None
    _consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> KafkaClient:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, enable_idempotence=True, **self.security
        )
        await self._producer.start()
        self._consumer = AIOKafkaConsumer(
            self.topics.results,
            self.topics.snapshots,
            self.topics.dead_letter,
            self.topics.events,
            bootstrap_servers=self.bootstrap,
            auto_offset_reset="earliest",
            group_id=None,
            metadata_max_age_ms=1000,
            **self.security,
        )
        await self._consumer.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._producer:
            await self._producer.stop()
        if self._consumer:
            await self._consumer.stop()

    async def send(self, value: dict[str, Any] | bytes, key: str | bytes | None = None) -> None:
        assert self._producer is not None
        raw = value if isinstance(value, bytes) else json.dumps(value).encode()
        if key is None and isinstance(value, dict):
            key = value.get("callId")
        key_bytes = key.encode() if isinstance(key, str) else key
        await self._producer.send_and_wait(self.topics.commands, raw, key=key_bytes)

    async def collect(
        self, done: Callable[[list[Received]], bool], timeout_s: float = 30.0
    ) -> list[Received]:
        """Read until `done(received)` holds; fails with what arrived when time runs out."""
        assert self._consumer is not None
        deadline = time.monotonic() + timeout_s
        while not done(self.received):
            if time.monotonic() > deadline:
                summary = [(r.topic, r.value[:200]) for r in self.received]
                raise AssertionError(f"timed out after {timeout_s}s; received {summary}")
            batch = await self._consumer.getmany(timeout_ms=500)
            for records in batch.values():
                self.received.extend(
                    Received(r.topic, r.key, r.value, dict(r.headers), r.partition, r.offset)
                    for r in records
                )
        return self.received

    def on(self, topic: str) -> list[Received]:
        return [r for r in self.received if r.topic == topic]

    def results(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.on(self.topics.results)]

    async def results_for(
        self, command_ids: list[str], timeout_s: float = 30.0
    ) -> dict[str, dict[str, Any]]:
        wanted = set(command_ids)

        def have_all(_: list[Received]) -> bool:
            return wanted <= {r["commandId"] for r in self.results()}

        await self.collect(have_all, timeout_s)
        return {r["commandId"]: r for r in self.results() if r["commandId"] in wanted}


async def eventually(check: Callable[[], Any], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            result = check()
            if asyncio.iscoroutine(result):
                await result
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
