"""Wait for the result of one command (Python, aiokafka). Read the results topic with YOUR OWN
consumer group (every team sees every result) and pick yours by commandId."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiokafka import AIOKafkaConsumer


async def wait_for_result(
    bootstrap: str, topic: str, group_id: str, command_id: str, timeout_s: float = 30.0
) -> dict[str, Any]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group_id,  # yours, e.g. "ivr-svc.call-control-results"
        auto_offset_reset="earliest",  # a new group also sees results written before it joined
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        async with asyncio.timeout(timeout_s):
            async for record in consumer:
                result: dict[str, Any] = json.loads(record.value or b"{}")
                if result.get("commandId") == command_id:
                    return result
    finally:
        await consumer.stop()
    raise TimeoutError(command_id)


def next_step(result: dict[str, Any]) -> str:
    """The one retry rule: retryable means the same action may succeed if sent again with a
    NEW commandId; resending the same commandId only replays this stored result."""
    if result["outcome"] == "succeeded":
        return "done"
    error = result.get("error") or {}
    if error.get("retryable"):
        return "send again with a new commandId"
    return "give up: fix the cause (see error.code)"
