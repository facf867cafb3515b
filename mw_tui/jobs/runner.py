"""The job runner: retrieve, build, wait for media, write, verify — each job to the end;
an import job reads its medium, sends and counts instead.

The scheduler only schedules: it hands each job to the step its state calls for
(`RetrieveStep`, `BuildStep`, `WriteStep`; `ReadStep`, `SendStep`, `CountStep` for an
import), each on a thread of its own, so one job retrieves while another writes or
imports; there is one writer per device. The steps share one
`JobControl` (the station's parts and the state helpers). Every state change is in the
database before the work it starts, so after a crash (kill -9, power cut) each job resumes
at the step it was in: a retrieve asks again only for what the store lacks, a build reuses
its saved manifest or starts clean, an interrupted write starts over (on a new disc when
it was a disc). Archive failures are retried with the configured back-off, then the job
fails with the reason. Only one runner works on a jobs database at a time (a lock file).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from mw_tui.audit import AuditTrail
from mw_tui.config import Config, StoragePaths
from mw_tui.devices.models import Device
from mw_tui.jobs.audit import AuditLog
from mw_tui.jobs.bell import Bell
from mw_tui.jobs.building import BuildStep
from mw_tui.jobs.control import (
    MEDIA_RECHECK,
    JobControl,
    RunnerBusy,
    StepCancel,
    Stopped,
    StoreSync,
    log,
)
from mw_tui.jobs.importing import CountStep, ReadStep, SendStep
from mw_tui.jobs.models import Job, JobKind, JobState
from mw_tui.jobs.queue import InvalidTransition, JobQueue
from mw_tui.jobs.retrieving import RetrieveStep
from mw_tui.jobs.writing import WriteStep
from mw_tui.store import Store

__all__ = ["Runner", "RunnerBusy", "cancel_now", "runs_elsewhere"]


class Step(Protocol):
    def run(self, job: Job, cancel: StepCancel) -> None: ...


class Runner:
    """Runs the jobs of `queue` until `stop()`."""

    def __init__(self, config: Config, store: Store, queue: JobQueue, audit: AuditLog,
                 devices: Callable[[], Sequence[Device]] = tuple,
                 retrieve: Callable[..., Any] | None = None,
                 clock: Callable[[], float] = time.time,
                 trail: AuditTrail | None = None) -> None:
        self.control = JobControl(config, store, queue, audit, devices, clock, trail)
        self.steps: dict[str, Step] = {"retrieve": RetrieveStep(self.control, retrieve),
                                       "build": BuildStep(self.control),
                                       "write": WriteStep(self.control),
                                       "read": ReadStep(self.control),
                                       "send": SendStep(self.control),
                                       "count": CountStep(self.control)}
        # at most at once; writes: one per device; a send uses [importing] associations
        self.limits = {"retrieve": 2, "build": 1, "read": 1, "send": 1, "count": 2}
        self._lock_fd: int | None = None
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._running: dict[int, tuple[str, StepCancel, threading.Thread]] = {}
        self._guard = threading.Lock()
        self._backoff: dict[int, float] = {}
        self._bell: Bell | None = None

    @property
    def config(self) -> Config:
        return self.control.config

    @config.setter
    def config(self, config: Config) -> None:
        self.control.config = config

    @property
    def queue(self) -> JobQueue:
        return self.control.queue

    @property
    def store_sync(self) -> StoreSync:
        return self.control.store_sync

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Take the jobs database (RunnerBusy if another runner has it) and start."""
        lock = StoragePaths.of(self.config).jobs_lock
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = _open_lock(lock)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunnerBusy("another mw-tui (the kiosk or a burn command) is running the "
                             "jobs; this one only queues them") from None
        self._lock_fd = fd
        self._recover()
        self.queue.subscribe(self._on_change)
        self._thread = threading.Thread(target=self._schedule, name="job-runner", daemon=True)
        self._thread.start()
        self._bell = Bell(StoragePaths.of(self.config).jobs_bell, self.wake)
        self._bell.start()  # other processes queue jobs: they wake us

    def stop(self, timeout: float = 30.0) -> None:
        """Stop working; running steps are interrupted and resume at the next start."""
        self.control.stopping.set()
        self._wake.set()
        with self._guard:
            running = list(self._running.values())
        for _, cancel, _ in running:
            cancel.event.set()
        deadline = time.monotonic() + timeout
        for _, _, t in running:
            t.join(max(0.1, deadline - time.monotonic()))
        if self._thread is not None:
            self._thread.join(5)
        self.queue.unsubscribe(self._on_change)
        if self._bell is not None:
            self._bell.stop()
            self._bell = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def wake(self) -> None:
        self._wake.set()

    def _on_change(self, job: Job) -> None:
        if job.cancel_requested or job.state is JobState.QUEUED:
            self._wake.set()

    # -- recovery -----------------------------------------------------------------------

    def _recover(self) -> None:
        """Jobs caught mid-step by a crash continue from the start of that step."""
        c = self.control
        for job in self.queue.list(active_only=True):
            if job.state in (JobState.WRITING, JobState.VERIFYING):
                if c.writer_class(job).needs_media:
                    c.transition(job.id, JobState.WAITING_FOR_MEDIA,
                                 "the station stopped while writing: that medium may be "
                                 "incomplete; insert a new blank one")
                else:
                    self.queue.note(job.id, "the station stopped while writing: writing again")
        # work folders of jobs that are over are not needed any more
        work = c.paths.jobs_work
        if work.exists():
            active = {str(j.id) for j in self.queue.list(active_only=True)}
            for d in work.iterdir():
                if d.name not in active:
                    shutil.rmtree(d, ignore_errors=True)

    # -- scheduling ---------------------------------------------------------------------

    def _schedule(self) -> None:
        while not self.control.stopping.is_set():
            try:
                self._tick()
            except Exception:
                log.exception("job runner: scheduling failed")
            self._wake.wait(MEDIA_RECHECK)
            self._wake.clear()

    def _tick(self) -> None:
        c = self.control
        now = c.clock()
        for job in sorted(self.queue.list(active_only=True), key=_order):
            with self._guard:
                current = self._running.get(job.id)
            if current is not None:
                if job.cancel_requested:
                    current[1].by_user = True
                    current[1].event.set()
                continue
            if job.cancel_requested:
                c.finish_cancel(job)
                continue
            if job.next_try_at > now:
                continue
            stage = _stage(job)
            if stage is None or not self._has_room(stage):
                continue
            if c.media_check_at.get(job.id, 0) > time.monotonic():
                continue  # waiting for a disc, or resting after a step that failed
            self._launch(job, stage)

    def _has_room(self, stage: str) -> bool:
        with self._guard:
            busy = sum(1 for s, _, _ in self._running.values() if s == stage)
        return busy < self.limits.get(stage, 1)

    def _launch(self, job: Job, stage: str) -> None:
        cancel = StepCancel()
        step = self.steps[stage.split(":")[0]]
        t = threading.Thread(target=self._run_step, args=(job.id, step, cancel),
                             name=f"job-{job.id}-{stage}", daemon=True)
        with self._guard:
            self._running[job.id] = (stage, cancel, t)
        t.start()

    def _run_step(self, job_id: int, step: Step, cancel: StepCancel) -> None:
        try:
            job = self.queue.get(job_id)
            if job.cancel_requested:
                cancel.by_user = True
                cancel.event.set()
            step.run(job, cancel)
        except Stopped:
            log.info("job %d: paused by shutdown; it resumes at the next start", job_id)
        except InvalidTransition as exc:
            log.warning("job %d: %s", job_id, exc)
        except Exception as exc:
            log.exception("job %d failed", job_id)
            try:
                self.control.fail(job_id, f"internal error: {exc}")
            except Exception:  # the jobs database itself is unusable (disk gone, ...)
                log.exception("job %d: cannot even record the failure", job_id)
                self._pause(job_id)
        finally:
            with self._guard:
                self._running.pop(job_id, None)
            self._wake.set()

    def _pause(self, job_id: int) -> None:
        """Leave a job alone for a while after a step that could not do anything, so a
        broken disk or database never turns the runner into a busy loop."""
        delay = min(60.0, 2 * self._backoff.get(job_id, 0.5))
        self._backoff[job_id] = delay
        self.control.media_check_at[job_id] = time.monotonic() + delay


_PRIORITY = {"HIGH": 0, "MED": 1, "LOW": 2}


def _order(job: Job) -> tuple[int, int]:
    """Jobs asked for with a HIGH priority first, LOW last, then the oldest first."""
    return _PRIORITY.get(job.options.priority, 1), job.id


_IMPORT_STAGES = {JobState.QUEUED: "read", JobState.READING: "read",
                  JobState.SENDING: "send", JobState.COUNTING: "count"}


def _stage(job: Job) -> str | None:
    """The step a job's state calls for (a write is per target: one per device)."""
    if job.kind is JobKind.IMPORT:
        return _IMPORT_STAGES.get(job.state)
    if job.state in (JobState.QUEUED, JobState.RETRIEVING):
        return "retrieve"
    if job.state is JobState.BUILDING:
        return "build"
    if job.state in (JobState.WAITING_FOR_MEDIA, JobState.WRITING, JobState.VERIFYING):
        return f"write:{job.target}"
    return None


def cancel_now(config: Config, queue: JobQueue, audit: AuditLog, job_id: int,
               user: str) -> Job:
    """Cancel a job from outside the runner: at once when no runner is working (the
    job's files are removed), else by asking the runner, which stops at a safe point."""
    paths = StoragePaths.of(config)
    fd = _open_lock(paths.jobs_lock)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # a runner works elsewhere: it ends a running job (and audits)
            job, now = queue.cancel(job_id)
            if now:
                audit.record_job(job, "job cancelled", user=user, result="cancelled")
            return job
        job = queue.get(job_id)
        if job.state.finished:
            raise InvalidTransition(f"job {job_id} is already {job.state.value}")
        queue.request_cancel(job_id)
        job = queue.get(job_id)
        if not job.state.finished:
            job = queue.transition(job_id, JobState.CANCELLED, "cancelled by the technician")
        audit.record_job(job, "job cancelled", user=user, result="cancelled")
        shutil.rmtree(paths.job_work(job_id), ignore_errors=True)
        return job
    finally:
        os.close(fd)


def runs_elsewhere(config: Config) -> bool:
    """Whether another process runs the jobs of this storage folder now (it holds the
    jobs lock): the kiosk, `mw-tui serve`, a burn or `mw-tui jobs run`."""
    lock = StoragePaths.of(config).jobs_lock
    try:
        fd = os.open(lock, os.O_RDWR)
    except OSError:
        return False  # no lock file: no station ever ran the jobs here
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # releases the lock if it was taken here
    return False


def _open_lock(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
