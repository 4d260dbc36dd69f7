"""Embedded idempotency store on SQLite: the default, for a single replica.

It survives a restart of its replica (the file lives on a volume). It is not shared: with more
than one replica use the Redis store, or a rebalance can hand a call to a replica that never
saw its earlier commands. At open, claims left unfinished by an earlier process of this
replica are expired at once: that process is gone (kill -9, OOM), so waiting for its leases
helps no one.

Group commit on the event loop: the operations asked for during one pass of the loop queue up,
and one callback at the end of that pass runs them all as a single transaction (a few µs per
statement, one WAL write, no fsync: `synchronous=NORMAL`), then answers each caller. A claim is
still atomic (one writer, its read and write in one transaction), and an operation's answer
still means it is in the WAL, safe from a crash of the process.

Why not a worker thread, as before: every hand-over to a thread and back waits for the GIL,
up to the 5 ms switch interval each way while the loop is busy, so a command waited ~35 ms for
its claim on a busy loop (A/B in bench/results/2026-12-01-perf-findings.md). What made
statements on the loop expensive then, the checkpoints (fsync) and the purge of expired claims,
stays off it: the loop's connection never checkpoints (`wal_autocheckpoint=0`); a thread with
its own connection checkpoints every `CHECKPOINT_EVERY_S` (PASSIVE: it never takes the write
lock, so the loop never waits for it), and expired claims are purged in bounded chunks.
"""

from __future__ import annotations

import asyncio
import contextlib
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
PURGE_EVERY_S = 0.5
PURGE_CHUNK = 1000  # rows per purge: at most a millisecond or two on the loop
CHECKPOINT_EVERY_S = 1.0
BUSY_TIMEOUT_S = 0.2
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
        self._flush_due = False
        self._checkpoints: asyncio.Task[None] | None = None
        self._last_purge = 0.0
        self.owner = new_owner_id()

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        # Opened (schema, recovery) in the thread: it may take a while on a large file.
        self._db = await loop.run_in_executor(self._thread, self._connect)
        self._checkpoints = loop.create_task(self._checkpoint_every(), name="sqlite-checkpoint")

    def _connect(self) -> sqlite3.Connection:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        # A short busy timeout: statements run on the event loop, which must never wait long
        # for a lock (only another process could hold it); a failed claim is asked again.
        db = sqlite3.connect(
            self._path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_S
        )
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA wal_autocheckpoint=0")  # the checkpoint thread's job, not the loop's
        db.executescript(_SCHEMA)
        db.execute("UPDATE claims SET lease_until = 0 WHERE result IS NULL")
        return db

    async def _checkpoint_every(self) -> None:
        loop = asyncio.get_running_loop()
        checkpointer = await loop.run_in_executor(self._thread, self._checkpointer)
        try:
            while True:
                await asyncio.sleep(CHECKPOINT_EVERY_S)
                try:
                    await loop.run_in_executor(
                        self._thread, checkpointer.execute, "PRAGMA wal_checkpoint(PASSIVE)"
                    )
                except sqlite3.Error:
                    continue  # the next one catches up; the WAL only grows meanwhile
        finally:
            await loop.run_in_executor(self._thread, checkpointer.close)

    def _checkpointer(self) -> sqlite3.Connection:
        return sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)

    # --- group commit --------------------------------------------------------------------

    def _submit(self, run: Callable[[sqlite3.Connection, float], Any]) -> asyncio.Future[Any]:
        if self._db is None:
            raise RuntimeError("idempotency store is not open")
        op = _Op(run)
        self._queue.append(op)
        if not self._flush_due:
            self._flush_due = True
            # After the callbacks already scheduled: what they submit shares the transaction.
            asyncio.get_running_loop().call_soon(self._flush)
        return op.future

    def _flush(self) -> None:
        self._flush_due = False
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            try:
                answers = self._transaction(batch)
            except Exception as error:  # the whole transaction failed: every caller learns
                for op in batch:
                    if not op.future.done():
                        op.future.set_exception(error)
                continue
            for op, answer in zip(batch, answers, strict=True):
                if not op.future.done():
                    op.future.set_result(answer)

    def _transaction(self, batch: list[_Op]) -> list[Any]:
        db = self._db
        if db is None:
            raise RuntimeError("idempotency store is closed")
        now = self._clock()
        db.execute("BEGIN IMMEDIATE")
        try:
            answers = [op.run(db, now) for op in batch]
            if now - self._last_purge >= PURGE_EVERY_S:
                db.execute(
                    "DELETE FROM claims WHERE command_id IN "
                    "(SELECT command_id FROM claims WHERE expires_at <= ? LIMIT ?)",
                    (now, PURGE_CHUNK),
                )
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
        if self._queue:
            self._flush()
        if self._checkpoints is not None:
            self._checkpoints.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpoints
        if self._db is not None:
            db, self._db = self._db, None
            await asyncio.get_running_loop().run_in_executor(self._thread, db.close)
        self._thread.shutdown(wait=True)
