"""A freshly started process skips what its partition's last commit says is done above the
committed offset (the commit metadata, `delivery/completed.py`), through the real broker.

The first assignment of a process comes while its broker starts, before the engine starts:
the metadata must be read then, or the usual new owner after a kill -9 (a new process) runs
again everything its predecessor finished above the watermark."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer, TopicPartition

from service.delivery.completed import encode
from service.settings import Settings
from testkit.kafka import KafkaClient, command, create_topics
from testkit.processes import SimulatorProcess
from testkit.service import running_service


async def test_a_fresh_process_skips_the_offsets_the_last_commit_says_are_done(
    kafka: str, settings: Settings, simulator: SimulatorProcess
) -> None:
    topic, group = settings.topics.commands, settings.kafka.group_id
    await create_topics(kafka, [topic], partitions=1)
    call_id = f"call-{uuid.uuid4().hex[:10]}"
    await simulator.create_call(call_id)
    says = [
        command(call_id, "say", text=f"say {i}", locale="en-US", snapshot=False) for i in range(4)
    ]
    async with KafkaClient(kafka, settings.topics) as client:
        for say in says:
            await client.send(say)
        # The previous owner's last commit: offset 0, with offsets 1 and 2 done above it.
        # No auto-commit: its commit at stop (of whatever position it had resolved by then,
        # 0 or the end) would overwrite this one.
        committer = AIOKafkaConsumer(
            bootstrap_servers=kafka, group_id=group, enable_auto_commit=False
        )
        await committer.start()
        try:
            tp = TopicPartition(topic, 0)
            committer.assign([tp])
            await committer.commit({tp: (0, encode(0, {1, 2}))})
        finally:
            await committer.stop()

        async with running_service(settings):
            results = await client.results_for([says[0]["commandId"], says[3]["commandId"]])
            await asyncio.sleep(1.0)  # time for any result of the skipped ones to show up
            await client.collect(lambda _: True, timeout_s=2)
        answered = {r["commandId"] for r in client.results()}
    assert answered == {says[0]["commandId"], says[3]["commandId"]}, "1 and 2 were skipped"
    assert all(not r["duplicate"] for r in results.values())
    bodies = [r["body"] for r in await simulator.requests(call_id)]
    assert len(bodies) == 2 and "say 0" in bodies[0] and "say 3" in bodies[1]
