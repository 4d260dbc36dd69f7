"""The Redis idempotency store against a real Redis (`deploy/redis.sh start`)."""

from __future__ import annotations

import asyncio
import os
import time
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


# --- a dead owner's claims: taken over once its liveness key has expired ------------------


async def _stop_renewing(store: RedisStore) -> None:
    """What kill -9 does to a store: its liveness key is no longer renewed (nor deleted)."""
    keeper = store._keeper
    assert keeper is not None
    keeper.cancel()
    await asyncio.gather(keeper, return_exceptions=True)


async def test_a_killed_owners_claim_is_taken_over_once_its_liveness_key_expires(
    redis_url: str,
) -> None:
    prefix = f"test:{uuid.uuid4().hex}:"
    dead = RedisStore(redis_url, key_prefix=prefix, lease_s=60, retention_s=600, liveness_s=1)
    survivor = RedisStore(redis_url, key_prefix=prefix, lease_s=60, retention_s=600, liveness_s=1)
    await dead.open()
    await survivor.open()
    try:
        assert (await dead.claim("cmd", "fp")).kind is ClaimKind.NEW
        await _stop_renewing(dead)
        assert (await survivor.claim("cmd", "fp")).kind is ClaimKind.BUSY, "key not expired yet"
        await asyncio.sleep(1.3)  # the liveness key's TTL, not the 60 s lease
        assert (await survivor.claim("cmd", "fp")).kind is ClaimKind.INTERRUPTED
        # Taken over: the survivor now owns it, and its own liveness keeps others out.
        assert (await dead.claim("cmd", "fp")).kind is ClaimKind.BUSY
        await survivor.complete("cmd", "fp", b"outcome_unknown")
        assert (await dead.claim("cmd", "fp")).kind is ClaimKind.DUPLICATE
    finally:
        await dead.close()
        await survivor.close()


async def test_a_live_owners_claim_is_respected_past_its_liveness_time(redis_url: str) -> None:
    """The liveness key is renewed while the process lives: a slow command is not taken over
    (its lease, renewed by `Leases`, decides as before)."""
    prefix = f"test:{uuid.uuid4().hex}:"
    owner = RedisStore(redis_url, key_prefix=prefix, lease_s=60, retention_s=600, liveness_s=1)
    other = RedisStore(redis_url, key_prefix=prefix, lease_s=60, retention_s=600, liveness_s=1)
    await owner.open()
    await other.open()
    try:
        assert (await owner.claim("slow", "fp")).kind is ClaimKind.NEW
        await asyncio.sleep(2.5)  # more than twice the liveness TTL
        assert (await other.claim("slow", "fp")).kind is ClaimKind.BUSY
    finally:
        await owner.close()
        await other.close()


async def test_a_stopped_owners_unfinished_claims_are_free_at_once(redis_url: str) -> None:
    """close() deletes the liveness key: whatever the process left unfinished (a flow cut
    short at shutdown) is interrupted for the next owner without any wait."""
    prefix = f"test:{uuid.uuid4().hex}:"
    first = RedisStore(redis_url, key_prefix=prefix, lease_s=60, retention_s=600, liveness_s=30)
    await first.open()
    assert (await first.claim("left", "fp")).kind is ClaimKind.NEW
    await first.close()
    second = RedisStore(redis_url, key_prefix=prefix, lease_s=60, retention_s=600, liveness_s=30)
    await second.open()
    try:
        assert (await second.claim("left", "fp")).kind is ClaimKind.INTERRUPTED
    finally:
        await second.close()


async def test_a_claim_without_a_liveness_mark_waits_for_its_lease(redis_url: str) -> None:
    """Claims written by a version without liveness keys (a rolling upgrade) have no key to
    look at: they are never taken over early, only when their lease runs out."""
    import redis.asyncio as redis_asyncio

    prefix = f"test:{uuid.uuid4().hex}:"
    store = RedisStore(redis_url, key_prefix=prefix, lease_s=60, retention_s=600, liveness_s=1)
    await store.open()
    raw = redis_asyncio.Redis.from_url(redis_url)
    try:
        now = time.time()
        await raw.hset(
            prefix + "old",
            mapping={
                "fingerprint": "fp",
                "owner": "an-old-replica",
                "lease_until": now + 60,
                "expires_at": now + 600,
                "nonce": "n",
            },
        )
        assert (await store.claim("old", "fp")).kind is ClaimKind.BUSY
    finally:
        await raw.delete(prefix + "old")
        await raw.aclose()
        await store.close()
