"""What callbacks teach about a call, remembered for the commands that follow.

ICE gives the call's `callResourceUrl` (its region's host) and the called number; DiCE says the
call is over. Both are kept per call in the idempotency store's backend (a key space of their
own: `call:` keys in Redis, a `calls` table in SQLite), with the store's retention, so every
replica sees them and they outlive a restart. `Callbacks.call_route(call_id)` reads them for
the command flow before it sends a request.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from service.domain.calls import CallRoute
from service.settings import IdempotencySettings


class CallBook(Protocol):
    async def recall(self, call_id: str) -> CallRoute | None: ...

    async def remember(self, call_id: str, route: CallRoute) -> None: ...

    async def close(self) -> None: ...


class MemoryCallBook:
    def __init__(self, retention_s: float) -> None:
        self._entries: dict[str, tuple[float, CallRoute]] = {}
        self._retention_s = retention_s

    async def recall(self, call_id: str) -> CallRoute | None:
        entry = self._entries.get(call_id)
        if entry is None or entry[0] <= time.time():
            return None
        return entry[1]

    async def remember(self, call_id: str, route: CallRoute) -> None:
        self._entries[call_id] = (time.time() + self._retention_s, route)

    async def close(self) -> None:
        self._entries.clear()


class RedisCallBook:
    def __init__(self, url: str, *, key_prefix: str, retention_s: int) -> None:
        from service.idempotency.redis_store import redis_client

        self._redis = redis_client(url, connect_timeout_s=5, socket_timeout_s=5)
        self._prefix = f"{key_prefix}call:"
        self._retention_s = retention_s

    async def recall(self, call_id: str) -> CallRoute | None:
        raw = await self._redis.get(self._prefix + call_id)
        return CallRoute.from_bytes(raw) if raw is not None else None

    async def remember(self, call_id: str, route: CallRoute) -> None:
        await self._redis.set(self._prefix + call_id, route.to_bytes(), ex=self._retention_s)

    async def close(self) -> None:
        await self._redis.aclose()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    call_id TEXT PRIMARY KEY,
    route TEXT NOT NULL,
    expires_at REAL NOT NULL
)
"""


class SqliteCallBook:
    """A file beside the claims' (`<name>-calls.sqlite3`, so its writes never wait for the
    claims' write lock), one thread of its own that runs the statements in order. Writes are
    group-committed: those that arrive while one transaction runs go together in the next,
    one thread hop for all of them (ICE and DiCE each write, so a hop per write cost a good
    share of the callback side's CPU)."""

    def __init__(self, path: Path, *, retention_s: float) -> None:
        self._path = path.with_name(f"{path.stem}-calls{path.suffix}")
        self._retention_s = retention_s
        self._db: sqlite3.Connection | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="call-book")
        self._writes: list[tuple[tuple[str, str, float], asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self._db = await loop.run_in_executor(self._thread, self._connect)

    def _connect(self) -> sqlite3.Connection:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA busy_timeout=5000")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(_SCHEMA)
        db.execute("DELETE FROM calls WHERE expires_at <= ?", (time.time(),))
        return db

    async def _run(self, sql: str, args: tuple[object, ...]) -> list[tuple[str]]:
        db = self._db
        if db is None:
            raise RuntimeError("call book is not open")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, lambda: db.execute(sql, args).fetchall())

    async def recall(self, call_id: str) -> CallRoute | None:
        rows = await self._run(
            "SELECT route FROM calls WHERE call_id = ? AND expires_at > ?", (call_id, time.time())
        )
        return CallRoute.from_bytes(rows[0][0]) if rows else None

    async def remember(self, call_id: str, route: CallRoute) -> None:
        if self._db is None:
            raise RuntimeError("call book is not open")
        loop = asyncio.get_running_loop()
        written: asyncio.Future[None] = loop.create_future()
        row = (call_id, route.to_bytes().decode(), time.time() + self._retention_s)
        self._writes.append((row, written))
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush())
        await written

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self._writes:
            batch, self._writes = self._writes, []
            try:
                await loop.run_in_executor(self._thread, self._write, [row for row, _ in batch])
            except Exception as error:  # the transaction failed: every caller learns
                for _, written in batch:
                    if not written.done():
                        written.set_exception(error)
                continue
            for _, written in batch:
                if not written.done():
                    written.set_result(None)

    def _write(self, rows: list[tuple[str, str, float]]) -> None:
        db = self._db
        if db is None:
            raise RuntimeError("call book is not open")
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "INSERT OR REPLACE INTO calls (call_id, route, expires_at) VALUES (?, ?, ?)", rows
            )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    async def close(self) -> None:
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)
        if self._db is not None:
            db, self._db = self._db, None
            await asyncio.get_running_loop().run_in_executor(self._thread, db.close)
        self._thread.shutdown(wait=False)


class RecentCalls:
    """The call book as the callback endpoint asks it: the routes this replica wrote or read
    lately are answered from memory, so ACE and DiCE after this replica's ICE cost no store
    round trip (or thread hop) on the answer path.

    Only for the endpoint: what it reads from a route (region, `callResourceUrl`, called
    number) comes from ICE and never changes for a call. The command flow asks the book
    itself (`Callbacks.call_route`), so a DiCE that another replica wrote is always seen there.
    Writes go to the book first and enter memory only once stored.
    """

    def __init__(self, book: CallBook, *, size: int = 10_000) -> None:
        self._book = book
        self._size = size
        self._recent: OrderedDict[str, CallRoute] = OrderedDict()

    def known(self, call_id: str) -> CallRoute | None:
        """The route if it is in memory, without asking the book."""
        route = self._recent.get(call_id)
        if route is not None:
            self._recent.move_to_end(call_id)
        return route

    async def recall(self, call_id: str) -> CallRoute | None:
        route = self._recent.get(call_id)
        if route is not None:
            self._recent.move_to_end(call_id)
            return route
        route = await self._book.recall(call_id)
        if route is not None:
            self._keep(call_id, route)
        return route

    async def remember(self, call_id: str, route: CallRoute) -> None:
        await self._book.remember(call_id, route)
        self._keep(call_id, route)

    def _keep(self, call_id: str, route: CallRoute) -> None:
        self._recent[call_id] = route
        self._recent.move_to_end(call_id)
        while len(self._recent) > self._size:
            self._recent.popitem(last=False)

    async def close(self) -> None:
        self._recent.clear()


async def open_call_book(settings: IdempotencySettings) -> CallBook:
    """The call book on the idempotency store's backend."""
    if settings.backend == "redis":
        return RedisCallBook(
            settings.redis_url.get_secret_value(),
            key_prefix=settings.key_prefix,
            retention_s=settings.retention_s,
        )
    if settings.backend == "sqlite":
        book = SqliteCallBook(settings.sqlite_path, retention_s=settings.retention_s)
        await book.open()
        return book
    return MemoryCallBook(settings.retention_s)
