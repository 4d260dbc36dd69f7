"""Leases are renewed for the claims this process holds, from the claim to the stored result."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from service.idempotency.leases import Leases
from service.idempotency.store import ClaimKind, MemoryStore


class Recording(MemoryStore):
    def __init__(self) -> None:
        super().__init__(lease_s=10, retention_s=3600)
        self.renewed: list[set[str]] = []

    async def renew(self, command_ids: Iterable[str]) -> None:
        ids = set(command_ids)
        self.renewed.append(ids)
        await super().renew(ids)


async def test_only_claims_taken_and_unfinished_are_renewed() -> None:
    store = Recording()
    leases = Leases(store, renew_every_s=3600)
    assert (await leases.claim("a", "fp")).kind is ClaimKind.NEW
    assert (await leases.claim("b", "fp")).kind is ClaimKind.NEW
    assert (await leases.claim("a", "fp")).kind is ClaimKind.BUSY  # held: not ours twice
    await leases.complete("a", "fp", b"{}")
    assert (await leases.claim("a", "fp")).kind is ClaimKind.DUPLICATE
    await leases.renew()
    assert store.renewed == [{"b"}]
    leases.let_go("b")  # its flow crashed: the lease runs out
    await leases.renew()
    assert store.renewed == [{"b"}], "nothing held, nothing renewed"


async def test_renewal_runs_periodically_and_survives_a_store_outage() -> None:
    class Down(Recording):
        async def renew(self, command_ids: Iterable[str]) -> None:
            await super().renew(command_ids)
            raise ConnectionError("redis is restarting")

    store = Down()
    leases = Leases(store, renew_every_s=0.01)
    await leases.claim("a", "fp")
    leases.start()
    await asyncio.sleep(0.1)
    await leases.stop()
    assert len(store.renewed) >= 3, "kept trying through the outage"
