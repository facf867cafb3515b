"""Where the station keeps the media creation requests it was sent: one row per request
(its SOP Instance UID, who sent it, what it asks, its job), in a SQLite file of the
storage folder shared by the receiver's worker processes and the station."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mw_tui.dicom.mcm import FailedInstance, MediaRequest
from mw_tui.util.sqlite import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    uid TEXT PRIMARY KEY,
    caller TEXT NOT NULL,
    created_at REAL NOT NULL,
    request TEXT NOT NULL,
    job_id INTEGER NOT NULL DEFAULT 0,
    initiated INTEGER NOT NULL DEFAULT 0,
    cancelled INTEGER NOT NULL DEFAULT 0,
    failure TEXT NOT NULL DEFAULT '',
    failed TEXT NOT NULL DEFAULT '[]'
);
"""

_COLUMNS = "uid, caller, created_at, request, job_id, initiated, cancelled, failure, failed"


@dataclass(frozen=True, slots=True)
class RequestRecord:
    uid: str
    caller: str
    created_at: float
    request: MediaRequest
    job_id: int = 0  # 0: no job yet (instances not found when it was created)
    initiated: bool = False
    cancelled: bool = False  # cancelled before it had a job
    failure: str = ""  # Execution Status Info of a request that failed without a job
    failed: tuple[FailedInstance, ...] = ()


def _record(r: tuple[Any, ...]) -> RequestRecord:
    return RequestRecord(r[0], r[1], r[2], MediaRequest.from_dict(json.loads(r[3])), r[4],
                         bool(r[5]), bool(r[6]), r[7],
                         tuple(FailedInstance(*f) for f in json.loads(r[8])))


class RequestBook(Database):
    """The requests, safe across threads and processes (SQLite WAL)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(path, SCHEMA, synchronous="FULL")

    def add(self, uid: str, caller: str, request: MediaRequest) -> bool:
        """Record a new request; False when one with this UID exists already."""
        with self.transaction() as db:
            cur = db.execute("INSERT OR IGNORE INTO requests (uid, caller, created_at, request) "
                             "VALUES (?, ?, ?, ?)",
                             (uid, caller, time.time(), json.dumps(request.to_dict())))
            return cur.rowcount == 1

    def remove(self, uid: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM requests WHERE uid = ?", (uid,))

    def get(self, uid: str) -> RequestRecord | None:
        r = self.connect().execute(f"SELECT {_COLUMNS} FROM requests WHERE uid = ?",
                                   (uid,)).fetchone()
        return None if r is None else _record(r)

    def attach(self, uid: str, job_id: int) -> None:
        with self.transaction() as db:
            db.execute("UPDATE requests SET job_id = ? WHERE uid = ?", (job_id, uid))

    def initiate(self, uid: str) -> bool:
        """Mark the request initiated; False when it was already (two Initiates at once:
        one wins)."""
        with self.transaction() as db:
            cur = db.execute("UPDATE requests SET initiated = 1 WHERE uid = ? AND initiated = 0",
                             (uid,))
            return cur.rowcount == 1

    def uninitiate(self, uid: str) -> None:
        """Undo `initiate` (starting the request failed before its job was queued): it may
        be initiated again."""
        with self.transaction() as db:
            db.execute("UPDATE requests SET initiated = 0 WHERE uid = ?", (uid,))

    def cancel(self, uid: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE requests SET cancelled = 1 WHERE uid = ?", (uid,))

    def fail(self, uid: str, failure: str, failed: tuple[FailedInstance, ...]) -> None:
        with self.transaction() as db:
            db.execute("UPDATE requests SET failure = ?, failed = ? WHERE uid = ?",
                       (failure, json.dumps([[f.sop_class, f.sop_instance, f.reason]
                                             for f in failed]), uid))
