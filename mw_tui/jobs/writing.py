"""Writing: wait for the medium, write it, read it back, one copy and disc after another."""

from __future__ import annotations

import dataclasses
import time

from mw_tui.devices.writers import Writer, WriterError, writer_for
from mw_tui.devices.writers.base import MEDIUM_PROBLEMS, Phase, ProblemCode
from mw_tui.devices.writers.base import Progress as WriteProgress
from mw_tui.jobs import atna, manifest
from mw_tui.jobs.control import MEDIA_RECHECK, JobControl, StepCancel, Stopped, log
from mw_tui.jobs.labelling import JobLabels
from mw_tui.jobs.media import next_medium, prompt
from mw_tui.jobs.models import Job, JobProblem, JobState, Progress
from mw_tui.media.volume import Volume
from mw_tui.store.retention import Retention


class WriteStep:
    """WAITING_FOR_MEDIA / WRITING / VERIFYING -> DONE: each volume (and copy) written and
    read back; a medium that fails asks for another, where the target takes media."""

    def __init__(self, control: JobControl) -> None:
        self.c = control

    def run(self, job: Job, cancel: StepCancel) -> None:
        c = self.c
        volumes = manifest.load(c.workdir(job))
        if volumes is None:
            c.fail(job.id, "the media built for this job disappeared from the work folder "
                           f"({c.workdir(job)}); create the job again")
            return
        kind = c.writer_class(job)
        nxt = next_medium(job, volumes, kind)
        if nxt is None:
            self._done(job)
            return
        volume, copy = nxt
        labels = self._labels(job)
        try:
            writer = writer_for(c.config, job.writes_to, c.devices(), job_id=job.id,
                                copies=job.copies, label_for=labels.image)
        except WriterError as exc:
            if exc.code is ProblemCode.NO_DEVICE and kind.needs_media:
                self._wait_for_media(job, volumes, exc.message)
            else:
                c.fail(job.id, exc.message, JobProblem.WRITER)
            return
        if job.state is JobState.WAITING_FOR_MEDIA:
            problems = writer.check(volume)
            if problems:
                self._wait_for_media(job, volumes, problems[0].message)
                return
            job = c.transition(job.id, JobState.WRITING,
                               f"writing disc {volume.number} of {volume.count}"
                               if volume.count > 1 else "writing")
        elif not writer.needs_media:
            problems = writer.check(volume)
            if problems:
                c.fail(job.id, problems[0].message, JobProblem.WRITER)
                return
        self._write(job, writer, volume, copy, volumes, cancel)

    def _labels(self, job: Job) -> JobLabels:
        c = self.c
        return JobLabels(c.config, c.store, job, c.workdir(job))

    def _wait_for_media(self, job: Job, volumes: list[Volume], problem: str) -> None:
        text = prompt(job, volumes, self.c.writer_class(job), problem)
        if job.progress.message != text:
            self.c.queue.progress(job.id, Progress(0, 0, text), persist_every=0)
        self.c.media_check_at[job.id] = time.monotonic() + MEDIA_RECHECK

    def _write(self, job: Job, writer: Writer, volume: Volume, copy: int,
               volumes: list[Volume], cancel: StepCancel) -> None:
        c = self.c
        state = [job.state]

        def progress(p: WriteProgress) -> None:
            if p.phase is Phase.VERIFYING and state[0] is not JobState.VERIFYING:
                state[0] = JobState.VERIFYING
                c.transition(job.id, JobState.VERIFYING, "reading back what was written")
            c.queue.progress(job.id, Progress(p.done, p.total, p.message or p.phase.value,
                                              p.speed or 0.0, p.seconds_left))

        try:
            result = writer.write(volume, progress, cancel)
        except WriterError as exc:
            if exc.code is ProblemCode.CANCELLED:
                c.check(job, cancel)
                raise Stopped() from None
            if exc.code in MEDIUM_PROBLEMS or (writer.needs_media and exc.code in (
                    ProblemCode.NOT_EMPTY, ProblemCode.READ_ONLY, ProblemCode.NO_FILE_SYSTEM)):
                # a stick that holds a File-set already (one a crash caught while it was
                # written), is locked or unformatted: another medium will do
                self._back_to_waiting(job, volumes, exc.message)
            elif exc.code in (ProblemCode.VERIFY_FAILED, ProblemCode.WRITE_FAILED):
                c.record(job, "medium failed", volume=volume.label, result="failed",
                         details=exc.message)
                c.report(atna.export(c.store, job, volume.label, volume.capacity, "", "",
                                     failure=exc.message))
                if writer.needs_media:
                    self._back_to_waiting(job, volumes, f"{exc.message} Use a new medium.")
                else:
                    c.fail(job.id, exc.message, JobProblem.WRITER)
            else:
                c.fail(job.id, exc.message, JobProblem.WRITER)
            return
        c.check(job, cancel)
        job = c.queue.get(job.id)
        made = job.copies if writer.writes_all_copies else 1  # a robot makes them all
        records = tuple(r if r.label != volume.label else dataclasses.replace(
            r, md5=r.md5 or (result.md5 or ""), written=r.written + made,
            details=result.location) for r in job.volumes)
        job = c.queue.update(job.id, volumes=records)
        c.record(job, "medium written", volume=volume.label,
                 md5=result.md5 or volume.iso_md5 or "",
                 result="verified" if result.verified else "written, not verified",
                 details=result.location)
        c.report(atna.export(c.store, job, volume.label, volume.capacity, result.location,
                             result.md5 or volume.iso_md5 or ""))
        message = f"disc {volume.number} of {volume.count}, copy {copy}: verified" + (
            "; safe to remove" if result.safe_to_remove else "")
        c.queue.note(job.id, message)
        if writer.labelled:
            self._labels(job).print_later(volume, lambda text: c.queue.note(job.id, text))
        if next_medium(job, volumes, type(writer)) is None:
            if job.state is JobState.WRITING:
                c.transition(job.id, JobState.VERIFYING, "verified")
            self._done(c.queue.get(job.id), message)
        elif writer.needs_media:
            c.transition(job.id, JobState.WAITING_FOR_MEDIA,
                         prompt(job, volumes, type(writer)))
        else:
            c.transition(job.id, JobState.WRITING, "next volume")

    def _back_to_waiting(self, job: Job, volumes: list[Volume], problem: str) -> None:
        c = self.c
        job = c.transition(job.id, JobState.WAITING_FOR_MEDIA,
                           prompt(job, volumes, c.writer_class(job), problem))
        c.media_check_at[job.id] = time.monotonic() + MEDIA_RECHECK

    def _done(self, job: Job, message: str = "") -> None:
        c = self.c
        job = c.transition(job.id, JobState.DONE, message or "every medium verified")
        retention = Retention(c.store)
        for ref in job.studies:  # retention counts from the last job that used a study
            if job.options.preserve is not False:  # unless asked not to keep them for it
                retention.touch(ref.study_uid)
        c.record(job, "job done", result="verified",
                 volume=", ".join(v.label for v in job.volumes),
                 md5=", ".join(v.md5 for v in job.volumes))
        c.clean(job)
        log.info("job %d done: %s", job.id, ", ".join(
            f"{v.label} ({v.details or v.md5})" for v in job.volumes))
