"""The Redis idempotency store against a real Redis (`deploy/redis.sh start`)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable

import pytest

from service.idempotency.redis_store import MAX_CONNECTIONS, RedisStore
from service.idempotency.store import ClaimKind, IdempotencyStore
from tests.store_contract import CHECKS, Clock, StoreFactory


@pytest.fixture(scope="module")
def redis_url() -> str:
    url = os.environ.get("CALLCTL_TEST_REDIS")
    if not url:
        pytest.fail(
            "CALLCTL_TEST_REDIS is not set: run `deploy/redis.sh start` and set "
            "CALLCTL_TEST_REDIS=redis://127.0.0.1:6379/15 (`make test` does both)",
            pytrace=False,
        )
    return url


def redis_factory(url: str) -> StoreFactory:
    prefix = f"test:{uuid.uuid4().hex}:"

    async def make(clock: Callable[[], float]) -> IdempotencyStore:
        store = RedisStore(url, key_prefix=prefix, lease_s=10, retention_s=3600, clock=clock)
        await store.open()
        return store

    return make


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
async def test_redis_store(check: Callable[[StoreFactory], object], redis_url: str) -> None:
    await check(redis_factory(redis_url))  # type: ignore[misc]


async def test_two_replicas_share_claims(redis_url: str) -> None:
    make = redis_factory(redis_url)
    clock = Clock()
    one, two = await make(clock), await make(clock)
    assert (await one.claim("shared", "fp")).kind is ClaimKind.NEW
    assert (await two.claim("shared", "fp")).kind is ClaimKind.BUSY
    await one.complete("shared", "fp", b"result")
    replay = await two.claim("shared", "fp")
    assert replay.kind is ClaimKind.DUPLICATE and replay.result == b"result"
    await one.close()
    await two.close()


async def test_a_burst_beyond_the_pool_waits_for_connections(redis_url: str) -> None:
    """Five times the pool's connections at once: each operation waits for a free connection
    (redis-py's default pool raised MaxConnectionsError past 100, and callbacks got 503)."""
    store = RedisStore(
        redis_url, key_prefix=f"test:{uuid.uuid4().hex}:", lease_s=10, retention_s=60
    )
    await store.open()
    try:
        burst = 5 * MAX_CONNECTIONS
        claims = await asyncio.gather(*(store.claim(f"c-{i}", "fp") for i in range(burst)))
        assert [c.kind for c in claims] == [ClaimKind.NEW] * burst
        await asyncio.gather(*(store.complete(f"c-{i}", "fp", b"done") for i in range(burst)))
        again = await asyncio.gather(*(store.claim(f"c-{i}", "fp") for i in range(burst)))
        assert {(c.kind, c.result) for c in again} == {(ClaimKind.DUPLICATE, b"done")}
    finally:
        await store.close()
