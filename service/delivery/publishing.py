"""Publishing what a command produced, and waiting until Kafka has acknowledged it.

An offset counts as done only once its result (and snapshot, dead letter) is acknowledged, so
a failed send is retried with backoff (`service.retry`) until it succeeds or the engine gives
the record up (its offset then stays uncommitted and the record is read again). The messages of
one answer are queued together and only then awaited: they share the producer's next batch,
and no task is made per message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from service.retry import Again, Backoff, RetryPolicy, retry

log = structlog.get_logger(logger_name="service.publishing")


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Queued:
    """Messages handed to the producer, and what it answered for each (an acknowledgement to
    come, or a refusal)."""

    messages: list[Outgoing]
    futures: list[asyncio.Future[object] | Exception]


class Producer(Protocol):
    async def send(self, message: Outgoing) -> asyncio.Future[object]:
        """Queue the message; the future resolves when Kafka acknowledges it."""


# Until acknowledged: an offset is done only once its answer is, so giving up is not an option.
UNTIL_ACKNOWLEDGED = RetryPolicy(Backoff(base_s=0.2, cap_s=5.0))


def _unacknowledged(failed: list[Outgoing]) -> Again | None:
    return Again("not acknowledged") if failed else None


class Publisher:
    def __init__(
        self,
        producer: Producer,
        *,
        policy: RetryPolicy = UNTIL_ACKNOWLEDGED,
        on_failure: Callable[[int], None] = lambda failed: None,
    ) -> None:
        self._producer = producer
        self._policy = policy
        self._on_failure = on_failure  # counts refused messages (a metric)

    async def publish(self, messages: Sequence[Outgoing]) -> None:
        """Send all, then wait for every acknowledgement; retry those that failed."""
        await self.acknowledged(await self.queue(messages))

    async def queue(self, messages: Sequence[Outgoing]) -> Queued:
        """Hand every message to the producer (they share its next batch); the returned
        `Queued` is awaited with `acknowledged`. Split so a caller can give back what it holds
        (an in-flight place) between the two: the acknowledgement is the broker's time."""
        pending = list(messages)
        return Queued(pending, await self._queue_all(pending))

    async def acknowledged(self, queued: Queued) -> None:
        """Wait for every acknowledgement of `queued`; resend those that failed, until none
        does."""
        pending = queued.messages
        errors: list[str] = []
        first: list[asyncio.Future[object] | Exception] | None = queued.futures

        async def attempt() -> list[Outgoing]:
            nonlocal pending, first
            sent, first = first, None
            outcomes = await self._outcomes(
                sent if sent is not None else await self._queue_all(pending)
            )
            failed = [m for m, o in zip(pending, outcomes, strict=True) if isinstance(o, Exception)]
            if failed:
                self._on_failure(len(failed))
                pending = failed
                errors[:] = sorted({type(o).__name__ for o in outcomes if isinstance(o, Exception)})
            return failed

        def on_retry(_attempt: int, delay: float, _why: Again) -> None:
            log.warning(
                "publish_failed", messages=len(pending), errors=errors, retry_in_s=round(delay, 2)
            )

        await retry(attempt, policy=self._policy, again=_unacknowledged, on_retry=on_retry)

    async def _queue_all(
        self, messages: list[Outgoing]
    ) -> list[asyncio.Future[object] | Exception]:
        queued: list[asyncio.Future[object] | Exception] = []
        for message in messages:
            try:
                queued.append(await self._producer.send(message))
            except Exception as error:  # e.g. no metadata for the topic within the timeout
                queued.append(error)
        return queued

    @staticmethod
    async def _outcomes(queued: list[asyncio.Future[object] | Exception]) -> list[object]:
        """Await the acknowledgements in turn: no task per message on the hot path."""
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
