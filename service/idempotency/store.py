"""Idempotency: one `commandId`, one execution (docs/contract.md, "Retrying").

A claim per commandId is taken atomically before any request, with a lease that the owner keeps
renewing while the command runs (`leases.Leases`). Outcomes of `claim`:

- NEW: first sight; execute it.
- DUPLICATE: finished before; replay the stored result with `duplicate: true`.
- CONFLICT: the same id with a different payload; `rejected`, `idempotency_conflict`.
- INTERRUPTED: an earlier execution took the claim and vanished (a crash) before finishing;
  it may have reached Sinch. Repeat only harmless commands, else `failed`, `outcome_unknown`.
- BUSY: another live owner holds the lease (a hand-over in progress); ask again later.

Backends: SQLite (embedded, survives a restart of one replica; the default) and Redis (shared by
all replicas). The memory store is for tests.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Protocol


class ClaimKind(Enum):
    NEW = "new"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"
    INTERRUPTED = "interrupted"
    BUSY = "busy"


@dataclass(frozen=True, slots=True)
class Claim:
    kind: ClaimKind
    result: bytes | None = None
    retry_in_s: float = 0.0


class IdempotencyStore(Protocol):
    async def claim(self, command_id: str, fingerprint: str) -> Claim: ...

    async def complete(self, command_id: str, fingerprint: str, result: bytes) -> None:
        """Store the result; the id answers DUPLICATE until the retention ends."""

    async def renew(self, command_ids: Iterable[str]) -> None:
        """Extend the leases this owner holds (`Leases` calls it for the commands in flight)."""

    async def release(self, command_id: str) -> None:
        """Give an unfinished claim of this owner back (a callback whose event Kafka did not
        acknowledge: Sinch's redelivery must be answered at once, not after the lease)."""

    async def healthy(self) -> bool:
        """Whether the store answers now (readiness); never raises."""

    async def close(self) -> None: ...


def fingerprint(canonical_payload: bytes) -> str:
    return hashlib.sha256(canonical_payload).hexdigest()


def new_owner_id() -> str:
    return uuid.uuid4().hex


@dataclass(slots=True)
class Entry:
    fingerprint: str
    owner: str
    lease_until: float
    expires_at: float
    result: bytes | None = None


def decide(
    entry: Entry | None, fingerprint: str, now: float, *, owner_alive: bool = True
) -> tuple[Claim, bool]:
    """The claim rule shared by every backend: (answer, whether the caller now holds it).

    An unfinished claim with a live lease is BUSY even for its own owner: the same id in two
    lanes at once (keyed differently) must not run twice. `owner_alive` is False when the
    claim's owner is known to be gone (its liveness key expired, `redis_store`): its claim is
    INTERRUPTED at once instead of after its lease. Taking over early is safe because an
    INTERRUPTED claim never sends a command that is not harmless again.
    """
    if entry is None or entry.expires_at <= now:
        return Claim(ClaimKind.NEW), True
    if entry.fingerprint != fingerprint:
        return Claim(ClaimKind.CONFLICT), False
    if entry.result is not None:
        return Claim(ClaimKind.DUPLICATE, entry.result), False
    if entry.lease_until <= now or not owner_alive:
        return Claim(ClaimKind.INTERRUPTED), True
    return Claim(ClaimKind.BUSY, retry_in_s=min(entry.lease_until - now, 1.0)), False


class MemoryStore:
    """In-process store: for unit tests and throwaway runs; forgets everything on exit."""

    def __init__(
        self, *, lease_s: float, retention_s: float, clock: Callable[[], float] = time.time
    ) -> None:
        self._entries: dict[str, Entry] = {}
        self._lease_s = lease_s
        self._retention_s = retention_s
        self._clock = clock
        self.owner = new_owner_id()
        # Owners known to be gone (tests stand in for a liveness key that expired).
        self.gone: set[str] = set()

    async def claim(self, command_id: str, fingerprint: str) -> Claim:
        now = self._clock()
        entry = self._entries.get(command_id)
        alive = entry is None or entry.owner not in self.gone
        claim, owned = decide(entry, fingerprint, now, owner_alive=alive)
        if owned:
            self._entries[command_id] = Entry(
                fingerprint, self.owner, now + self._lease_s, now + self._retention_s
            )
        return claim

    async def complete(self, command_id: str, fingerprint: str, result: bytes) -> None:
        now = self._clock()
        self._entries[command_id] = Entry(
            fingerprint, self.owner, now, now + self._retention_s, result
        )

    async def renew(self, command_ids: Iterable[str]) -> None:
        until = self._clock() + self._lease_s
        for command_id in command_ids:
            entry = self._entries.get(command_id)
            if entry is not None and entry.owner == self.owner and entry.result is None:
                entry.lease_until = until

    async def release(self, command_id: str) -> None:
        entry = self._entries.get(command_id)
        if entry is not None and entry.owner == self.owner and entry.result is None:
            del self._entries[command_id]

    async def healthy(self) -> bool:
        return True

    async def close(self) -> None:
        self._entries.clear()
