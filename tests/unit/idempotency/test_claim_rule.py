"""The claim state machine (`store.decide`), every state and transition, the dead-owner
takeover included: what a claimant is told, and whether it then holds the claim."""

from __future__ import annotations

import pytest

from service.idempotency.store import ClaimKind, Entry, MemoryStore, decide

NOW = 1_000.0


def entry(*, lease_in: float = 10, expires_in: float = 3600, result: bytes | None = None) -> Entry:
    return Entry("fp", "owner-a", NOW + lease_in, NOW + expires_in, result)


@pytest.mark.parametrize(
    ("found", "fingerprint", "alive", "kind", "held"),
    [
        (None, "fp", True, ClaimKind.NEW, True),
        (entry(expires_in=0), "fp", True, ClaimKind.NEW, True),  # retention over
        (entry(expires_in=0), "other", False, ClaimKind.NEW, True),
        (entry(), "other", True, ClaimKind.CONFLICT, False),
        (entry(), "other", False, ClaimKind.CONFLICT, False),  # gone owner: still a conflict
        (entry(result=b"r"), "fp", True, ClaimKind.DUPLICATE, False),
        (entry(result=b"r"), "fp", False, ClaimKind.DUPLICATE, False),  # finished stays so
        (entry(), "fp", True, ClaimKind.BUSY, False),  # live lease, live owner
        (entry(lease_in=0), "fp", True, ClaimKind.INTERRUPTED, True),  # lease ran out
        (entry(), "fp", False, ClaimKind.INTERRUPTED, True),  # owner gone: no lease wait
        (entry(lease_in=0), "fp", False, ClaimKind.INTERRUPTED, True),
    ],
)
def test_decide(
    found: Entry | None, fingerprint: str, alive: bool, kind: ClaimKind, held: bool
) -> None:
    claim, owned = decide(found, fingerprint, NOW, owner_alive=alive)
    assert (claim.kind, owned) == (kind, held)
    if kind is ClaimKind.DUPLICATE:
        assert claim.result == b"r"


def test_busy_asks_again_within_a_second_or_at_the_lease_end() -> None:
    assert decide(entry(lease_in=30), "fp", NOW)[0].retry_in_s == 1.0
    assert decide(entry(lease_in=0.25), "fp", NOW)[0].retry_in_s == pytest.approx(0.25)


async def test_a_gone_owners_claim_is_interrupted_once_then_held_by_the_new_owner() -> None:
    """The takeover: the first claimant after the owner is gone gets INTERRUPTED (never NEW,
    so a command that is not harmless is not sent again); the next finds it BUSY, held by
    the live new owner, and after completion everyone gets the stored result."""
    clock = [NOW]
    store = MemoryStore(lease_s=30, retention_s=3600, clock=lambda: clock[0])
    dead_owner = store.owner
    assert (await store.claim("c", "fp")).kind is ClaimKind.NEW
    assert (await store.claim("c", "fp")).kind is ClaimKind.BUSY
    store.gone.add(dead_owner)
    store.owner = "survivor"
    assert (await store.claim("c", "fp")).kind is ClaimKind.INTERRUPTED
    assert (await store.claim("c", "fp")).kind is ClaimKind.BUSY, "the survivor holds it now"
    await store.complete("c", "fp", b"outcome_unknown")
    replay = await store.claim("c", "fp")
    assert (replay.kind, replay.result) == (ClaimKind.DUPLICATE, b"outcome_unknown")


async def test_a_live_owners_claim_is_busy_until_its_lease_ends() -> None:
    clock = [NOW]
    store = MemoryStore(lease_s=30, retention_s=3600, clock=lambda: clock[0])
    assert (await store.claim("c", "fp")).kind is ClaimKind.NEW
    clock[0] += 29
    assert (await store.claim("c", "fp")).kind is ClaimKind.BUSY
    clock[0] += 1
    assert (await store.claim("c", "fp")).kind is ClaimKind.INTERRUPTED
