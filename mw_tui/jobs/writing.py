"""Writing: wait for the medium, write it, read it back, one copy and disc after another."""

from __future__ import annotations

import time

from mw_tui.devices.writers import writer_for
from mw_tui.devices.writers.base import (
    Cancelled,
    MediaNotBlank,
    MediaTooSmall,
    NoDevice,
    NoFileSystem,
    NoMedia,
    NotEmpty,
    Phase,
    ReadOnly,
    VerifyFailed,
    WriteFailed,
    Writer,
    WriterError,
)
from mw_tui.devices.writers.base import Progress as WriteProgress
from mw_tui.jobs import manifest
from mw_tui.jobs.core import MEDIA_RECHECK, RunnerCore, StepCancel, Stopped, log
from mw_tui.jobs.models import Job, JobState, Progress, VolumeRecord
from mw_tui.media.volume import Volume
from mw_tui.store.retention import Retention


class WriteSteps(RunnerCore):
    def _writer(self, job: Job) -> Writer:
        return writer_for(self.config, str(job.target), self.devices())

    def _write_step(self, job: Job, cancel: StepCancel) -> None:
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
               volumes: list[Volume], cancel: StepCancel) -> None:
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
            raise Stopped() from None
        except (NoMedia, MediaNotBlank, MediaTooSmall) as exc:
            self._back_to_waiting(job, volumes, exc.message)
            return
        except (NotEmpty, ReadOnly, NoFileSystem) as exc:
            if not writer.needs_media:
                self._fail(job.id, exc.message)
                return
            # a stick that holds a File-set already (such as one a crash caught while it was
            # written), is locked or unformatted: another one will do
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


