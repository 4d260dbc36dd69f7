"""Bytes of Redis memory per command kept for the idempotency retention.

Runs the real `RedisStore` (claim, then complete with a result the service would store) on a
private redis-server and reads `MEMORY USAGE` of the keys and `used_memory` before and after.
Usage: `uv run python -m bench.redis_sizing [COUNT]`; prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import UTC, datetime

import redis.asyncio as redis

from service.domain.results import Outcome, RequestEcho, Result, Source
from service.idempotency.redis_store import RedisStore
from service.idempotency.store import fingerprint
from testkit.redis_server import private_redis


def say_result(index: int) -> bytes:
    """A typical stored result: a `say` that succeeded, its SVAML echoed, a little metadata."""
    call_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    return Result(
        command_id=f"cmd-{uuid.uuid4()}",
        call_id=call_id,
        type="say",
        outcome=Outcome.SUCCEEDED,
        attempts=1,
        http_status=200,
        request=RequestEcho(
            method="PATCH",
            path=f"/calling/v1/calls/id/{call_id}",
            body={
                "instructions": [
                    {"name": "say", "text": "Your call is important to us.", "locale": "en-US"}
                ],
                "action": {"name": "continue"},
            },
        ),
        received_at=now,
        completed_at=now,
        duration_ms=48.213,
        source=Source(topic="call-control.commands.v1", partition=3, offset=100_000 + index),
        metadata={"tenant": "acme", "flow": "ivr-main"},
    ).to_bytes()


async def measure(url: str, count: int) -> dict[str, float]:
    client = redis.Redis.from_url(url)
    store = RedisStore(url, key_prefix="callctl:idem:", lease_s=30, retention_s=86_400)
    await store.open()
    before = (await client.info("memory"))["used_memory"]
    result_bytes = 0
    for index in range(count):
        command_id = f"cmd-{uuid.uuid4()}"
        print_ = fingerprint(command_id.encode())
        await store.claim(command_id, print_)
        result = say_result(index)
        result_bytes += len(result)
        await store.complete(command_id, print_, result)
    after = (await client.info("memory"))["used_memory"]
    usages = [await client.memory_usage(key) async for key in client.scan_iter("callctl:idem:*")]
    await store.close()
    await client.aclose()
    return {
        "commands": count,
        "result_bytes_mean": round(result_bytes / count, 1),
        "memory_usage_per_key_mean": round(sum(u or 0 for u in usages) / len(usages), 1),
        "used_memory_per_command": round((after - before) / count, 1),
    }


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    with private_redis("--maxmemory-policy", "noeviction") as url:
        print(json.dumps(asyncio.run(measure(url, count))))


if __name__ == "__main__":
    main()
