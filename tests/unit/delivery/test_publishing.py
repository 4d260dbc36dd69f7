"""The publisher retries what Kafka did not acknowledge, and only that, until it is."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from service.delivery.publishing import Outgoing, Publisher
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
