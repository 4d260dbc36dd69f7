"""Whether the idempotency store answers, for readiness: probed in the background so that a
readiness request never waits on a black-holed Redis (commands wait for it on their own)."""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from service.idempotency.store import IdempotencyStore

log = structlog.get_logger(logger_name="service.idempotency")


class StoreHealth:
    def __init__(self, store: IdempotencyStore, *, every_s: float = 5.0) -> None:
        self._store = store
        self._every_s = every_s
        self.healthy = True
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._probe_forever(), name="store-health")

    async def probe(self) -> bool:
        was, self.healthy = self.healthy, await self._store.healthy()
        if was != self.healthy:
            log.warning("idempotency_store_health", healthy=self.healthy)
        return self.healthy

    async def _probe_forever(self) -> None:
        while True:
            await self.probe()
            await asyncio.sleep(self._every_s)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
