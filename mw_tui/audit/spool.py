"""The audit spool: every message is kept here until the repository has it.

One SQLite file (WAL, synchronous FULL, mode 0600: it holds patient data) in the folder
the caller gives. Rows are delivered in id order (AUTOINCREMENT: ids never come back);
a delivered row is deleted. Several processes may add; only one delivers (`DeliveryLock`).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from pathlib import Path

SPOOL_NAME = "audit-spool.sqlite"
LOCK_NAME = "audit-spool.lock"

SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    message BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS undeliverable (
    id INTEGER PRIMARY KEY,
    created REAL NOT NULL,
    message BLOB NOT NULL,
    reason TEXT NOT NULL
);
"""


def _private_file(path: Path) -> None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)


class Spool:
    """Messages waiting for the repository, first in first out; safe across threads."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.path = folder / SPOOL_NAME
        _private_file(self.path)
        self._local = threading.local()
        self._db().executescript(SCHEMA)

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=5, isolation_level=None,
                                 check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            self._local.db = db
        return db

    def add(self, message: bytes, created: float | None = None) -> int:
        """Keep `message` (on disk when this returns); its id."""
        cur = self._db().execute("INSERT INTO spool (created, message) VALUES (?, ?)",
                                 (time.time() if created is None else created, message))
        return int(cur.lastrowid or 0)

    def first(self, limit: int = 100) -> list[tuple[int, bytes]]:
        """The oldest messages, in order."""
        rows = self._db().execute("SELECT id, message FROM spool ORDER BY id LIMIT ?",
                                  (limit,)).fetchall()
        return [(int(i), bytes(m)) for i, m in rows]

    def remove(self, message_id: int) -> None:
        self._db().execute("DELETE FROM spool WHERE id = ?", (message_id,))

    def set_aside(self, message_id: int, reason: str) -> None:
        """Move a message that can never be delivered out of the way (kept, with why)."""
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("INSERT OR REPLACE INTO undeliverable (id, created, message, reason) "
                       "SELECT id, created, message, ? FROM spool WHERE id = ?",
                       (reason, message_id))
            db.execute("DELETE FROM spool WHERE id = ?", (message_id,))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def count(self) -> int:
        return int(self._db().execute("SELECT count(*) FROM spool").fetchone()[0])

    def undeliverable(self) -> list[tuple[bytes, str]]:
        rows = self._db().execute("SELECT message, reason FROM undeliverable ORDER BY id")
        return [(bytes(m), str(r)) for m, r in rows]

    def close(self) -> None:
        """Close this thread's connection."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


class DeliveryLock:
    """Held by the one sender that delivers a spool (an flock, released when it stops)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
