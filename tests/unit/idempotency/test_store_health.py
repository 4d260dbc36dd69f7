from __future__ import annotations

import asyncio

from service.idempotency.health import StoreHealth
from service.idempotency.store import MemoryStore


class Switchable(MemoryStore):
    def __init__(self) -> None:
        super().__init__(lease_s=10, retention_s=60)
        self.up = True

    async def healthy(self) -> bool:
        return self.up


async def test_readiness_follows_the_store_and_never_waits_on_it() -> None:
    store = Switchable()
    health = StoreHealth(store, every_s=0.01)
    assert await health.probe() is True
    store.up = False
    assert await health.probe() is False
    assert health.healthy is False, "read without awaiting the store"
    health.start()
    store.up = True
    for _ in range(100):
        if health.healthy:
            break
        await asyncio.sleep(0.01)
    assert health.healthy is True, "the background probe saw the store come back"
    await health.stop()
