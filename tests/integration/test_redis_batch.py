"""Group commit of Redis scripts (service.idempotency.redis_batch) against a private Redis:
a burst goes as a few pipelines, each caller gets its own outcome, a flushed script cache is
reloaded without running anything twice."""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as redis
from redis.exceptions import ResponseError

from service.idempotency.redis_batch import Script, ScriptBatcher
from testkit.redis_server import private_redis

# Counts its calls: a script that ran twice for one caller shows as 2.
INCR = "return redis.call('INCRBY', KEYS[1], ARGV[1])"
FAIL_ON_NEGATIVE = "if tonumber(ARGV[1]) < 0 then return redis.error_reply('negative') end return 1"


async def number(client: redis.Redis, key: str) -> int:
    raw = await client.get(key)
    assert isinstance(raw, bytes), raw
    return int(raw)


class Counting(ScriptBatcher):
    def __init__(self, client: redis.Redis) -> None:
        super().__init__(client)
        self.pipelines = 0

    async def _pipeline(self, calls: list[tuple[Script, list[Any]]], len_keys: int) -> list[Any]:
        self.pipelines += 1
        return await super()._pipeline(calls, len_keys)


async def test_a_burst_is_a_few_pipelines_and_each_caller_gets_its_reply() -> None:
    with private_redis() as url:
        client = redis.Redis.from_url(url)
        batcher = Counting(client)
        incr = Script(client, INCR)
        try:
            replies = await asyncio.gather(
                *(batcher.run(incr, [f"k{i % 10}"], [i]) for i in range(1_000))
            )
            assert batcher.pipelines <= 4, batcher.pipelines  # 1,000 round trips unbatched
            # every call ran exactly once: each key holds the sum of its callers' increments
            for key in range(10):
                assert await number(client, f"k{key}") == sum(range(key, 1_000, 10))
            assert len(replies) == 1_000 and all(isinstance(r, int) for r in replies)
        finally:
            await batcher.close()
            await client.aclose()


async def test_a_script_error_reaches_its_caller_alone() -> None:
    with private_redis() as url:
        client = redis.Redis.from_url(url)
        batcher = ScriptBatcher(client)
        check = Script(client, FAIL_ON_NEGATIVE)
        try:
            outcomes = await asyncio.gather(
                *(batcher.run(check, ["k"], [n]) for n in (1, -1, 2)), return_exceptions=True
            )
            assert outcomes[0] == 1 and outcomes[2] == 1
            assert isinstance(outcomes[1], ResponseError) and "negative" in str(outcomes[1])
        finally:
            await batcher.close()
            await client.aclose()


async def test_a_flushed_script_cache_is_reloaded_and_nothing_runs_twice() -> None:
    with private_redis() as url:
        client = redis.Redis.from_url(url)
        batcher = Counting(client)
        incr = Script(client, INCR)
        try:
            await batcher.run(incr, ["n"], [1])
            await client.script_flush()
            await asyncio.gather(*(batcher.run(incr, ["n"], [1]) for _ in range(20)))
            assert await number(client, "n") == 21
        finally:
            await batcher.close()
            await client.aclose()


async def test_a_dead_redis_fails_every_caller_of_the_batch() -> None:
    with private_redis() as url:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
    client = redis.Redis.from_url(f"redis://127.0.0.1:{port}/0", socket_connect_timeout=0.5)
    batcher = ScriptBatcher(client)
    incr = Script(client, INCR)
    try:
        outcomes = await asyncio.gather(
            *(batcher.run(incr, ["k"], [1]) for _ in range(5)), return_exceptions=True
        )
        assert all(isinstance(o, redis.ConnectionError) for o in outcomes), outcomes
    finally:
        await batcher.close()
        await client.aclose()
