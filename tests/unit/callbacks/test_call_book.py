"""The call book on each idempotency backend: what ICE and DiCE teach, kept for the retention."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from pathlib import Path

import pytest

from service.callbacks.calls import MemoryCallBook, RecentCalls, SqliteCallBook, open_call_book
from service.domain.calls import CallRoute
from service.settings import IdempotencySettings


async def check(settings: IdempotencySettings) -> None:
    book = await open_call_book(settings)
    call_id = f"c-{uuid.uuid4().hex}"
    try:
        assert await book.recall(call_id) is None
        route = CallRoute("euc1", "https://calling-euc1.api.sinch.com/x", "+4670")
        await book.remember(call_id, route)
        assert await book.recall(call_id) == route
        await book.remember(call_id, route.ending("CALLERHANGUP"))
        ended = await book.recall(call_id)
        assert ended is not None and ended.ended and ended.region == "euc1"
    finally:
        await book.close()


async def test_memory() -> None:
    await check(IdempotencySettings(backend="memory"))


async def test_sqlite_survives_a_reopen(tmp_path: Path) -> None:
    settings = IdempotencySettings(backend="sqlite", sqlite_path=tmp_path / "idem.sqlite3")
    await check(settings)
    book = await open_call_book(settings)
    await book.remember("kept", CallRoute("use1"))
    await book.close()
    again = await open_call_book(settings)
    assert await again.recall("kept") == CallRoute("use1")
    await again.close()
    assert (tmp_path / "idem-calls.sqlite3").exists()


async def test_sqlite_expired_entries_are_gone(tmp_path: Path) -> None:
    settings = IdempotencySettings(
        backend="sqlite", sqlite_path=tmp_path / "idem.sqlite3", retention_s=60
    )
    book = await open_call_book(settings)
    await book.remember("old", CallRoute("use1"))
    await book._run("UPDATE calls SET expires_at = 0", ())  # type: ignore[attr-defined]
    assert await book.recall("old") is None
    await book.close()


class CountingBook(MemoryCallBook):
    def __init__(self) -> None:
        super().__init__(retention_s=3600)
        self.recalls = 0
        self.fail_writes = False

    async def recall(self, call_id: str) -> CallRoute | None:
        self.recalls += 1
        return await super().recall(call_id)

    async def remember(self, call_id: str, route: CallRoute) -> None:
        if self.fail_writes:
            raise ConnectionError("store down")
        await super().remember(call_id, route)


async def test_recent_calls_answer_what_this_replica_wrote_without_the_book() -> None:
    book = CountingBook()
    recent = RecentCalls(book)
    route = CallRoute("euc1", "https://calling-euc1.api.sinch.com/x", "+4670")
    assert recent.known("c-1") is None
    await recent.remember("c-1", route)
    assert recent.known("c-1") == route
    assert await recent.recall("c-1") == route
    assert book.recalls == 0
    assert await book.recall("c-1") == route  # written through


async def test_recent_calls_read_the_book_once_on_a_miss() -> None:
    book = CountingBook()
    await book.remember("elsewhere", CallRoute("use1"))  # another replica's ICE
    recent = RecentCalls(book)
    assert await recent.recall("elsewhere") == CallRoute("use1")
    assert await recent.recall("elsewhere") == CallRoute("use1")
    assert await recent.recall("unknown") is None
    assert await recent.recall("unknown") is None  # an unknown call is not remembered as such
    assert book.recalls == 3


async def test_recent_calls_keep_nothing_the_book_refused() -> None:
    book = CountingBook()
    recent = RecentCalls(book)
    book.fail_writes = True
    with pytest.raises(ConnectionError):
        await recent.remember("c-1", CallRoute("euc1"))
    assert await recent.recall("c-1") is None


async def test_recent_calls_are_bounded_oldest_first() -> None:
    book = CountingBook()
    recent = RecentCalls(book, size=2)
    for name in ("a", "b"):
        await recent.remember(name, CallRoute(name))
    await recent.recall("a")  # a is now the most recent
    await recent.remember("c", CallRoute("c"))
    before = book.recalls
    assert await recent.recall("a") == CallRoute("a")
    assert await recent.recall("c") == CallRoute("c")
    assert book.recalls == before
    assert await recent.recall("b") == CallRoute("b")  # dropped from memory: the book answers
    assert book.recalls == before + 1


async def test_sqlite_writes_that_arrive_together_are_one_transaction(tmp_path: Path) -> None:
    settings = IdempotencySettings(backend="sqlite", sqlite_path=tmp_path / "idem.sqlite3")
    book = await open_call_book(settings)
    assert isinstance(book, SqliteCallBook)
    transactions: list[int] = []
    write = book._write

    def counted(rows: list[tuple[str, str, float]]) -> None:
        transactions.append(len(rows))
        write(rows)

    book._write = counted  # type: ignore[method-assign]
    try:
        await asyncio.gather(*(book.remember(f"c-{i}", CallRoute(f"r{i}")) for i in range(200)))
        assert sum(transactions) == 200 and len(transactions) <= 3, transactions
        routes = await asyncio.gather(*(book.recall(f"c-{i}") for i in range(200)))
        assert [r.region if r else None for r in routes] == [f"r{i}" for i in range(200)]
    finally:
        await book.close()


async def test_sqlite_a_failed_write_reaches_every_caller_of_its_transaction(
    tmp_path: Path,
) -> None:
    settings = IdempotencySettings(backend="sqlite", sqlite_path=tmp_path / "idem.sqlite3")
    book = await open_call_book(settings)
    assert isinstance(book, SqliteCallBook)

    def broken(rows: list[tuple[str, str, float]]) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    book._write = broken  # type: ignore[method-assign]
    try:
        outcomes = await asyncio.gather(
            *(book.remember(f"c-{i}", CallRoute("euc1")) for i in range(5)),
            return_exceptions=True,
        )
        assert all(isinstance(o, sqlite3.OperationalError) for o in outcomes), outcomes
        assert await book.recall("c-0") is None
    finally:
        await book.close()
