"""The call book on Redis, shared by replicas: what one replica's callbacks taught, another sees."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest
from pydantic import SecretStr

from service.callbacks.calls import open_call_book
from service.domain.calls import CallRoute
from service.idempotency.redis_store import MAX_CONNECTIONS
from service.settings import IdempotencySettings
from tests.unit.callbacks.test_call_book import check


def settings(prefix: str) -> IdempotencySettings:
    url = os.environ.get("CALLCTL_TEST_REDIS")
    if not url:
        pytest.fail("CALLCTL_TEST_REDIS is not set: run `deploy/redis.sh start` (`make test` does)")
    return IdempotencySettings(backend="redis", redis_url=SecretStr(url), key_prefix=prefix)


async def test_redis_call_book() -> None:
    await check(settings(f"t-{uuid.uuid4().hex[:6]}:"))


async def test_two_replicas_share_what_callbacks_taught() -> None:
    prefix = f"t-{uuid.uuid4().hex[:6]}:"
    one, two = await open_call_book(settings(prefix)), await open_call_book(settings(prefix))
    try:
        await one.remember("shared", CallRoute("apse1").ending("TIMEOUT"))
        seen = await two.recall("shared")
        assert seen is not None and seen.ended and seen.region == "apse1"
    finally:
        await one.close()
        await two.close()


async def test_a_burst_beyond_the_pool_waits_for_connections() -> None:
    book = await open_call_book(settings(f"t-{uuid.uuid4().hex[:6]}:"))
    try:
        burst = 5 * MAX_CONNECTIONS
        await asyncio.gather(*(book.remember(f"c-{i}", CallRoute("euc1")) for i in range(burst)))
        seen = await asyncio.gather(*(book.recall(f"c-{i}") for i in range(burst)))
        assert {route.region if route else None for route in seen} == {"euc1"}
    finally:
        await book.close()
