"""Publishing what a command produced, and waiting until Kafka has acknowledged it.

An offset counts as done only once its result (and snapshot, dead letter) is acknowledged, so
a failed send is retried with backoff until it succeeds or the engine gives the record up (its
offset then stays uncommitted and the record is read again).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import structlog

log = structlog.get_logger(logger_name="service.publishing")


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: dict[str, str] = field(default_factory=dict)


class Producer(Protocol):
    async def send(self, message: Outgoing) -> asyncio.Future[object]:
        """Queue the message; the future resolves when Kafka acknowledges it."""


class Publisher:
    def __init__(
        self,
        producer: Producer,
        *,
        max_backoff_s: float = 5.0,
        on_failure: Callable[[int], None] = lambda failed: None,
    ) -> None:
        self._producer = producer
        self._on_failure = on_failure  # counts refused messages (a metric)
        self._max_backoff_s = max_backoff_s
        self._rng = random.Random()

    async def publish(self, messages: Sequence[Outgoing]) -> None:
        """Send all, then wait for every acknowledgement; retry those that failed."""
        pending = list(messages)
        attempt = 0
        while pending:
            outcomes = await self._send_all(pending)
            failed = [m for m, o in zip(pending, outcomes, strict=True) if isinstance(o, Exception)]
            if not failed:
                return
            attempt += 1
            self._on_failure(len(failed))
            errors = {type(o).__name__ for o in outcomes if isinstance(o, Exception)}
            delay = self._rng.uniform(0, min(self._max_backoff_s, 0.1 * 2**attempt))
            log.warning(
                "publish_failed",
                messages=len(failed),
                errors=sorted(errors),
                retry_in_s=round(delay, 2),
            )
            await asyncio.sleep(delay)
            pending = failed

    async def _send_all(self, messages: list[Outgoing]) -> list[object]:
        """Queue every message first (they share the producer's next batch), then await the
        acknowledgements in turn: no task per message on the hot path."""
        queued: list[asyncio.Future[object] | Exception] = []
        for message in messages:
            try:
                queued.append(await self._producer.send(message))
            except Exception as error:  # e.g. no metadata for the topic within the timeout
                queued.append(error)
        outcomes: list[object] = []
        for item in queued:
            if isinstance(item, Exception):
                outcomes.append(item)
                continue
            try:
                outcomes.append(await item)
            except Exception as error:
                outcomes.append(error)
        return outcomes
