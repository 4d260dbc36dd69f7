"""A record the Kafka client cannot read (a header key that is not UTF-8) is answered and
skipped; records of other partitions fetched with it are not lost; commits reach the end."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from service.settings import Settings
from testkit.kafka import KafkaClient, command
from testkit.processes import SimulatorProcess
from testkit.raw_producer import produce_bad_header
from testkit.service import running_service


async def offsets(kafka: str, settings: Settings) -> tuple[dict[int, int | None], dict[int, int]]:
    """(committed by the service's group, end offset) per partition of the commands topic."""
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, group_id=settings.kafka.group_id)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(settings.topics.commands) or set()
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(settings.topics.commands) or set()
        tps = [TopicPartition(settings.topics.commands, p) for p in sorted(partitions)]
        ends = await consumer.end_offsets(tps)
        return (
            {tp.partition: await consumer.committed(tp) for tp in tps},
            {tp.partition: ends[tp] for tp in tps},
        )
    finally:
        await consumer.stop()


async def send_all(kafka: str, topic: str, commands: list[dict[str, Any]]) -> dict[str, int]:
    """Send; return each call's partition."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka)
    await producer.start()
    try:
        placed = {}
        for cmd in commands:
            meta = await producer.send_and_wait(
                topic, json.dumps(cmd).encode(), key=cmd["callId"].encode()
            )
            placed[cmd["callId"]] = meta.partition
        return placed
    finally:
        await producer.stop()


async def test_a_bad_header_key_is_answered_and_nothing_else_is_lost(
    kafka: str, settings: Settings, simulator: SimulatorProcess, kafka_client: KafkaClient
) -> None:
    topic = settings.topics.commands
    calls = [f"call-{uuid.uuid4().hex[:12]}" for _ in range(12)]
    for call_id in calls:
        await simulator.create_call(call_id)
    first = [command(call_id, "getCallInfo") for call_id in calls]
    second = [command(call_id, "getCallInfo") for call_id in calls]
    placed = await send_all(kafka, topic, first)
    # The bad record sits between two commands of calls[0], on its partition.
    poisoned = placed[calls[0]]
    bad_value = json.dumps(command(calls[0], "hangup")).encode()
    produce_bad_header(kafka, topic, poisoned, calls[0].encode(), b"\xff\xfe", bad_value)
    await send_all(kafka, topic, second)
    assert len(set(placed.values())) > 1, "records on several partitions"

    wanted = [c["commandId"] for c in first + second]
    async with running_service(settings) as service:
        results = await kafka_client.results_for(wanted, timeout_s=60)
        await kafka_client.collect(
            lambda _: (
                any(r["commandId"] is None for r in kafka_client.results())
                and len(kafka_client.on(settings.topics.dead_letter)) >= 1
            ),
            timeout_s=60,
        )
        assert service.engine is not None and service.engine.ready, "still consuming"

        async def all_committed() -> None:
            committed, ends = await offsets(kafka, settings)
            assert committed == ends, (committed, ends)

        for attempt in range(100):  # commits follow within the commit interval
            try:
                await all_committed()
                break
            except AssertionError:
                if attempt == 99:
                    raise
                await asyncio.sleep(0.2)

    assert {r["outcome"] for r in results.values()} == {"succeeded"}
    unreadable = [r for r in kafka_client.results() if r["commandId"] is None]
    assert len(unreadable) == 1
    assert unreadable[0]["outcome"] == "rejected"
    assert unreadable[0]["error"]["code"] == "invalid_command"
    assert "could not read this record" in unreadable[0]["error"]["message"]
    assert unreadable[0]["source"]["partition"] == poisoned
    assert unreadable[0]["source"]["offset"] == list(placed.values()).count(poisoned)
    dead = kafka_client.on(settings.topics.dead_letter)
    assert len(dead) == 1
    assert dead[0].headers["source.offset"] == str(unreadable[0]["source"]["offset"]).encode()
    assert dead[0].headers["source.partition"] == str(poisoned).encode()
    # Per call order: calls[0]'s first command was answered before its second.
    order = [r["commandId"] for r in kafka_client.results() if r["callId"] == calls[0]]
    assert order == [first[0]["commandId"], second[0]["commandId"]]
