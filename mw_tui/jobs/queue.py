"""The job queue in SQLite: every state change is persisted before it is acted upon."""

from __future__ import annotations

import builtins
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mw_tui.jobs.models import (
    Job,
    JobOptions,
    JobProblem,
    JobState,
    Progress,
    StudyRef,
    Target,
    VolumeRecord,
    dump_studies,
    dump_volumes,
    load_studies,
    load_volumes,
)
from mw_tui.util.listeners import Listeners
from mw_tui.util.sqlite import Database

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    state TEXT NOT NULL,
    target TEXT NOT NULL,
    profile TEXT NOT NULL,
    studies TEXT NOT NULL,
    patient_name TEXT NOT NULL DEFAULT '',
    patient_id TEXT NOT NULL DEFAULT '',
    copies INTEGER NOT NULL DEFAULT 1,
    label TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',
    progress_done REAL NOT NULL DEFAULT 0,
    progress_total REAL NOT NULL DEFAULT 0,
    progress_message TEXT NOT NULL DEFAULT '',
    volumes TEXT NOT NULL DEFAULT '[]',
    requested_by TEXT NOT NULL DEFAULT '',
    rule TEXT NOT NULL DEFAULT '',
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    next_try_at REAL NOT NULL DEFAULT 0,
    options TEXT NOT NULL DEFAULT '{}',
    problem TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE TABLE IF NOT EXISTS job_events (
    id INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL REFERENCES jobs(id),
    at REAL NOT NULL,
    state TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS job_events_job ON job_events(job_id);
"""

# Which state may follow which (anything unfinished may also fail or be cancelled).
_NEXT: dict[JobState, set[JobState]] = {
    JobState.HELD: {JobState.QUEUED},
    JobState.QUEUED: {JobState.RETRIEVING, JobState.BUILDING, JobState.READING},
    JobState.RETRIEVING: {JobState.BUILDING, JobState.QUEUED},
    JobState.BUILDING: {JobState.WAITING_FOR_MEDIA, JobState.WRITING, JobState.RETRIEVING},
    JobState.WAITING_FOR_MEDIA: {JobState.WRITING},
    JobState.WRITING: {JobState.VERIFYING, JobState.WAITING_FOR_MEDIA},
    JobState.VERIFYING: {JobState.DONE, JobState.WAITING_FOR_MEDIA, JobState.WRITING},
    # an import: read the medium, send, count (back to reading when the medium read is lost)
    JobState.READING: {JobState.SENDING},
    JobState.SENDING: {JobState.COUNTING, JobState.READING},
    JobState.COUNTING: {JobState.DONE, JobState.READING},
}

Listener = Callable[[Job], None]


class InvalidTransition(Exception):
    pass


NOTIFY_EVERY = 0.05  # seconds between two progress notifications of a job

_COLUMNS = ("id, state, target, profile, studies, patient_name, patient_id, copies, label, "
            "created_at, updated_at, attempts, error, progress_done, progress_total, "
            "progress_message, volumes, requested_by, rule, cancel_requested, next_try_at, "
            "options, problem")


def _job(r: tuple[Any, ...]) -> Job:
    return Job(
        id=r[0], state=JobState(r[1]), target=Target.parse(r[2]) if r[2] else None,
        profile=r[3],
        studies=load_studies(r[4]), patient_name=r[5], patient_id=r[6], copies=r[7],
        label=r[8], created_at=r[9], updated_at=r[10], attempts=r[11], error=r[12],
        progress=Progress(r[13], r[14], r[15]), volumes=load_volumes(r[16]),
        requested_by=r[17], rule=r[18], cancel_requested=bool(r[19]), next_try_at=r[20],
        options=JobOptions.from_json(r[21]), problem=JobProblem(r[22]),
    )


class JobQueue(Database):
    """Persistent jobs, safe across threads and processes (SQLite WAL)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._listeners: Listeners[Job] = Listeners("job queue")
        self._progress_written: dict[int, float] = {}
        self._progress_told: dict[int, float] = {}
        # a job's state must survive a power cut: every commit is synced
        super().__init__(path, SCHEMA, synchronous="FULL")
        self._migrate()

    def _migrate(self) -> None:
        """Columns added since a database was created."""
        db = self.connect()
        have = {r[1] for r in db.execute("PRAGMA table_info(jobs)")}
        for column, default in (("options", "'{}'"), ("problem", "''")):
            if column in have:
                continue
            try:
                db.execute(f"ALTER TABLE jobs ADD COLUMN {column} TEXT NOT NULL DEFAULT "
                           f"{default}")
            except sqlite3.OperationalError as exc:  # another process added it meanwhile
                if "duplicate column" not in str(exc):
                    raise

    # -- listeners (in this process) ---------------------------------------------------

    def subscribe(self, listener: Listener) -> None:
        self._listeners.add(listener)

    def unsubscribe(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    def _notify(self, job: Job) -> None:
        self._listeners.tell(job)

    def announce(self, job_id: int) -> None:
        """Tell this process's subscribers of a job another process made or changed."""
        try:
            self._notify(self.get(job_id))
        except KeyError:
            pass

    def version(self) -> int:
        """A number that changes whenever another connection (another process) commits a
        change: what a process following a job run elsewhere polls, cheaply."""
        return int(self.connect().execute("PRAGMA data_version").fetchone()[0])

    # -- creating and reading -----------------------------------------------------------

    def create(self, target: Target | None, profile: str, studies: tuple[StudyRef, ...],
               patient_name: str = "", patient_id: str = "", copies: int = 1, label: str = "",
               requested_by: str = "", rule: str = "", options: JobOptions | None = None,
               held: bool = False) -> Job:
        """A new job, QUEUED (the runner takes it up) or `held` until `release()`. An
        import job (`options.importing`) has no target, and its studies may be known only
        once its medium is read."""
        importing = options is not None and options.importing is not None
        if (target is None) != importing:
            raise ValueError("a job writing media needs a target; an import job has none")
        if not studies and not importing:
            raise ValueError("a job needs at least one study")
        if not 1 <= copies <= 99:
            raise ValueError("copies must be from 1 to 99")
        now = time.time()
        state = JobState.HELD if held else JobState.QUEUED
        what = (f"created for {target}" if options is None or options.importing is None
                else f"import into {options.importing.plan.destination}")
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO jobs (state, target, profile, studies, patient_name, patient_id, "
                "copies, label, created_at, updated_at, requested_by, rule, options) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (state.value, str(target or ""), profile, dump_studies(studies),
                 patient_name, patient_id, copies, label, now, now, requested_by, rule,
                 (options or JobOptions()).to_json()))
            job_id = int(cur.lastrowid or 0)
            db.execute("INSERT INTO job_events (job_id, at, state, message) VALUES (?,?,?,?)",
                       (job_id, now, state.value,
                        what + (", waiting to be started" if held else "")))
        job = self.get(job_id)
        self._notify(job)
        return job

    def get(self, job_id: int) -> Job:
        r = self.connect().execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?",
                               (job_id,)).fetchone()
        if r is None:
            raise KeyError(f"no job {job_id}")
        return _job(r)

    def list(self, active_only: bool = False, limit: int = 500) -> list[Job]:
        where = "WHERE state NOT IN ('done', 'failed', 'cancelled')" if active_only else ""
        rows = self.connect().execute(f"SELECT {_COLUMNS} FROM jobs {where} ORDER BY id DESC "
                                  "LIMIT ?", (limit,)).fetchall()
        return [_job(r) for r in rows]

    def events(self, job_id: int) -> builtins.list[tuple[float, str, str]]:
        return [(a, s, m) for a, s, m in self.connect().execute(
            "SELECT at, state, message FROM job_events WHERE job_id = ? ORDER BY id",
            (job_id,))]

    def studies_in_use(self) -> set[str]:
        """Study UIDs that unfinished jobs need (retention must keep them)."""
        out: set[str] = set()
        for job in self.list(active_only=True):
            out.update(s.study_uid for s in job.studies)
        return out

    # -- changing -------------------------------------------------------------------------

    def transition(self, job_id: int, state: JobState, message: str = "",
                   error: str = "", problem: JobProblem = JobProblem.OTHER) -> Job:
        """Move a job to `state` (persisted, with an event); InvalidTransition if not allowed.
        A failure may say why as a code too (`problem`)."""
        with self.transaction() as db:
            current = self._unfinished_state(db, job_id)
            if state not in _NEXT.get(current, set()) | {JobState.FAILED, JobState.CANCELLED,
                                                         current}:
                raise InvalidTransition(f"job {job_id}: {current.value} -> {state.value}")
            self._set_state(db, job_id, state, message, error)
            if problem:
                db.execute("UPDATE jobs SET problem = ? WHERE id = ?", (problem.value, job_id))
        job = self.get(job_id)
        self._notify(job)
        return job

    @staticmethod
    def _unfinished_state(db: sqlite3.Connection, job_id: int) -> JobState:
        """The job's state (in the caller's transaction); KeyError, or InvalidTransition
        when the job is over."""
        r = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if r is None:
            raise KeyError(f"no job {job_id}")
        current = JobState(r[0])
        if current.finished:
            raise InvalidTransition(f"job {job_id} is already {current.value}")
        return current

    @staticmethod
    def _set_state(db: sqlite3.Connection, job_id: int, state: JobState, message: str,
                   error: str = "") -> None:
        now = time.time()
        db.execute("UPDATE jobs SET state = ?, updated_at = ?, error = ?, "
                   "progress_done = 0, progress_total = 0, progress_message = ? "
                   "WHERE id = ?", (state.value, now, error, message, job_id))
        db.execute("INSERT INTO job_events (job_id, at, state, message) VALUES (?,?,?,?)",
                   (job_id, now, state.value, error or message))

    def progress(self, job_id: int, progress: Progress, persist_every: float = 1.0) -> None:
        """Update the current step's progress; written to disk at most every second, told
        to subscribers at most every NOTIFY_EVERY seconds (and always at 0 % and 100 %):
        a retrieve reports every image, which no screen needs."""
        now = time.monotonic()
        ends = progress.done <= 0 or progress.done >= progress.total
        if not ends and now - self._progress_told.get(job_id, 0.0) < NOTIFY_EVERY:
            return
        self._progress_told[job_id] = now
        if now - self._progress_written.get(job_id, 0.0) >= persist_every:
            self._progress_written[job_id] = now
            with self.transaction() as db:
                db.execute("UPDATE jobs SET progress_done = ?, progress_total = ?, "
                           "progress_message = ?, updated_at = ? WHERE id = ?",
                           (progress.done, progress.total, progress.message, time.time(),
                            job_id))
        self._notify(self.get(job_id).with_(progress=progress))

    def note(self, job_id: int, message: str) -> None:
        """Record a message in the job's history without changing its state."""
        job = self.get(job_id)
        with self.transaction() as db:
            db.execute("INSERT INTO job_events (job_id, at, state, message) VALUES (?,?,?,?)",
                       (job_id, time.time(), job.state.value, message))

    def update(self, job_id: int, *, volumes: tuple[VolumeRecord, ...] | None = None,
               studies: tuple[StudyRef, ...] | None = None, attempts: int | None = None,
               next_try_at: float | None = None, error: str | None = None,
               patient_name: str | None = None, patient_id: str | None = None,
               copies: int | None = None, options: JobOptions | None = None) -> Job:
        sets, values = [], []
        for column, value in (("volumes", None if volumes is None else dump_volumes(volumes)),
                              ("studies", None if studies is None else dump_studies(studies)),
                              ("attempts", attempts), ("next_try_at", next_try_at),
                              ("error", error), ("patient_name", patient_name),
                              ("patient_id", patient_id), ("copies", copies),
                              ("options", None if options is None else options.to_json())):
            if value is not None:
                sets.append(f"{column} = ?")
                values.append(value)
        if sets:
            with self.transaction() as db:
                db.execute(f"UPDATE jobs SET {', '.join(sets)}, updated_at = ? WHERE id = ?",
                           (*values, time.time(), job_id))
        job = self.get(job_id)
        self._notify(job)
        return job

    def request_cancel(self, job_id: int) -> Job:
        """Ask for a job to stop; a queued job is cancelled at once."""
        return self.cancel(job_id)[0]

    def cancel(self, job_id: int) -> tuple[Job, bool]:
        """Ask for a job to stop; a queued job is cancelled at once (then the second value
        is True: the caller records it; a running job is ended, and recorded, by its
        runner). One transaction, so a runner taking the job up at that moment sees either
        the request or the cancel."""
        with self.transaction() as db:
            current = self._unfinished_state(db, job_id)
            db.execute("UPDATE jobs SET cancel_requested = 1, updated_at = ? WHERE id = ?",
                       (time.time(), job_id))
            if current in (JobState.QUEUED, JobState.HELD):
                self._set_state(db, job_id, JobState.CANCELLED, "cancelled before it started")
        job = self.get(job_id)
        self._notify(job)
        return job, current in (JobState.QUEUED, JobState.HELD)
