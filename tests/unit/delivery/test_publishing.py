"""The publisher retries what Kafka did not acknowledge, and only that, until it is; final
refusals are told from transient failures."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from service.delivery.publishing import (
    ORIGINAL_BYTES,
    TRUNCATED,
    Outgoing,
    Publisher,
    PublishRefused,
    Refusal,
    Role,
)
from service.retry import Backoff, RetryPolicy

FAST = RetryPolicy(Backoff(0.001, 0.002))


class FlakyProducer:
    """Fails the first `failures` sends of each topic named in `failing`: some refused at
    once (no metadata), some acknowledged with an error."""

    def __init__(self, failures: int, failing: set[str], *, refuse: bool = False) -> None:
        self.failures = dict.fromkeys(failing, failures)
        self.refuse = refuse
        self.sent: list[Outgoing] = []
        self.acknowledged: list[Outgoing] = []

    async def send(self, message: Outgoing) -> asyncio.Future[object]:
        self.sent.append(message)
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        if self.failures.get(message.topic, 0):
            self.failures[message.topic] -= 1
            if self.refuse:
                raise KafkaTimeout("no metadata for the topic")
            future.set_exception(KafkaTimeout("not acknowledged"))
        else:
            self.acknowledged.append(message)
            future.set_result(None)
        return future


class KafkaTimeout(Exception):
    pass


RESULT = Outgoing("results", b"call", b"result")
SNAPSHOT = Outgoing("snapshots", b"call", b"snapshot")


async def test_unacknowledged_messages_are_resent_until_acknowledged() -> None:
    producer = FlakyProducer(3, {"snapshots"})
    with capture_logs() as logs:
        await Publisher(producer, policy=FAST).publish([RESULT, SNAPSHOT])
    assert producer.acknowledged == [RESULT, SNAPSHOT]
    assert [m.topic for m in producer.sent].count("results") == 1, "only the failed one again"
    assert [m.topic for m in producer.sent].count("snapshots") == 4
    failures = [entry for entry in logs if entry["event"] == "publish_failed"]
    assert len(failures) == 3
    assert failures[0]["messages"] == 1
    assert failures[0]["errors"] == ["KafkaTimeout"]


async def test_a_send_refused_at_once_is_retried_too() -> None:
    producer = FlakyProducer(2, {"results"}, refuse=True)
    await Publisher(producer, policy=FAST).publish([RESULT])
    assert producer.acknowledged == [RESULT]
    assert len(producer.sent) == 3


async def test_the_default_policy_never_gives_up() -> None:
    publisher = Publisher(FlakyProducer(0, set()))
    assert publisher._policy.max_attempts is None


class TooLarge(Exception):
    pass


class Forbidden(Exception):
    pass


def classify(error: Exception) -> Refusal | None:
    if isinstance(error, TooLarge):
        return Refusal.TOO_LARGE
    if isinstance(error, Forbidden):
        return Refusal.NOT_AUTHORIZED
    return None


class LimitedProducer:
    """Kafka with a size limit per message on some topics, and topics it refuses for a while."""

    def __init__(self, limit: int = 1 << 30, forbidden: dict[str, int] | None = None) -> None:
        self.limit = limit
        self.forbidden = dict(forbidden or {})
        self.acknowledged: list[Outgoing] = []

    async def send(self, message: Outgoing) -> asyncio.Future[object]:
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        size = len(message.value or b"") + sum(len(k) + len(v) for k, v in message.headers.items())
        if self.forbidden.get(message.topic, 0):
            self.forbidden[message.topic] -= 1
            future.set_exception(Forbidden())
        elif size > self.limit:
            future.set_exception(TooLarge())
        else:
            self.acknowledged.append(message)
            future.set_result(None)
        return future


LETTER = Outgoing("dead", b"k", b"x" * 100_000, {"error.code": "not_json"}, Role.DEAD_LETTER)


async def test_an_oversized_dead_letter_is_truncated_with_headers_saying_so() -> None:
    producer = LimitedProducer(limit=2_000)
    with capture_logs() as logs:
        await Publisher(producer, policy=FAST, classify=classify).publish([RESULT, LETTER])
    assert [m.topic for m in producer.acknowledged] == ["results", "dead"]
    letter = producer.acknowledged[1]
    assert letter.headers[TRUNCATED] == "true"
    assert letter.headers[ORIGINAL_BYTES] == "100000"
    assert letter.headers["error.code"] == "not_json", "the reason headers are kept"
    assert letter.value == (LETTER.value or b"")[: len(letter.value or b"")], (
        "a prefix of the original"
    )
    assert [e["event"] for e in logs].count("publish_failed") == 0, "no backoff for a cut"


async def test_an_oversized_snapshot_is_given_up_and_a_result_refused() -> None:
    producer = LimitedProducer(limit=10)
    snapshot = Outgoing("snapshots", b"k", b"s" * 100, role=Role.SNAPSHOT)
    small = Outgoing("results", b"k", b"r")
    await Publisher(producer, policy=FAST, classify=classify).publish([small, snapshot])
    assert producer.acknowledged == [small]
    big = Outgoing("results", b"k", b"r" * 100)
    with pytest.raises(PublishRefused) as refused:
        await Publisher(producer, policy=FAST, classify=classify).publish([big])
    assert refused.value.topic == "results"


async def test_a_refused_topic_is_reported_retried_slowly_without_holding_a_place() -> None:
    producer = LimitedProducer(forbidden={"results": 2})
    reports: list[tuple[str, Refusal | None]] = []
    waits: list[float] = []

    async def wait(seconds: float) -> None:  # the flow's turn.pause: the place is given back
        waits.append(seconds)

    publisher = Publisher(
        producer,
        policy=FAST,
        refused_policy=RetryPolicy(Backoff(5.0, 5.0)),
        classify=classify,
        on_refused=lambda topic, why: reports.append((topic, why)),
    )
    await publisher.publish([RESULT], wait=wait)
    assert producer.acknowledged == [RESULT]
    assert reports == [("results", Refusal.NOT_AUTHORIZED), ("results", None)], "once each"
    assert len(waits) == 2, "every wait goes through the caller's wait"
    assert all(0 <= w <= 5.0 for w in waits)
    assert "WRITE" in Refusal.NOT_AUTHORIZED.value


async def test_transient_failures_wait_through_the_callers_wait() -> None:
    producer = FlakyProducer(2, {"results"})
    waits: list[float] = []

    async def wait(seconds: float) -> None:
        waits.append(seconds)

    await Publisher(producer, policy=FAST).publish([RESULT], wait=wait)
    assert len(waits) == 2
    assert producer.acknowledged == [RESULT]
