"""What every step of the job runner is handed: the station's parts, and how a job's
state moves (transitions, failures, cancels, progress, the work folder)."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from mw_tui.audit import AuditTrail
from mw_tui.audit.events import AnyEvent
from mw_tui.config import Config, StoragePaths
from mw_tui.devices.models import Device
from mw_tui.devices.writers import Writer, device_of, writer_class
from mw_tui.jobs.audit import AuditLog
from mw_tui.jobs.models import Job, JobProblem, JobState, Progress
from mw_tui.jobs.queue import InvalidTransition, JobQueue
from mw_tui.store import Store
from mw_tui.store.sync import failed_message

log = logging.getLogger("mw_tui.jobs.runner")

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


class JobControl:
    """The parts a step works with and the state helpers it moves a job with. One is
    shared by the scheduler and every step; `config` may change while the runner runs
    (Settings saved)."""

    def __init__(self, config: Config, store: Store, queue: JobQueue, audit: AuditLog,
                 devices: Callable[[], Sequence[Device]] = tuple,
                 clock: Callable[[], float] = time.time,
                 trail: AuditTrail | None = None) -> None:
        """`audit`: the station's own audit log; `trail`: the audit repository's."""
        self.config = config
        self.store = store
        self.queue = queue
        self.audit = audit
        self.trail = trail
        self.devices = devices
        self.clock = clock
        self.stopping = threading.Event()
        self.store_sync = StoreSync(store)  # retrieved images to disk once a job is over
        self.media_check_at: dict[int, float] = {}  # job -> not before (monotonic)

    @property
    def paths(self) -> StoragePaths:
        return StoragePaths.of(self.config)

    def workdir(self, job: Job) -> Any:
        return self.paths.job_work(job.id)

    def writer_class(self, job: Job) -> type[Writer]:
        return writer_class(job.writes_to.kind)

    def device(self, job: Job) -> Device | None:
        """The drive or stick the job's target names, when it is plugged in."""
        return device_of(job.writes_to, self.devices())

    # -- state ------------------------------------------------------------------------

    def transition(self, job_id: int, state: JobState, message: str = "",
                   error: str = "") -> Job:
        return self.queue.transition(job_id, state, message, error)

    def fail(self, job_id: int, reason: str, problem: JobProblem = JobProblem.OTHER) -> None:
        try:
            job = self.queue.transition(job_id, JobState.FAILED, error=reason, problem=problem)
        except (InvalidTransition, KeyError):
            return
        log.error("job %d failed: %s", job_id, reason)
        self.record(job, "job failed", result="failed", details=reason)
        self.clean(job)

    def finish_cancel(self, job: Job) -> None:
        if job.state.finished:
            return
        job = self.transition(job.id, JobState.CANCELLED, "cancelled by the technician")
        self.record(job, "job cancelled", result="cancelled")
        self.clean(job)

    def clean(self, job: Job) -> None:
        """A job is over: its work folder goes, the images it retrieved are synced."""
        if any(ref.archive for ref in job.studies):
            self.store_sync.request()
        shutil.rmtree(self.workdir(job), ignore_errors=True)

    def record(self, job: Job, action: str, **fields: Any) -> None:
        """An entry of the audit log (never fails the job)."""
        try:
            self.audit.record_job(job, action, **fields)
        except Exception:
            log.exception("job %d: the audit log could not be written", job.id)

    def report(self, event: AnyEvent) -> None:
        """An audit message for the hospital's audit repository (never fails the job)."""
        if self.trail is not None:
            self.trail.record(event)

    def progress(self, job_id: int, done: float, total: float, message: str,
                 started: float | None = None) -> None:
        rate, eta = 0.0, None
        if started is not None and done > 0:
            elapsed = max(1e-6, time.monotonic() - started)
            rate = done / elapsed
            if total > done:
                eta = (total - done) / rate
        self.queue.progress(job_id, Progress(done, total, message, rate, eta))

    def check(self, job: Job, cancel: StepCancel) -> None:
        """Stopped when the job was cancelled (recorded here) or the runner stops."""
        if cancel.is_set():
            if self.stopping.is_set() and not cancel.by_user:
                raise Stopped()
            self.finish_cancel(self.queue.get(job.id))
            raise Stopped()

    def retry_or_fail(self, job: Job, reason: str) -> bool:
        """An archive failed: try again after the configured delay (True), or fail at the
        end (False)."""
        delays = self.config.jobs.retry_delays
        attempt = job.attempts + 1
        if attempt > len(delays):
            self.fail(job.id, f"{reason} (after {attempt} tries)")
            return False
        delay = delays[attempt - 1]
        self.queue.update(job.id, attempts=attempt, next_try_at=self.clock() + delay,
                          error=reason)
        self.queue.note(job.id, f"{reason}; trying again in {delay:g} s "
                                f"(try {attempt + 1} of {len(delays) + 1})")
        log.warning("job %d: %s; retry in %g s", job.id, reason, delay)
        return True
