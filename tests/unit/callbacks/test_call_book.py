"""The call book on each idempotency backend: what ICE and DiCE teach, kept for the retention."""

from __future__ import annotations

import uuid
from pathlib import Path

from service.callbacks.calls import open_call_book
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
