"""docs/examples/python runs as documented: its producer sends a command through the real broker
to a running service (with the simulator as Sinch), and its consumer finds that command's result
by commandId on the results topic, with a group of its own."""

from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path
from types import ModuleType

from aiokafka import AIOKafkaConsumer

from service.settings import Settings
from testkit.kafka import KafkaClient
from testkit.processes import SimulatorProcess
from testkit.service import running_service

EXAMPLES = Path(__file__).resolve().parents[2] / "docs/examples/python"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_python_snippets_send_a_command_and_find_its_result(
    kafka: str, settings: Settings, simulator: SimulatorProcess, kafka_client: KafkaClient
) -> None:
    produce, consume = load("produce"), load("consume")
    call_id = f"call-{uuid.uuid4().hex[:8]}"
    await simulator.create_call(call_id)
    command_id = produce.command_id("ivr-svc", call_id, "hangup")
    assert command_id == f"ivr-svc:{call_id}:hangup:1"
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    async with running_service(settings):
        await produce.send_command(
            kafka,
            settings.topics.commands,
            {"commandId": command_id, "callId": call_id, "type": "hangup"},
            traceparent=traceparent,
        )
        result = await consume.wait_for_result(
            kafka, settings.topics.results, f"example-{uuid.uuid4().hex[:8]}", command_id, 60
        )
    assert result["commandId"] == command_id
    assert result["callId"] == call_id
    assert result["outcome"] == "succeeded", result
    assert consume.next_step(result) == "done"
    assert await simulator.requests(call_id), "the service called Sinch for the command"
    # the command went out with the key and header the guide promises
    reader = AIOKafkaConsumer(
        settings.topics.commands, bootstrap_servers=kafka, auto_offset_reset="earliest"
    )
    await reader.start()
    try:
        [record] = (await reader.getmany(timeout_ms=10_000)).popitem()[1]
    finally:
        await reader.stop()
    assert record.key == call_id.encode()
    assert dict(record.headers)["traceparent"] == traceparent.encode()
    assert consume.next_step({"outcome": "failed", "error": {"retryable": True}}) == (
        "send again with a new commandId"
    )
