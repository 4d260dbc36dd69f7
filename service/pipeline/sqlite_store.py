"""Embedded idempotency store on SQLite: the default, for a single replica.

It survives a restart of its replica (the file lives on a volume). It is not shared: with more
than one replica use the Redis store, or a rebalance can hand a call to a replica that never
saw its earlier commands. Every operation runs as one transaction on one dedicated thread, so a
claim is atomic. At open, claims left unfinished by an earlier process of this replica are
expired at once: that process is gone (kill -9, OOM), so waiting for its leases helps no one.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from service.pipeline.idempotency import Claim, Entry, decide, new_owner_id

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
        self._last_purge = 0.0
        self.owner = new_owner_id()

    async def open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self._path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        db.execute("UPDATE claims SET lease_until = 0 WHERE result IS NULL")
        self._db = db

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("idempotency store is not open")
        return self._db

    async def claim(self, command_id: str, fingerprint: str) -> Claim:
        db = self._conn
        now = self._clock()
        db.execute("BEGIN IMMEDIATE")
        try:
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
            self._maybe_purge(now)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return claim

    def _maybe_purge(self, now: float) -> None:
        if now - self._last_purge >= PURGE_EVERY_S:
            self._conn.execute("DELETE FROM claims WHERE expires_at <= ?", (now,))
            self._last_purge = now

    async def complete(self, command_id: str, fingerprint: str, result: bytes) -> None:
        now = self._clock()
        self._conn.execute(
            "INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?, ?)",
            (command_id, fingerprint, self.owner, now, now + self._retention_s, result),
        )

    async def renew(self, command_ids: Iterable[str]) -> None:
        until = self._clock() + self._lease_s
        self._conn.executemany(
            "UPDATE claims SET lease_until = ? "
            "WHERE command_id = ? AND owner = ? AND result IS NULL",
            [(until, command_id, self.owner) for command_id in command_ids],
        )

    async def release(self, command_id: str) -> None:
        self._conn.execute(
            "DELETE FROM claims WHERE command_id = ? AND owner = ? AND result IS NULL",
            (command_id, self.owner),
        )

    async def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
