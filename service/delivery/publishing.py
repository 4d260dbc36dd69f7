"""Publishing what a command produced, and waiting until Kafka has acknowledged it.

An offset counts as done only once its result (and snapshot, dead letter) is acknowledged. The
messages of one answer are queued together and only then awaited: they share the producer's
next batch, and no task is made per message.

A failed send is one of two kinds (`classify`, given by the Kafka adapter):
- transient (a leader moving, a timeout): sent again with backoff (`service.retry`), waiting
  through the caller's `wait`, which gives the in-flight place back meanwhile;
- final, a refusal the same message would meet again:
  - too large: a dead letter is cut down (header `callctl.truncated`, the original size in
    `callctl.original-bytes`) and sent again; a snapshot, best effort, is given up with an
    error line; a result cannot be shortened: `PublishRefused`;
  - the topic is missing or this client may not write to it: reported (`on_refused`, which
    makes readiness false with the topic and the permission) and tried again slowly, so an
    operator's fix is picked up without a restart. Nothing is dropped meanwhile.
"""

from __future__ import annotations

import asyncio
import enum
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import structlog

from service.retry import Again, Backoff, RetryPolicy, Sleep, retry

log = structlog.get_logger(logger_name="service.publishing")


class Role(enum.Enum):
    RESULT = "result"
    SNAPSHOT = "snapshot"
    DEAD_LETTER = "dead_letter"


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: dict[str, str] = field(default_factory=dict)
    role: Role = Role.RESULT


class Refusal(enum.Enum):
    """Why Kafka refuses a message for good."""

    TOO_LARGE = "record too large"
    UNKNOWN_TOPIC = "topic does not exist"
    NOT_AUTHORIZED = "not authorized: WRITE on the topic is denied"


class PublishRefused(Exception):
    """A message Kafka refuses for good and that cannot be changed to fit."""

    def __init__(self, topic: str, refusal: Refusal) -> None:
        super().__init__(f"{topic}: {refusal.value}")
        self.topic = topic
        self.refusal = refusal


@dataclass(slots=True)
class Queued:
    """Messages handed to the producer, and what it answered for each (an acknowledgement to
    come, or a refusal)."""

    messages: list[Outgoing]
    futures: list[asyncio.Future[object] | Exception]


class Producer(Protocol):
    async def send(self, message: Outgoing) -> asyncio.Future[object]:
        """Queue the message; the future resolves when Kafka acknowledges it."""


Classify = Callable[[Exception], Refusal | None]

# Until acknowledged: an offset is done only once its answer is, so giving up is not an option.
UNTIL_ACKNOWLEDGED = RetryPolicy(Backoff(base_s=0.2, cap_s=5.0))
# A missing or forbidden topic waits for an operator: no point asking every few seconds.
REFUSED_TOPIC = RetryPolicy(Backoff(base_s=5.0, cap_s=30.0))
TRUNCATED = "callctl.truncated"
ORIGINAL_BYTES = "callctl.original-bytes"
_jitter = random.Random()


def _transient(_: Exception) -> Refusal | None:
    return None


def _unacknowledged(failed: list[Outgoing]) -> Again | None:
    return Again("not acknowledged") if failed else None


def truncated(message: Outgoing) -> Outgoing | None:
    """The dead letter cut to half its value (to nothing at last); None when nothing is left
    to cut."""
    value = message.value or b""
    if not value and TRUNCATED in message.headers:
        return None
    original = message.headers.get(ORIGINAL_BYTES, str(len(value)))
    headers = {**message.headers, TRUNCATED: "true", ORIGINAL_BYTES: original}
    return replace(message, value=value[: len(value) // 2], headers=headers)


class Publisher:
    def __init__(
        self,
        producer: Producer,
        *,
        policy: RetryPolicy = UNTIL_ACKNOWLEDGED,
        refused_policy: RetryPolicy = REFUSED_TOPIC,
        classify: Classify = _transient,
        on_failure: Callable[[int], None] = lambda failed: None,
        on_refused: Callable[[str, Refusal | None], None] = lambda topic, refusal: None,
    ) -> None:
        self._producer = producer
        self._policy = policy
        self._refused_policy = refused_policy
        self._classify = classify
        self._on_failure = on_failure  # counts refused messages (a metric)
        # (topic, why) on a refusal of the topic; (topic, None) once it takes messages again.
        self._on_refused = on_refused
        self._refused_topics: set[str] = set()

    async def publish(self, messages: Sequence[Outgoing], *, wait: Sleep = asyncio.sleep) -> None:
        """Send all, then wait for every acknowledgement; retry those that failed (see the
        module docstring). Raises `PublishRefused` for a result Kafka refuses as too large."""
        await self.acknowledged(await self.queue(messages), wait=wait)

    async def queue(self, messages: Sequence[Outgoing]) -> Queued:
        """Hand every message to the producer (they share its next batch); the returned
        `Queued` is awaited with `acknowledged`. Split so a caller can give back what it holds
        (an in-flight place) between the two: the acknowledgement is the broker's time."""
        pending = list(messages)
        return Queued(pending, await self._queue_all(pending))

    async def acknowledged(self, queued: Queued, *, wait: Sleep = asyncio.sleep) -> None:
        """Wait for every acknowledgement of `queued`; resend those that failed, until none
        does (see the module docstring). Raises `PublishRefused` for a result Kafka refuses as
        too large."""
        pending = queued.messages
        errors: list[str] = []  # of the last attempt, for the log line
        topic_refused = False
        first: list[asyncio.Future[object] | Exception] | None = queued.futures

        async def attempt() -> list[Outgoing]:
            nonlocal pending, topic_refused, first
            failed: list[Outgoing] = []
            topic_refused = False
            errors.clear()
            to_send = pending
            while to_send:  # a dead letter cut down is sent again at once
                sent, first = first, None
                outcomes = await self._outcomes(
                    sent if sent is not None else await self._queue_all(to_send)
                )
                shortened: list[Outgoing] = []
                for message, outcome in zip(to_send, outcomes, strict=True):
                    if not isinstance(outcome, Exception):
                        self._accepted(message.topic)
                        continue
                    errors[:] = sorted({*errors, type(outcome).__name__})
                    refusal = self._classify(outcome)
                    if refusal is Refusal.TOO_LARGE:
                        shorter = self._too_large(message)
                        if shorter is not None:
                            shortened.append(shorter)
                        continue
                    if refusal is not None:
                        self._refused(message.topic, refusal)
                        topic_refused = True
                    failed.append(message)
                to_send = shortened
            if failed:
                self._on_failure(len(failed))
            pending = failed
            return failed

        def on_retry(_attempt: int, delay: float, _why: Again) -> None:
            log.warning(
                "publish_failed",
                messages=len(pending),
                errors=list(errors),
                retry_in_s=round(delay, 2),
            )

        async def backoff(delay: float) -> None:
            if topic_refused:  # waiting for an operator: the slow cadence
                delay = max(delay, self._refused_policy.backoff.delay(1, _jitter))
            await wait(delay)

        await retry(
            attempt, policy=self._policy, again=_unacknowledged, on_retry=on_retry, sleep=backoff
        )

    def _refused(self, topic: str, refusal: Refusal) -> None:
        if topic not in self._refused_topics:
            self._refused_topics.add(topic)
            log.error("topic_refused", topic=topic, reason=refusal.value)
            self._on_refused(topic, refusal)

    def _accepted(self, topic: str) -> None:
        if self._refused_topics and topic in self._refused_topics:
            self._refused_topics.discard(topic)
            log.info("topic_accepted_again", topic=topic)
            self._on_refused(topic, None)

    @staticmethod
    def _too_large(message: Outgoing) -> Outgoing | None:
        size = len(message.value or b"")
        if message.role is Role.DEAD_LETTER:
            shorter = truncated(message)
            if shorter is not None:
                log.warning(
                    "dead_letter_truncated",
                    topic=message.topic,
                    bytes=size,
                    to_bytes=len(shorter.value or b""),
                )
                return shorter
        if message.role is Role.SNAPSHOT:
            log.error("snapshot_too_large", topic=message.topic, bytes=size)
            return None
        raise PublishRefused(message.topic, Refusal.TOO_LARGE)

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
