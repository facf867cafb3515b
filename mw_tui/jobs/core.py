"""What every step of the job runner shares: its parts, and how a job's state moves."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mw_tui.config import Config
from mw_tui.devices.models import Device
from mw_tui.jobs.audit import AuditLog
from mw_tui.jobs.models import Job, JobState, Progress, TargetKind
from mw_tui.jobs.queue import InvalidTransition, JobQueue
from mw_tui.media.profiles import MEDIA
from mw_tui.media.volume import Volume
from mw_tui.store import Store
from mw_tui.store.sync import failed_message

log = logging.getLogger("mw_tui.jobs.runner")

LOCK_NAME = "jobs.lock"
MEDIA_RECHECK = 1.0  # seconds between checks while waiting for a disc or a stick


class RunnerBusy(Exception):
    """Another runner (the kiosk, or another `mw-tui burn`) owns the jobs database."""


class Stopped(Exception):
    """The step ends here: the runner is shutting down (the job resumes at the next start)
    or the job was cancelled or failed (already recorded)."""


class StepCancel:
    """Set by a user's cancel or by shutdown; steps poll `is_set()`."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.by_user = False

    def is_set(self) -> bool:
        return self.event.is_set()


class StoreSync:
    """`Store.make_durable()` on a thread of its own, once a job is over.

    The images a job retrieved are still in their archive (see `store.sync`): neither its
    medium nor the job waits for them to reach the disk (the build would compete with that
    sync for it). The sync starts `delay` seconds after the job, so a `mw-tui burn` that
    exits at once is not held up by it (the kernel writes the images back by itself, and
    the next start settles their marks). Until they are on disk, a power cut costs at most
    retrieving them again: the next start keeps those that read back as written, drops
    the others, and a job that needs them goes back to retrieving. A write error is
    logged for the support engineer; the jobs' media are verified on their own.
    """

    def __init__(self, store: Store, delay: float = 1.0) -> None:
        self.store = store
        self.delay = delay
        self._lock = threading.Lock()
        self._wanted = False
        self._thread: threading.Thread | None = None

    def request(self) -> None:
        with self._lock:
            self._wanted = True
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="store-sync",
                                                daemon=True)
                self._thread.start()

    def wait(self) -> None:
        """Until every requested sync is over (tests, and a runner told to finish them)."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        time.sleep(self.delay)  # a pause on a thread of its own, not a wait for something
        while True:
            with self._lock:
                if not self._wanted:
                    self._thread = None
                    return
                self._wanted = False
            try:
                self.store.make_durable()
            except OSError as exc:
                log.error("store: %s", failed_message(self.store.root, exc))


def work_root(config: Config) -> Path:
    """Where the jobs database, the runner's lock and the jobs' work folders live."""
    return config.storage


class RunnerCore:
    """The runner's parts and state helpers (the steps and the scheduler build on it)."""

    def __init__(self, config: Config, store: Store, queue: JobQueue, audit: AuditLog,
                 devices: Callable[[], Sequence[Device]] = tuple,
                 retrieve: Callable[..., Any] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.store = store
        self.queue = queue
        self.audit = audit
        self.devices = devices
        self.clock = clock
        if retrieve is None:
            from mw_tui.dicom.retrieve import retrieve as default_retrieve

            retrieve = default_retrieve
        self._retrieve = retrieve
        self.work = (Path(config.media.work) if config.media.work else config.storage) / "jobs"
        self._lock_path = work_root(config) / LOCK_NAME
        self._lock_fd: int | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._running: dict[int, tuple[str, StepCancel, threading.Thread]] = {}
        self._guard = threading.Lock()
        self._media_check_at: dict[int, float] = {}  # job -> not before (monotonic)
        self._backoff: dict[int, float] = {}
        self.store_sync = StoreSync(store)  # retrieved images to disk once a job is over
        self.limits = {"retrieve": 2, "build": 1}

    # -- state helpers ------------------------------------------------------------------

    def _transition(self, job_id: int, state: JobState, message: str = "",
                    error: str = "") -> Job:
        return self.queue.transition(job_id, state, message, error)

    def _fail(self, job_id: int, reason: str) -> None:
        try:
            job = self._transition(job_id, JobState.FAILED, error=reason)
        except (InvalidTransition, KeyError):
            return
        log.error("job %d failed: %s", job_id, reason)
        self._audit(job, "job failed", result="failed", details=reason)
        self._clean(job)

    def _finish_cancel(self, job: Job) -> None:
        if job.state.finished:
            return
        job = self._transition(job.id, JobState.CANCELLED, "cancelled by the technician")
        self._audit(job, "job cancelled", result="cancelled")
        self._clean(job)

    def _clean(self, job: Job) -> None:
        if any(ref.archive for ref in job.studies):
            self.store_sync.request()
        shutil.rmtree(self.work / str(job.id), ignore_errors=True)

    def _audit(self, job: Job, action: str, **fields: Any) -> None:
        try:
            self.audit.record_job(job, action, **fields)
        except Exception:
            log.exception("job %d: the audit log could not be written", job.id)

    def _progress(self, job_id: int, done: float, total: float, message: str,
                  started: float | None = None) -> None:
        rate, eta = 0.0, None
        if started is not None and done > 0:
            elapsed = max(1e-6, time.monotonic() - started)
            rate = done / elapsed
            if total > done:
                eta = (total - done) / rate
        self.queue.progress(job_id, Progress(done, total, message, rate, eta))

    def _check(self, job: Job, cancel: StepCancel) -> None:
        if cancel.is_set():
            if self._stopping.is_set() and not cancel.by_user:
                raise Stopped()
            self._finish_cancel(self.queue.get(job.id))
            raise Stopped()

    def _workdir(self, job: Job) -> Path:
        return self.work / str(job.id)

    def _needs_media(self, job: Job) -> bool:
        return job.target.kind in (TargetKind.DISC, TargetKind.USB)

    def _writer_needs_iso(self, job: Job) -> bool:
        return job.target.kind in (TargetKind.DISC, TargetKind.ISO)


    def _next(self, job: Job, volumes: list[Volume]) -> tuple[Volume, int] | None:
        """The next (volume, copy number) to write: copy 1 of every disc, then copy 2..."""
        copies = 1 if job.target.kind in (TargetKind.ISO, TargetKind.CLOUD) else job.copies
        for copy in range(copies):
            for v in volumes:
                if written(job, v.label) <= copy:
                    return v, copy + 1
        return None

    def _prompt(self, job: Job, volumes: list[Volume], problem: str = "") -> str:
        nxt = self._next(job, volumes)
        if nxt is None:
            return ""
        v, copy = nxt
        what = "a blank disc" if job.target.kind is TargetKind.DISC else "a USB stick"
        medium = v.capacity and job.target.kind is TargetKind.DISC and (
            "CD" if v.capacity <= (MEDIA["CD"].capacity or 0) else
            "DVD" if v.capacity <= (MEDIA["DVD"].capacity or 0) else "disc")
        if medium:
            what = f"a blank {medium}"
        where = job.target.where or ("the drive" if job.target.kind is TargetKind.DISC
                                     else "a USB port")
        extra = f" (disc {v.number} of {v.count}" + (f", copy {copy} of {job.copies})"
                                                    if job.copies > 1 else ")")
        text = f"Insert {what} into {where}{extra if v.count > 1 or job.copies > 1 else ''}"
        return f"{problem} {text}".strip() if problem else text


def written(job: Job, label: str) -> int:
    return next((v.written for v in job.volumes if v.label == label), 0)


