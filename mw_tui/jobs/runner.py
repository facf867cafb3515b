"""The job runner: retrieve, build, wait for media, write, verify — each job to the end.

Stages run on their own threads, so one job retrieves while another writes; there is one
writer per device. Every state change is in the database before the work it starts, so
after a crash (kill -9, power cut) each job resumes at the step it was in: a retrieve
asks again only for what the store lacks, a build reuses its saved manifest or starts
clean, an interrupted write starts over (on a new disc when it was a disc). Archive
failures are retried with the configured back-off, then the job fails with the reason.
Only one runner works on a jobs database at a time (a lock file).
"""

from __future__ import annotations

import fcntl
import logging
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mw_tui.config import Config
from mw_tui.devices.models import Device, OpticalDrive
from mw_tui.devices.writers import writer_for
from mw_tui.devices.writers.base import (
    Cancelled,
    MediaNotBlank,
    MediaTooSmall,
    NoDevice,
    NoMedia,
    Phase,
    VerifyFailed,
    WriteFailed,
    Writer,
    WriterError,
)
from mw_tui.devices.writers.base import Progress as WriteProgress
from mw_tui.jobs import manifest
from mw_tui.jobs.audit import AuditLog
from mw_tui.jobs.models import Job, JobState, Progress, StudyRef, TargetKind, VolumeRecord
from mw_tui.jobs.queue import InvalidTransition, JobQueue
from mw_tui.media.builder import BuildCancelled, BuildError, BuildProgress, build_volumes
from mw_tui.media.iso import IsoCancelled, IsoError, write_iso
from mw_tui.media.profiles import MEDIA, Profile
from mw_tui.media.volume import Volume
from mw_tui.store import Store
from mw_tui.store.retention import Retention

log = logging.getLogger(__name__)

LOCK_NAME = "jobs.lock"
MEDIA_RECHECK = 1.0  # seconds between checks while waiting for a disc or a stick


class RunnerBusy(Exception):
    """Another runner (the kiosk, or another `mw-tui burn`) owns the jobs database."""


class _Stopped(Exception):
    """The runner is shutting down: leave the job where it is, it resumes next start."""


class _Cancel:
    """Set by a user's cancel or by shutdown; steps poll `is_set()`."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.by_user = False

    def is_set(self) -> bool:
        return self.event.is_set()


class Runner:
    """Runs the jobs of `queue` until `stop()`."""

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
        work = Path(config.jobs.work) if config.jobs.work else config.storage
        self.work = work / "jobs"
        self._lock_path = work / LOCK_NAME
        self._lock_fd: int | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._running: dict[int, tuple[str, _Cancel, threading.Thread]] = {}
        self._guard = threading.Lock()
        self._media_check_at: dict[int, float] = {}
        self.limits = {"retrieve": 2, "build": 1}

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Take the jobs database (RunnerBusy if another runner has it) and start."""
        self._lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = _open_lock(self._lock_path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            import os

            os.close(fd)
            raise RunnerBusy("another mw-tui (the kiosk or a burn command) is running the "
                             "jobs; this one only queues them") from None
        self._lock_fd = fd
        self._recover()
        self.queue.subscribe(self._on_change)
        self._thread = threading.Thread(target=self._schedule, name="job-runner", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop working; running steps are interrupted and resume at the next start."""
        self._stopping.set()
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
        if self._lock_fd is not None:
            import os

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
        for job in self.queue.list(active_only=True):
            if job.state in (JobState.WRITING, JobState.VERIFYING):
                if self._needs_media(job):
                    self._transition(job.id, JobState.WAITING_FOR_MEDIA,
                                     "the station stopped while writing: that medium may be "
                                     "incomplete; insert a new blank one")
                else:
                    self.queue.note(job.id, "the station stopped while writing: writing again")
        # work folders of jobs that are over are not needed any more
        if self.work.exists():
            active = {str(j.id) for j in self.queue.list(active_only=True)}
            for d in self.work.iterdir():
                if d.name not in active:
                    shutil.rmtree(d, ignore_errors=True)

    # -- scheduling ---------------------------------------------------------------------

    def _schedule(self) -> None:
        while not self._stopping.is_set():
            try:
                self._tick()
            except Exception:
                log.exception("job runner: scheduling failed")
            self._wake.wait(MEDIA_RECHECK)
            self._wake.clear()

    def _tick(self) -> None:
        now = self.clock()
        for job in sorted(self.queue.list(active_only=True), key=lambda j: j.id):
            with self._guard:
                current = self._running.get(job.id)
            if current is not None:
                if job.cancel_requested:
                    current[1].by_user = True
                    current[1].event.set()
                continue
            if job.cancel_requested:
                self._finish_cancel(job)
                continue
            if job.next_try_at > now:
                continue
            stage = self._stage(job)
            if stage is None or not self._has_room(stage):
                continue
            if job.state is JobState.WAITING_FOR_MEDIA and \
                    self._media_check_at.get(job.id, 0) > time.monotonic():
                continue
            self._launch(job, stage)

    def _stage(self, job: Job) -> str | None:
        if job.state in (JobState.QUEUED, JobState.RETRIEVING):
            return "retrieve"
        if job.state is JobState.BUILDING:
            return "build"
        if job.state in (JobState.WAITING_FOR_MEDIA, JobState.WRITING, JobState.VERIFYING):
            return f"write:{job.target.kind.value}:{job.target.where}"
        return None

    def _has_room(self, stage: str) -> bool:
        with self._guard:
            busy = sum(1 for s, _, _ in self._running.values() if s == stage)
        return busy < self.limits.get(stage, 1)

    def _launch(self, job: Job, stage: str) -> None:
        cancel = _Cancel()
        step = {"retrieve": self._retrieve_step, "build": self._build_step}.get(
            stage, self._write_step)
        t = threading.Thread(target=self._run_step, args=(job.id, step, cancel),
                             name=f"job-{job.id}-{stage}", daemon=True)
        with self._guard:
            self._running[job.id] = (stage, cancel, t)
        t.start()

    def _run_step(self, job_id: int, step: Callable[[Job, _Cancel], None],
                  cancel: _Cancel) -> None:
        try:
            job = self.queue.get(job_id)
            if job.cancel_requested:
                cancel.by_user = True
                cancel.event.set()
            step(job, cancel)
        except _Stopped:
            log.info("job %d: paused by shutdown; it resumes at the next start", job_id)
        except InvalidTransition as exc:
            log.warning("job %d: %s", job_id, exc)
        except Exception as exc:
            log.exception("job %d failed", job_id)
            self._fail(job_id, f"internal error: {exc}")
        finally:
            with self._guard:
                self._running.pop(job_id, None)
            self._wake.set()

    def _check(self, job: Job, cancel: _Cancel) -> None:
        if cancel.is_set():
            if self._stopping.is_set() and not cancel.by_user:
                raise _Stopped()
            self._finish_cancel(self.queue.get(job.id))
            raise _Stopped()

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

    # -- retrieving ----------------------------------------------------------------------

    def _retrieve_step(self, job: Job, cancel: _Cancel) -> None:
        if job.state is JobState.QUEUED:
            job = self._transition(job.id, JobState.RETRIEVING, "checking the store")
        studies = list(job.studies)
        for i, ref in enumerate(studies):
            self._check(job, cancel)
            row = self.store.index.study(ref.study_uid)
            have = row.instances if row else 0
            if not ref.archive:
                if row is None:
                    self._fail(job.id, f"study {ref.study_uid} is not in the station's store "
                                       "and no archive was named to retrieve it from")
                    return
                continue
            if ref.expected_instances and have >= ref.expected_instances:
                continue  # already here (retrieved before a restart, or pushed)
            started = time.monotonic()

            def progress(p: Any, i: int = i, started: float = started, job_id: int = job.id,
                         archive: str = ref.archive) -> None:
                total = p.total or 0
                self._progress(job_id, p.done, total,
                               f"retrieving study {i + 1} of {len(studies)} from {archive}: "
                               f"{p.done}{f' of {total}' if total else ''} images", started)

            try:
                result = self._retrieve(self.config, ref.archive, [ref.study_uid],
                                        progress=progress, cancel=cancel.event, store=self.store)
                ok, reason = result.ok, result.message
            except Exception as exc:  # a dead archive, a refused association, ...
                ok, reason = False, str(exc)
            self._check(job, cancel)
            if not ok:
                self._retry_or_fail(job, f"retrieve from {ref.archive} failed: {reason}")
                return
            row = self.store.index.study(ref.study_uid)
            studies[i] = StudyRef(ref.study_uid, ref.archive, row.instances if row else 0,
                                  ref.include_reports)
            job = self.queue.update(job.id, studies=tuple(studies), attempts=0, error="")
        for i, ref in enumerate(studies):
            if ref.include_reports:
                self._check(job, cancel)
                self._fetch_reports(job, ref, i, len(studies), cancel)
        first = self.store.index.study(job.studies[0].study_uid)
        if first is not None and not job.patient_name:
            job = self.queue.update(job.id, patient_name=first.patient_name,
                                    patient_id=first.patient_id)
        self._transition(job.id, JobState.BUILDING, "every study is in the store")

    def _fetch_reports(self, job: Job, ref: StudyRef, i: int, total: int,
                       cancel: _Cancel) -> None:
        """The study's reports into the store (report brokers, SR and PDF objects of its
        archives). A report source that fails is noted; it does not fail the job."""
        if not (self.config.report_sources or self.config.archives):
            return
        from mw_tui.reports import fetch_reports

        def progress(text: str) -> None:
            self.queue.progress(job.id, Progress(0, 0, f"reports of study {i + 1} of {total}: "
                                                       f"{text}"))

        try:
            result = fetch_reports(self.config, self.store, ref.study_uid, cancel=cancel.event,
                                   progress=progress,
                                   archives=[ref.archive] if ref.archive else None)
        except Exception as exc:  # an unknown archive name, ...
            self.queue.note(job.id, f"reports of study {ref.study_uid} not fetched: {exc}")
            return
        if result.count or result.errors:
            self.queue.note(job.id, result.message)

    def _retry_or_fail(self, job: Job, reason: str) -> None:
        delays = self.config.jobs.retry_delays
        attempt = job.attempts + 1
        if attempt > len(delays):
            self._fail(job.id, f"{reason} (after {attempt} tries)")
            return
        delay = delays[attempt - 1]
        self.queue.update(job.id, attempts=attempt, next_try_at=self.clock() + delay,
                          error=reason)
        self.queue.note(job.id, f"{reason}; trying again in {delay:g} s "
                                f"(try {attempt + 1} of {len(delays) + 1})")
        log.warning("job %d: %s; retry in %g s", job.id, reason, delay)

    # -- building -----------------------------------------------------------------------

    def _workdir(self, job: Job) -> Path:
        return self.work / str(job.id)

    def _build_step(self, job: Job, cancel: _Cancel) -> None:
        workdir = self._workdir(job)
        volumes = manifest.load(workdir)
        if volumes is None:
            shutil.rmtree(workdir, ignore_errors=True)  # whatever a crash left half-made
            volumes = self._build(job, workdir, cancel)
        records = tuple(VolumeRecord(v.label, v.number, v.count, str(v.iso or ""),
                                     v.iso_md5 or "", v.iso_size or v.size,
                                     _written(job, v.label)) for v in volumes)
        job = self.queue.update(job.id, volumes=records)
        if self._needs_media(job):
            self._transition(job.id, JobState.WAITING_FOR_MEDIA, self._prompt(job, volumes))
        else:
            self._transition(job.id, JobState.WRITING, "ready to write")

    def _build(self, job: Job, workdir: Path, cancel: _Cancel) -> list[Volume]:
        profile = Profile(job.profile)
        capacity = self._capacity(job, profile)
        started = time.monotonic()

        def progress(p: BuildProgress) -> None:
            self._progress(job.id, p.done, p.total, f"{p.stage.value}: {p.detail}".rstrip(": "),
                           started)

        try:
            volumes = build_volumes(
                self.store, [s.study_uid for s in job.studies], profile, capacity,
                workdir / "files", progress=progress, cancel=cancel.event,
                settings=self.config.media,
                without_reports=[s.study_uid for s in job.studies if not s.include_reports])
            if self._writer_needs_iso(job):
                made = []
                for v in volumes:
                    self._check(job, cancel)
                    iso_started = time.monotonic()

                    def iso_progress(done: int, total: int, v: Volume = v,
                                     t0: float = iso_started) -> None:
                        self._progress(job.id, done, total,
                                       f"making the image of disc {v.number} of {v.count}", t0)

                    made.append(write_iso(v, workdir / f"volume{v.number}.iso", iso_progress,
                                          cancel.event))
                volumes = made
        except (BuildCancelled, IsoCancelled):
            self._check(job, cancel)
            raise
        except (BuildError, IsoError) as exc:
            self._fail(job.id, str(exc))
            raise _Stopped() from exc
        return manifest.save(volumes, workdir)

    def _capacity(self, job: Job, profile: Profile) -> int | None:
        if job.target.kind is TargetKind.CLOUD:
            return None
        if job.target.kind is TargetKind.DISC:
            for d in self.devices():
                if isinstance(d, OpticalDrive) and d.media.capacity and (
                        not job.target.where or d.devname == job.target.where):
                    return int(d.media.capacity)
        if job.target.kind is TargetKind.USB:
            return None  # the stick's free space is checked by the writer
        medium = profile.default_medium
        return medium.capacity if medium.capacity else MEDIA["DVD"].capacity

    # -- writing ------------------------------------------------------------------------

    def _needs_media(self, job: Job) -> bool:
        return job.target.kind in (TargetKind.DISC, TargetKind.USB)

    def _writer_needs_iso(self, job: Job) -> bool:
        return job.target.kind in (TargetKind.DISC, TargetKind.ISO)

    def _writer(self, job: Job) -> Writer:
        return writer_for(self.config, str(job.target), self.devices())

    def _next(self, job: Job, volumes: list[Volume]) -> tuple[Volume, int] | None:
        """The next (volume, copy number) to write: copy 1 of every disc, then copy 2..."""
        copies = 1 if job.target.kind in (TargetKind.ISO, TargetKind.CLOUD) else job.copies
        for copy in range(copies):
            for v in volumes:
                if _written(job, v.label) <= copy:
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

    def _write_step(self, job: Job, cancel: _Cancel) -> None:
        volumes = manifest.load(self._workdir(job))
        if volumes is None:
            self._fail(job.id, "the media built for this job disappeared from the work folder "
                               f"({self._workdir(job)}); create the job again")
            return
        nxt = self._next(job, volumes)
        if nxt is None:
            self._done(job)
            return
        volume, copy = nxt
        try:
            writer = self._writer(job)
        except NoDevice as exc:
            if self._needs_media(job):
                self._wait_for_media(job, volumes, exc.message)
                return
            self._fail(job.id, exc.message)
            return
        except WriterError as exc:
            self._fail(job.id, exc.message)
            return
        if job.state is JobState.WAITING_FOR_MEDIA:
            problems = writer.check(volume)
            if problems:
                self._wait_for_media(job, volumes, problems[0].message)
                return
            job = self._transition(job.id, JobState.WRITING,
                                   f"writing disc {volume.number} of {volume.count}"
                                   if volume.count > 1 else "writing")
        elif not writer.needs_media:
            problems = writer.check(volume)
            if problems:
                self._fail(job.id, problems[0].message)
                return
        self._write(job, writer, volume, copy, volumes, cancel)

    def _wait_for_media(self, job: Job, volumes: list[Volume], problem: str) -> None:
        prompt = self._prompt(job, volumes, problem)
        if job.progress.message != prompt:
            self.queue.progress(job.id, Progress(0, 0, prompt), persist_every=0)
        self._media_check_at[job.id] = time.monotonic() + MEDIA_RECHECK

    def _write(self, job: Job, writer: Writer, volume: Volume, copy: int,
               volumes: list[Volume], cancel: _Cancel) -> None:
        state = [job.state]

        def progress(p: WriteProgress) -> None:
            if p.phase is Phase.VERIFYING and state[0] is not JobState.VERIFYING:
                state[0] = JobState.VERIFYING
                self._transition(job.id, JobState.VERIFYING, "reading back what was written")
            self.queue.progress(job.id, Progress(p.done, p.total, p.message or p.phase.value,
                                                 p.speed or 0.0, p.seconds_left))

        try:
            result = writer.write(volume, progress, cancel)
        except Cancelled:
            self._check(job, cancel)
            raise _Stopped() from None
        except (NoMedia, MediaNotBlank, MediaTooSmall) as exc:
            self._back_to_waiting(job, volumes, exc.message)
            return
        except (VerifyFailed, WriteFailed) as exc:
            self._audit(job, "medium failed", volume=volume.label, result="failed",
                        details=exc.message)
            if writer.needs_media:
                self._back_to_waiting(job, volumes, f"{exc.message} Use a new medium.")
            else:
                self._fail(job.id, exc.message)
            return
        except WriterError as exc:
            self._fail(job.id, exc.message)
            return
        self._check(job, cancel)
        job = self.queue.get(job.id)
        records = tuple(r if r.label != volume.label else VolumeRecord(
            r.label, r.number, r.count, r.iso, r.md5 or (result.md5 or ""), r.size,
            r.written + 1, result.location) for r in job.volumes)
        job = self.queue.update(job.id, volumes=records)
        self._audit(job, "medium written", volume=volume.label,
                    md5=result.md5 or volume.iso_md5 or "",
                    result="verified" if result.verified else "written, not verified",
                    details=result.location)
        message = f"disc {volume.number} of {volume.count}, copy {copy}: verified" + (
            "; safe to remove" if result.safe_to_remove else "")
        self.queue.note(job.id, message)
        if self._next(job, volumes) is None:
            if job.state is JobState.WRITING:
                self._transition(job.id, JobState.VERIFYING, "verified")
            self._done(self.queue.get(job.id), message)
        elif writer.needs_media:
            self._transition(job.id, JobState.WAITING_FOR_MEDIA, self._prompt(job, volumes))
        else:
            self._transition(job.id, JobState.WRITING, "next volume")

    def _back_to_waiting(self, job: Job, volumes: list[Volume], problem: str) -> None:
        job = self._transition(job.id, JobState.WAITING_FOR_MEDIA,
                               self._prompt(job, volumes, problem))
        self._media_check_at[job.id] = time.monotonic() + MEDIA_RECHECK

    def _done(self, job: Job, message: str = "") -> None:
        job = self._transition(job.id, JobState.DONE, message or "every medium verified")
        retention = Retention(self.store)
        for ref in job.studies:  # retention counts from the last job that used a study
            retention.touch(ref.study_uid)
        self._audit(job, "job done", result="verified",
                    volume=", ".join(v.label for v in job.volumes),
                    md5=", ".join(v.md5 for v in job.volumes))
        self._clean(job)
        log.info("job %d done: %s", job.id, ", ".join(
            f"{v.label} ({v.details or v.md5})" for v in job.volumes))


def cancel_now(config: Config, queue: JobQueue, audit: AuditLog, job_id: int,
               user: str) -> Job:
    """Cancel a job from outside the runner: at once when no runner is working (the
    job's files are removed), else by asking the runner, which stops at a safe point."""
    work = Path(config.jobs.work) if config.jobs.work else config.storage
    fd = _open_lock(work / LOCK_NAME)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return queue.request_cancel(job_id)  # the runner finishes it (and audits)
        job = queue.get(job_id)
        if job.state.finished:
            raise InvalidTransition(f"job {job_id} is already {job.state.value}")
        queue.request_cancel(job_id)
        job = queue.get(job_id)
        if not job.state.finished:
            job = queue.transition(job_id, JobState.CANCELLED, "cancelled by the technician")
        audit.record_job(job, "job cancelled", user=user, result="cancelled")
        shutil.rmtree(work / "jobs" / str(job_id), ignore_errors=True)
        return job
    finally:
        import os

        os.close(fd)


def _written(job: Job, label: str) -> int:
    return next((v.written for v in job.volumes if v.label == label), 0)


def _open_lock(path: Path) -> int:
    import os

    return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
