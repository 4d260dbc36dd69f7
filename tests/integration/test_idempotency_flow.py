"""Idempotency and expiry through the real broker and the simulator."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from service.settings import Settings
from testkit.kafka import KafkaClient, command
from testkit.processes import SimulatorProcess
from testkit.service import running_service


async def test_the_same_command_twice_is_executed_once_and_replayed(
    settings: Settings, simulator: SimulatorProcess, kafka_client: KafkaClient
) -> None:
    call_id = f"call-{uuid.uuid4().hex[:10]}"
    await simulator.create_call(call_id)
    say = command(call_id, "say", text="only once", locale="en-US", snapshot=False)
    async with running_service(settings):
        await kafka_client.send(say)
        await kafka_client.send(say)
        await kafka_client.collect(
            lambda _: sum(r["commandId"] == say["commandId"] for r in kafka_client.results()) >= 2
        )
    first, second = [r for r in kafka_client.results() if r["commandId"] == say["commandId"]]
    assert first["duplicate"] is False and first["outcome"] == "succeeded"
    assert second["duplicate"] is True
    assert second["outcome"] == first["outcome"]
    assert second["request"] == first["request"]
    assert second["source"]["offset"] == first["source"]["offset"] + 1
    assert len(await simulator.requests(call_id)) == 1, "one request for one commandId"


async def test_a_reused_command_id_with_another_payload_is_a_conflict(
    settings: Settings, simulator: SimulatorProcess, kafka_client: KafkaClient
) -> None:
    call_id = f"call-{uuid.uuid4().hex[:10]}"
    await simulator.create_call(call_id)
    say = command(call_id, "say", text="first", locale="en-US", snapshot=False)
    changed = {**say, "text": "second"}
    async with running_service(settings):
        await kafka_client.send(say)
        await kafka_client.send(changed)
        await kafka_client.collect(
            lambda _: (
                sum(r["commandId"] == say["commandId"] for r in kafka_client.results()) >= 2
                and len(kafka_client.on(settings.topics.dead_letter)) >= 1
            )
        )
    first, second = [r for r in kafka_client.results() if r["commandId"] == say["commandId"]]
    assert first["outcome"] == "succeeded"
    assert second["outcome"] == "rejected"
    assert second["error"]["code"] == "idempotency_conflict"
    assert second["attempts"] == 0
    dead = kafka_client.on(settings.topics.dead_letter)[0]
    assert dead.headers["error.code"] == b"idempotency_conflict"
    bodies = [r["body"] for r in await simulator.requests(call_id)]
    assert len(bodies) == 1 and "first" in bodies[0]


async def test_an_expired_command_is_not_executed(
    settings: Settings, simulator: SimulatorProcess, kafka_client: KafkaClient
) -> None:
    call_id = f"call-{uuid.uuid4().hex[:10]}"
    await simulator.create_call(call_id)
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    stale = command(call_id, "hangup", expiresAt=past)
    async with running_service(settings):
        await kafka_client.send(stale)
        result = (await kafka_client.results_for([stale["commandId"]]))[stale["commandId"]]
    assert result["outcome"] == "expired"
    assert result["attempts"] == 0 and result["request"] is None
    assert result["error"]["code"] == "expired"
    assert await simulator.requests(call_id) == []
