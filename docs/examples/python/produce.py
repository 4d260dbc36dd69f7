"""Send one call-control command (Python, aiokafka). Paste and adapt: the essentials are the key
(the callId, so a call's commands stay in order), acks=all with idempotence, and a commandId
that names the action once (the same id again only replays the stored result)."""

from __future__ import annotations

import json

from aiokafka import AIOKafkaProducer


async def send_command(
    bootstrap: str,
    topic: str,
    command: dict[str, object],
    traceparent: str | None = None,
) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
    )
    await producer.start()
    try:
        headers = [("traceparent", traceparent.encode())] if traceparent else []
        await producer.send_and_wait(
            topic,
            key=str(command["callId"]).encode(),
            value=json.dumps(command).encode(),
            headers=headers,
        )
    finally:
        await producer.stop()


# a commandId scheme: <your service>:<your entity>:<action>:<attempt> - unique per action,
# stable across your own restarts, a new <attempt> when you decide to try again
def command_id(service: str, entity: str, action: str, attempt: int = 1) -> str:
    return f"{service}:{entity}:{action}:{attempt}"
