from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from service.idempotency.sqlite_store import SqliteStore
from service.idempotency.store import ClaimKind, IdempotencyStore, MemoryStore
from tests.store_contract import CHECKS, Clock, StoreFactory


def memory_factory() -> StoreFactory:
    async def make(clock: Callable[[], float]) -> IdempotencyStore:
        return MemoryStore(lease_s=10, retention_s=3600, clock=clock)

    return make


def sqlite_factory(path: Path) -> StoreFactory:
    async def make(clock: Callable[[], float]) -> IdempotencyStore:
        store = SqliteStore(path, lease_s=10, retention_s=3600, clock=clock)
        await store.open()
        return store

    return make


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
async def test_memory_store(check: Callable[[StoreFactory], object]) -> None:
    await check(memory_factory())  # type: ignore[misc]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
async def test_sqlite_store(check: Callable[[StoreFactory], object], tmp_path: Path) -> None:
    await check(sqlite_factory(tmp_path / "idem.sqlite3"))  # type: ignore[misc]


async def test_sqlite_survives_a_restart_and_expires_the_dead_process_claims(
    tmp_path: Path,
) -> None:
    path = tmp_path / "idem.sqlite3"
    clock = Clock()
    first = SqliteStore(path, lease_s=60, retention_s=3600, clock=clock)
    await first.open()
    await first.claim("done", "fp")
    await first.complete("done", "fp", b'{"ok":true}')
    await first.claim("in-flight", "fp")
    # kill -9: the process dies without closing; a new one opens the same file
    second = SqliteStore(path, lease_s=60, retention_s=3600, clock=clock)
    await second.open()
    replay = await second.claim("done", "fp")
    assert replay.kind is ClaimKind.DUPLICATE and replay.result == b'{"ok":true}'
    assert (await second.claim("in-flight", "fp")).kind is ClaimKind.INTERRUPTED, (
        "the earlier process's claim is not waited for: that process is gone"
    )
    await second.close()
    await first.close()
