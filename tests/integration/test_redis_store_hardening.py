"""The Redis store against hostile Redis deployments: one that never answers (black-holed), one
that may evict keys, one that forbids CONFIG (managed Redis). Private servers, never 6379."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
import redis.exceptions
import structlog

from service.idempotency.redis_batch import Script
from service.idempotency.redis_store import EvictingRedisError, RedisStore
from service.idempotency.store import ClaimKind
from testkit.netutil import black_hole
from testkit.redis_server import private_redis

CONNECT_S = 0.5
SOCKET_S = 0.5


def store(url: str, prefix: str | None = None) -> RedisStore:
    return RedisStore(
        url,
        key_prefix=prefix or f"test:{uuid.uuid4().hex}:",
        lease_s=10,
        retention_s=3600,
        connect_timeout_s=CONNECT_S,
        socket_timeout_s=SOCKET_S,
    )


async def timed(coroutine: object) -> tuple[float, BaseException | object]:
    started = time.monotonic()
    try:
        outcome: object = await asyncio.wait_for(coroutine, 30)  # type: ignore[arg-type]
    except Exception as error:
        outcome = error
    return time.monotonic() - started, outcome


async def test_a_black_holed_redis_fails_fast_instead_of_hanging() -> None:
    async with black_hole() as port:
        hole = store(f"redis://127.0.0.1:{port}/0")
        took, outcome = await timed(hole.open())
        assert isinstance(outcome, redis.exceptions.TimeoutError), outcome
        assert took < 5 * SOCKET_S
        took, outcome = await timed(hole.claim("c-1", "fp"))
        assert isinstance(outcome, redis.exceptions.TimeoutError), outcome
        assert took < 5 * SOCKET_S
        took, outcome = await timed(hole.renew(["c-1", "c-2"]))
        assert isinstance(outcome, redis.exceptions.TimeoutError), outcome
        took, healthy = await timed(hole.healthy())
        assert healthy is False and took < 5 * SOCKET_S
        await hole.close()


async def test_healthy_follows_redis() -> None:
    with private_redis() as url:
        live = store(url)
        await live.open()
        assert await live.healthy() is True
        assert (await live.claim("c-1", "fp")).kind is ClaimKind.NEW
    # the server is gone now
    assert await live.healthy() is False
    await live.close()


@pytest.mark.parametrize(
    "policy",
    [
        "allkeys-lru",
        "allkeys-lfu",
        "allkeys-random",
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ],
)
async def test_an_evicting_redis_is_refused_at_start_saying_why(policy: str) -> None:
    with private_redis("--maxmemory-policy", policy) as url:
        evicting = store(url)
        with pytest.raises(EvictingRedisError) as refused:
            await evicting.open()
        await evicting.close()
    message = str(refused.value)
    assert f"maxmemory-policy is '{policy}'" in message
    assert "noeviction" in message and "runs again" in message


async def test_noeviction_is_accepted() -> None:
    with private_redis("--maxmemory-policy", "noeviction", "--maxmemory", "64mb") as url:
        safe = store(url)
        await safe.open()
        await safe.close()


async def test_a_redis_that_forbids_config_is_used_with_a_warning() -> None:
    with private_redis("--rename-command", "CONFIG", "") as url:
        managed = store(url)
        with structlog.testing.capture_logs() as logs:
            await managed.open()
        assert (await managed.claim("c-1", "fp")).kind is ClaimKind.NEW
        await managed.close()
    warnings = [e for e in logs if e["event"] == "redis_eviction_policy_unchecked"]
    assert len(warnings) == 1 and warnings[0]["log_level"] == "warning"
    assert warnings[0]["required"] == "noeviction"


async def test_a_claim_whose_reply_was_lost_is_taken_back_not_waited_out() -> None:
    """The script ran but its reply never came (a socket timeout, a reset): the caller never
    went ahead, so its next claim takes the claim back. Without this, the caller would wait for
    a lease that the engine keeps renewing for it: a command stuck for good (seen through
    Toxiproxy)."""
    with private_redis() as url:
        one, other = store(url, "shared:"), store(url, "shared:")
        await one.open()
        await other.open()
        real = one._batch.run

        async def reply_lost(script: Script, keys: list[Any], args: list[Any]) -> object:
            await real(script, keys, args)
            raise redis.exceptions.TimeoutError("Timeout reading from socket")

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(one._batch, "run", reply_lost)
            with pytest.raises(redis.exceptions.TimeoutError):
                await one.claim("c-1", "fp")
        assert (await other.claim("c-1", "fp")).kind is ClaimKind.BUSY, "still held"
        assert (await one.claim("c-1", "fp")).kind is ClaimKind.NEW, "taken back"
        assert (await one.claim("c-1", "fp")).kind is ClaimKind.BUSY, "only once"
        await one.complete("c-1", "fp", b"result")
        replay = await other.claim("c-1", "fp")
        assert replay.kind is ClaimKind.DUPLICATE and replay.result == b"result"
        await one.close()
        await other.close()
