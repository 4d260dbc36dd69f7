"""Commands from aborted producer transactions are never executed (isolation_level=
read_committed), through the real broker."""

from __future__ import annotations

import json
import uuid

from aiokafka import AIOKafkaProducer

from service.settings import Settings
from testkit.kafka import KafkaClient, command
from testkit.processes import SimulatorProcess
from testkit.service import running_service


async def test_an_aborted_command_gets_no_result_and_a_committed_one_does(
    kafka: str, settings: Settings, simulator: SimulatorProcess, kafka_client: KafkaClient
) -> None:
    call_id = f"call-{uuid.uuid4().hex[:12]}"
    await simulator.create_call(call_id)
    aborted = command(call_id, "say", text="never", locale="en-US")
    committed = command(call_id, "getCallInfo")
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka, transactional_id=f"test-tx-{uuid.uuid4().hex}"
    )
    await producer.start()
    try:
        await producer.begin_transaction()
        await producer.send_and_wait(
            settings.topics.commands, json.dumps(aborted).encode(), key=call_id.encode()
        )
        await producer.abort_transaction()
        async with producer.transaction():
            await producer.send_and_wait(
                settings.topics.commands, json.dumps(committed).encode(), key=call_id.encode()
            )
    finally:
        await producer.stop()

    async with running_service(settings):
        # Same key, same partition, after the aborted one: once it is answered, the aborted
        # record (had it been read) would have been answered before it.
        results = await kafka_client.results_for([committed["commandId"]])
    assert results[committed["commandId"]]["outcome"] == "succeeded"
    answered = {r["commandId"] for r in kafka_client.results()}
    assert aborted["commandId"] not in answered
    sent = [(r["method"], r["path"]) for r in await simulator.requests(call_id)]
    assert sent == [("GET", f"/calling/v1/calls/id/{call_id}")], "the aborted say never ran"
