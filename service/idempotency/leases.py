"""The claims this process holds, and their leases kept alive while their commands run.

A claim's lease says "its owner is alive": another replica (or this one, after a restart) that
finds the lease run out treats the command as interrupted. So the owner renews every lease it
holds, from the claim until the result is stored. Keeping that list here, next to the claims,
means delivery and the flow never have to tell anyone which commands are in flight.

A flow that ends without storing a result (a crash) lets its claim go: the lease then runs out
and the next reader finds the command INTERRUPTED, as after a crash of the process.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from service.idempotency.store import Claim, ClaimKind, IdempotencyStore

log = structlog.get_logger(logger_name="service.idempotency")

_OWNED = frozenset({ClaimKind.NEW, ClaimKind.INTERRUPTED})


class Leases:
    def __init__(self, store: IdempotencyStore, *, renew_every_s: float) -> None:
        self._store = store
        self._renew_every_s = renew_every_s
        self._held: set[str] = set()
        self._renewer: asyncio.Task[None] | None = None

    @property
    def held(self) -> frozenset[str]:
        return frozenset(self._held)

    async def claim(self, command_id: str, fingerprint: str) -> Claim:
        """`IdempotencyStore.claim`; a claim taken is held (renewed) until completed."""
        claim = await self._store.claim(command_id, fingerprint)
        if claim.kind in _OWNED:
            self._held.add(command_id)
        return claim

    async def complete(self, command_id: str, fingerprint: str, result: bytes) -> None:
        """`IdempotencyStore.complete`; the claim is no longer held once its result is stored."""
        await self._store.complete(command_id, fingerprint, result)
        self._held.discard(command_id)

    def let_go(self, command_id: str) -> None:
        """Stop renewing a claim left unfinished: its lease runs out."""
        self._held.discard(command_id)

    async def renew(self) -> None:
        if self._held:
            await self._store.renew(list(self._held))

    # --- lifetime ------------------------------------------------------------------------

    def start(self) -> None:
        self._renewer = asyncio.create_task(self._renew_every(), name="lease-renewal")

    async def stop(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
            self._renewer = None

    async def _renew_every(self) -> None:
        while True:
            await asyncio.sleep(self._renew_every_s)
            try:
                await self.renew()
            except Exception as error:  # the store is down: the flows wait it out, so do we
                log.warning("lease_renewal_failed", error=type(error).__name__)
