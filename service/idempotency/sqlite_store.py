"""Embedded idempotency store on SQLite: the default, for a single replica.

It survives a restart of its replica (the file lives on a volume). It is not shared: with more
than one replica use the Redis store, or a rebalance can hand a call to a replica that never
saw its earlier commands. At open, claims left unfinished by an earlier process of this
replica are expired at once: that process is gone (kill -9, OOM), so waiting for its leases
helps no one.

Group commit: operations queue up, and one worker thread runs everything queued as a single
transaction, then answers each caller. A claim is still atomic (one writer, its read and write
in one transaction), an operation's answer still means it is on disk, and the event loop never
waits for SQLite: statements on the loop thread, with WAL checkpoints landing on it now and
then, cost much of the service's CPU and most of its latency tail (measured in bench/).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service.idempotency.store import Claim, Entry, decide, new_owner_id

_SCHEMA = """
CREATE TABLE IF NOT EXISTS claims (
    command_id  TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    owner       TEXT NOT NULL,
    lease_until REAL NOT NULL,
    expires_at  REAL NOT NULL,
    result      BLOB
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS claims_expiry ON claims (expires_at);
"""
PURGE_EVERY_S = 60.0
MAX_BATCH = 1000


@dataclass(slots=True)
class _Op:
    run: Callable[[sqlite3.Connection, float], Any]
    future: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class SqliteStore:
    def __init__(
        self,
        path: Path,
        *,
        lease_s: float,
        retention_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._path = path
        self._lease_s = lease_s
        self._retention_s = retention_s
        self._clock = clock
        self._db: sqlite3.Connection | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="idempotency")
        self._queue: list[_Op] = []
        self._flushing = False
        self._flusher: asyncio.Task[None] | None = None
        self._last_purge = 0.0
        self.owner = new_owner_id()

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self._db = await loop.run_in_executor(self._thread, self._connect)

    def _connect(self) -> sqlite3.Connection:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        db.execute("UPDATE claims SET lease_until = 0 WHERE result IS NULL")
        return db

    # --- group commit --------------------------------------------------------------------

    def _submit(self, run: Callable[[sqlite3.Connection, float], Any]) -> asyncio.Future[Any]:
        if self._db is None:
            raise RuntimeError("idempotency store is not open")
        op = _Op(run)
        self._queue.append(op)
        if not self._flushing:
            self._flushing = True
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        return op.future

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._queue:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                try:
                    answers = await loop.run_in_executor(self._thread, self._transaction, batch)
                except Exception as error:  # the whole transaction failed: every caller learns
                    for op in batch:
                        if not op.future.done():
                            op.future.set_exception(error)
                    continue
                for op, answer in zip(batch, answers, strict=True):
                    if not op.future.done():
                        op.future.set_result(answer)
        finally:
            self._flushing = False

    def _transaction(self, batch: list[_Op]) -> list[Any]:
        db = self._db
        assert db is not None
        now = self._clock()
        db.execute("BEGIN IMMEDIATE")
        try:
            answers = [op.run(db, now) for op in batch]
            if now - self._last_purge >= PURGE_EVERY_S:
                db.execute("DELETE FROM claims WHERE expires_at <= ?", (now,))
                self._last_purge = now
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return answers

    # --- operations ----------------------------------------------------------------------

    async def claim(self, command_id: str, fingerprint: str) -> Claim:
        def run(db: sqlite3.Connection, now: float) -> Claim:
            row = db.execute(
                "SELECT fingerprint, owner, lease_until, expires_at, result FROM claims "
                "WHERE command_id = ?",
                (command_id,),
            ).fetchone()
            claim, owned = decide(Entry(*row) if row else None, fingerprint, now)
            if owned:
                db.execute(
                    "INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?, NULL)",
                    (
                        command_id,
                        fingerprint,
                        self.owner,
                        now + self._lease_s,
                        now + self._retention_s,
                    ),
                )
            return claim

        result: Claim = await self._submit(run)
        return result

    async def complete(self, command_id: str, fingerprint: str, result: bytes) -> None:
        def run(db: sqlite3.Connection, now: float) -> None:
            db.execute(
                "INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?, ?)",
                (command_id, fingerprint, self.owner, now, now + self._retention_s, result),
            )

        await self._submit(run)

    async def renew(self, command_ids: Iterable[str]) -> None:
        ids = list(command_ids)
        if not ids:
            return

        def run(db: sqlite3.Connection, now: float) -> None:
            db.executemany(
                "UPDATE claims SET lease_until = ? "
                "WHERE command_id = ? AND owner = ? AND result IS NULL",
                [(now + self._lease_s, command_id, self.owner) for command_id in ids],
            )

        await self._submit(run)

    async def release(self, command_id: str) -> None:
        def run(db: sqlite3.Connection, _: float) -> None:
            db.execute(
                "DELETE FROM claims WHERE command_id = ? AND owner = ? AND result IS NULL",
                (command_id, self.owner),
            )

        await self._submit(run)

    async def healthy(self) -> bool:
        return True  # a local file: an outage shows as failing writes, waited out per command

    async def close(self) -> None:
        if self._flusher is not None:
            await self._flusher
        if self._db is not None:
            db, self._db = self._db, None
            await asyncio.get_running_loop().run_in_executor(self._thread, db.close)
        self._thread.shutdown(wait=True)
