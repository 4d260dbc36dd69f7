from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from service.idempotency import sqlite_store
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


async def test_sqlite_operations_of_one_loop_pass_share_one_transaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteStore(tmp_path / "idem.sqlite3", lease_s=10, retention_s=3600)
    await store.open()
    transactions: list[int] = []
    run = store._transaction

    def counted(batch: list[Any]) -> list[Any]:
        transactions.append(len(batch))
        return run(batch)

    monkeypatch.setattr(store, "_transaction", counted)
    claims = await asyncio.gather(*(store.claim(f"c{i}", "fp") for i in range(50)))
    assert all(c.kind is ClaimKind.NEW for c in claims)
    assert transactions == [50], "one commit for the whole pass, none per operation"
    await store.close()


async def test_sqlite_purges_expired_claims_in_bounded_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_store, "PURGE_CHUNK", 3)
    clock = Clock()
    store = SqliteStore(tmp_path / "idem.sqlite3", lease_s=10, retention_s=60, clock=clock)
    await store.open()
    for i in range(5):
        await store.claim(f"old{i}", "fp")
    clock.now += 61  # all five expired
    await store.claim("new", "fp")
    assert _rows(store) == 3, "one chunk per purge: the loop is held for a bounded time"
    clock.now += sqlite_store.PURGE_EVERY_S
    await store.claim("newer", "fp")
    assert _rows(store) == 2, "the rest at the next purge"
    await store.close()


def _rows(store: SqliteStore) -> int:
    assert store._db is not None
    count: int = store._db.execute("SELECT count(*) FROM claims").fetchone()[0]
    return count
