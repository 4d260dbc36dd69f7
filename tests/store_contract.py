"""The behaviour every idempotency backend must show, run against each of them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from service.idempotency.store import ClaimKind, IdempotencyStore

StoreFactory = Callable[[Callable[[], float]], Awaitable[IdempotencyStore]]


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def check_first_claim_then_duplicate(make: StoreFactory) -> None:
    store = await make(Clock())
    assert (await store.claim("cmd-1", "fp-a")).kind is ClaimKind.NEW
    await store.complete("cmd-1", "fp-a", b'{"outcome":"succeeded"}')
    replay = await store.claim("cmd-1", "fp-a")
    assert replay.kind is ClaimKind.DUPLICATE
    assert replay.result == b'{"outcome":"succeeded"}'
    await store.close()


async def check_conflict(make: StoreFactory) -> None:
    store = await make(Clock())
    await store.claim("cmd-2", "fp-a")
    assert (await store.claim("cmd-2", "fp-b")).kind is ClaimKind.CONFLICT
    await store.complete("cmd-2", "fp-a", b"{}")
    assert (await store.claim("cmd-2", "fp-b")).kind is ClaimKind.CONFLICT
    await store.close()


async def check_live_lease_is_busy_and_expired_lease_is_interrupted(make: StoreFactory) -> None:
    clock = Clock()
    store = await make(clock)
    await store.claim("cmd-3", "fp")
    busy = await store.claim("cmd-3", "fp")
    assert busy.kind is ClaimKind.BUSY
    assert 0 < busy.retry_in_s <= 1.0
    clock.now += 5  # lease is 10 s
    await store.renew(["cmd-3"])
    clock.now += 8
    assert (await store.claim("cmd-3", "fp")).kind is ClaimKind.BUSY, "renewed lease still live"
    clock.now += 11
    assert (await store.claim("cmd-3", "fp")).kind is ClaimKind.INTERRUPTED
    assert (await store.claim("cmd-3", "fp")).kind is ClaimKind.BUSY, "taken over: leased again"
    await store.close()


async def check_retention(make: StoreFactory) -> None:
    clock = Clock()
    store = await make(clock)
    await store.claim("cmd-4", "fp")
    await store.complete("cmd-4", "fp", b"{}")
    clock.now += 3601  # retention is 3600 s
    assert (await store.claim("cmd-4", "other-payload")).kind is ClaimKind.NEW
    await store.close()


async def check_release_gives_an_unfinished_claim_back(make: StoreFactory) -> None:
    store = await make(Clock())
    await store.claim("cmd-5", "fp")
    await store.release("cmd-5")
    assert (await store.claim("cmd-5", "fp")).kind is ClaimKind.NEW, "released: a new claim"
    await store.complete("cmd-5", "fp", b"{}")
    await store.release("cmd-5")  # a finished claim is never given back
    assert (await store.claim("cmd-5", "fp")).kind is ClaimKind.DUPLICATE
    await store.close()


CHECKS = [
    check_release_gives_an_unfinished_claim_back,
    check_first_claim_then_duplicate,
    check_conflict,
    check_live_lease_is_busy_and_expired_lease_is_interrupted,
    check_retention,
]
