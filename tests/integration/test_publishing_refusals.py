"""Final publishing refusals through the real broker: a dead letter over the topic's
`max.message.bytes` is cut down and still published; a missing output topic is named in
a warning at start, or in readiness when the broker does not create topics on first use."""

from __future__ import annotations

import asyncio
import uuid

from structlog.testing import capture_logs

from service.delivery.publishing import ORIGINAL_BYTES, TRUNCATED
from service.kafka.preflight import MISSING, output_topic_problems
from service.kafka.topics import ensure_topics
from service.settings import Settings
from testkit.kafka import KafkaClient, command, create_topics
from testkit.processes import SimulatorProcess
from testkit.service import running_service

LIMIT = 4096


async def test_an_oversized_dead_letter_is_truncated_and_still_published(
    kafka: str, settings: Settings, simulator: SimulatorProcess
) -> None:
    topics = settings.topics
    await create_topics(kafka, [topics.dead_letter], 1, {"max.message.bytes": str(LIMIT)})
    await ensure_topics(settings.kafka, topics)
    call_id = f"call-{uuid.uuid4().hex[:12]}"
    await simulator.create_call(call_id)
    hostile = b"x" * 20_000  # not JSON: rejected and dead-lettered, 5 times the limit
    valid = command(call_id, "getCallInfo")
    async with KafkaClient(kafka, topics) as client, running_service(settings):
        await client.send(hostile, key=call_id)
        await client.send(valid)
        await client.collect(
            lambda _: (
                bool(client.on(topics.dead_letter))
                and valid["commandId"] in {r["commandId"] for r in client.results()}
            ),
            timeout_s=60,
        )
    [letter] = client.on(topics.dead_letter)
    assert letter.headers[TRUNCATED] == b"true"
    assert letter.headers[ORIGINAL_BYTES] == b"20000"
    assert 0 < len(letter.value) < LIMIT and hostile.startswith(letter.value)
    assert letter.headers["error.code"], "the reason is kept"
    outcomes = [(r["commandId"], r["outcome"]) for r in client.results()]
    assert outcomes[0] == (None, "rejected"), "the hostile record answered first, once"
    assert outcomes[1][0] == valid["commandId"], "the call's next command ran after it"
    assert len(outcomes) == 2


async def test_a_missing_output_topic_is_named_at_start(
    kafka: str, settings: Settings, simulator: SimulatorProcess
) -> None:
    """The shared broker creates topics on first use: a missing output topic is then named in
    a warning, and readiness does not wait for it. On a broker that does not (production), the
    same check makes readiness false with the topic's name (tests/unit/kafka/test_preflight.py
    for the verdicts)."""
    await ensure_topics(settings.kafka, settings.topics)
    missing = f"it.never-created.{uuid.uuid4().hex[:10]}"
    broken = settings.model_copy(
        update={
            "topics": settings.topics.model_copy(update={"dead_letter": missing}),
            "kafka": settings.kafka.model_copy(update={"create_topics": False}),
        }
    )
    assert await output_topic_problems(broken.kafka, [missing, settings.topics.results]) == {}
    with capture_logs() as logs:
        async with running_service(broken) as service:
            for _ in range(100):  # joining the group takes a moment
                if service.ready():
                    break
                await asyncio.sleep(0.1)
            assert service.ready(), service.not_ready_reasons()
    warned = [e for e in logs if e["event"] == "output_topics_created_on_first_use"]
    assert warned and warned[0]["topics"] == [missing]
    service.topic_problems = {missing: MISSING}  # what a broker without auto-creation gives
    assert f"topic {missing}: {MISSING}" in service.not_ready_reasons()
