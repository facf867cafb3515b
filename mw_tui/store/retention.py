"""Retention: studies go N days after their last use, never while a job holds them.

A study's last use is the later of its last received instance (`studies.updated_at`)
and its last `touch()` (the job runner touches the studies of every job it runs).
A job `hold()`s the studies it needs when it is created and `release()`s them when it
ends; `purge()` never deletes a held study. Holds and use times live in the store's
index (tables `holds` and `study_use`), so every process sees the same ones. A caller
may also pass `in_use` (e.g. `JobQueue.studies_in_use`): studies unfinished jobs need,
asked again right before each deletion.
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from mw_tui.config import Config
from mw_tui.store.ingest import Store

log = logging.getLogger(__name__)

DAY = 86400.0
InUse = Callable[[], Iterable[str]]  # study UIDs that unfinished jobs need
PURGE_INTERVAL = 3600.0  # the retention service looks for expired studies this often

SCHEMA = """
CREATE TABLE IF NOT EXISTS holds (
    study_uid TEXT NOT NULL,
    owner TEXT NOT NULL,
    since REAL NOT NULL,
    PRIMARY KEY (study_uid, owner)
);
CREATE INDEX IF NOT EXISTS holds_owner ON holds(owner);
CREATE TABLE IF NOT EXISTS study_use (
    study_uid TEXT PRIMARY KEY,
    last_used REAL NOT NULL
);
"""

_LAST_USED = "max(s.updated_at, coalesce((SELECT u.last_used FROM study_use u " \
             "WHERE u.study_uid = s.study_uid), 0))"
_HELD = "EXISTS (SELECT 1 FROM holds h WHERE h.study_uid = s.study_uid)"


@dataclass(frozen=True, slots=True)
class ExpiredStudy:
    study_uid: str
    last_used: float
    instances: int
    size_bytes: int
    held_by: tuple[str, ...]  # jobs holding it (then it is kept)


@dataclass(frozen=True, slots=True)
class PurgeReport:
    deleted: tuple[ExpiredStudy, ...]
    kept: tuple[ExpiredStudy, ...]  # expired but held by a job
    dry_run: bool

    @property
    def files(self) -> int:
        return sum(s.instances for s in self.deleted)

    @property
    def size_bytes(self) -> int:
        return sum(s.size_bytes for s in self.deleted)


class Retention:
    """Holds, last-use times and purging for one store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        with store.index.transaction() as db:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)

    # -- what jobs call ------------------------------------------------------------

    def hold(self, study_uid: str, owner: str) -> None:
        """`owner` (a job) needs the study: purge keeps it until `release(owner)`."""
        with self.store.index.transaction() as db:
            db.execute("INSERT OR IGNORE INTO holds (study_uid, owner, since) VALUES (?, ?, ?)",
                       (study_uid, owner, time.time()))

    def release(self, owner: str, study_uid: str | None = None) -> int:
        """Drop the holds of `owner` (on one study, or all); returns how many went."""
        with self.store.index.transaction() as db:
            if study_uid is None:
                cur = db.execute("DELETE FROM holds WHERE owner = ?", (owner,))
            else:
                cur = db.execute("DELETE FROM holds WHERE owner = ? AND study_uid = ?",
                                 (owner, study_uid))
            return cur.rowcount

    def holders(self, study_uid: str) -> tuple[str, ...]:
        with self.store.index.transaction() as db:
            rows = db.execute("SELECT owner FROM holds WHERE study_uid = ? ORDER BY since",
                              (study_uid,)).fetchall()
        return tuple(r[0] for r in rows)

    def touch(self, study_uid: str, when: float | None = None) -> None:
        """The study was used now (a job ran with it): its retention starts again."""
        when = time.time() if when is None else when
        with self.store.index.transaction() as db:
            db.execute("INSERT INTO study_use (study_uid, last_used) VALUES (?, ?) "
                       "ON CONFLICT (study_uid) DO UPDATE SET last_used = "
                       "max(last_used, excluded.last_used)", (study_uid, when))

    def last_used(self, study_uid: str) -> float | None:
        with self.store.index.transaction() as db:
            row = db.execute(f"SELECT {_LAST_USED} FROM studies s WHERE s.study_uid = ?",
                             (study_uid,)).fetchone()
        return float(row[0]) if row else None

    # -- purging -------------------------------------------------------------------

    def expired(self, days: float, now: float | None = None) -> list[ExpiredStudy]:
        """Studies not used for `days` days, held or not, least recently used first."""
        cutoff = (time.time() if now is None else now) - days * DAY
        with self.store.index.transaction() as db:
            rows = db.execute(
                f"SELECT s.study_uid, {_LAST_USED} AS last, "
                "(SELECT count(*) FROM instances i JOIN series se ON i.series_uid = "
                " se.series_uid WHERE se.study_uid = s.study_uid), "
                "(SELECT coalesce(sum(i.size), 0) FROM instances i JOIN series se ON "
                " i.series_uid = se.series_uid WHERE se.study_uid = s.study_uid), "
                "(SELECT group_concat(h.owner, '\n') FROM holds h "
                " WHERE h.study_uid = s.study_uid) "
                "FROM studies s WHERE last < ? ORDER BY last", (cutoff,)).fetchall()
        return [ExpiredStudy(r[0], r[1], r[2], r[3], tuple(r[4].split("\n")) if r[4] else ())
                for r in rows]

    def purge(self, days: float, dry_run: bool = False, now: float | None = None,
              in_use: InUse | None = None) -> PurgeReport:
        """Delete the studies unused for `days` days that no job holds (nor `in_use()`)."""
        if not dry_run:
            self.store.empty_trash()
        now = time.time() if now is None else now
        cutoff = now - days * DAY
        deleted, kept = [], []
        for study in self.expired(days, now):
            if not study.held_by and in_use is not None and study.study_uid in set(in_use()):
                study = dataclasses.replace(study, held_by=("an unfinished job",))
            if study.held_by:
                kept.append(study)
                continue
            if dry_run:
                deleted.append(study)
                continue
            gone = self.store.delete_study(study.study_uid, unless=_used_or_held(cutoff,
                                                                              study.study_uid))
            if gone < 0:
                continue  # used or held meanwhile
            deleted.append(study)
            with self.store.index.transaction() as db:
                db.execute("DELETE FROM study_use WHERE study_uid = ?", (study.study_uid,))
        if deleted and not dry_run:
            log.info("retention: deleted %d studies (%d files, %d MB) unused for %g days",
                     len(deleted), sum(s.instances for s in deleted),
                     sum(s.size_bytes for s in deleted) // 1_000_000, days)
        if kept:
            log.info("retention: kept %d expired studies that jobs still hold", len(kept))
        return PurgeReport(tuple(deleted), tuple(kept), dry_run)


def _used_or_held(cutoff: float, study_uid: str) -> Callable[[sqlite3.Connection], bool]:
    """Asked inside the deleting transaction: has the study been used or held since?"""

    def check(db: sqlite3.Connection) -> bool:
        row = db.execute(f"SELECT {_LAST_USED}, {_HELD} FROM studies s WHERE s.study_uid = ?",
                         (study_uid,)).fetchone()
        return row is None or row[0] >= cutoff or bool(row[1])

    return check


class RetentionService:
    """Purges expired studies at start and then every hour (a plain thread)."""

    def __init__(self, config: Config, interval: float = PURGE_INTERVAL,
                 on_purged: Callable[[PurgeReport], None] | None = None,
                 in_use: InUse | None = None) -> None:
        self.config = config
        self.interval = interval
        self.on_purged = on_purged
        self.in_use = in_use
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None or self.config.retention.days <= 0:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="retention", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None

    def run_once(self) -> PurgeReport:
        store = Store(self.config.storage, self.config.station.min_free_mb)
        try:
            return Retention(store).purge(self.config.retention.days, in_use=self.in_use)
        finally:
            store.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                report = self.run_once()
                if self.on_purged is not None and report.deleted:
                    self.on_purged(report)
            except Exception:  # a full disk or a locked index: try again next time
                log.exception("retention: purging expired studies failed")
            self._stop.wait(self.interval)
