"""An import job's steps: read the outside medium, send its instances to the archive,
check each of them there (QUEUED/READING -> SENDING -> COUNTING -> DONE).

The medium as read stays in the job's work folder, and every instance the archive
confirms is written down the moment it is confirmed (`import_work`): after a crash the
send goes on with the others only. A medium that cannot be read (taken out) or an
archive that cannot be reached is tried again after `[jobs] retry_delays`; an instance
the archive refuses, or an instance sent that the archive does not hold, fails the job
with the reason.
"""

from __future__ import annotations

import time

from mw_tui.importing import (
    Cancelled,
    Medium,
    MediumError,
    PlanError,
    RecordError,
    SendProgress,
    count_on_archive,
    expected_of,
    read_medium,
    send,
)
from mw_tui.importing.send import selected
from mw_tui.jobs import atna
from mw_tui.jobs.control import JobControl, StepCancel, Stopped, log
from mw_tui.jobs.import_work import ConfirmedLog, confirmed, load_medium, save_medium
from mw_tui.jobs.models import ImportRequest, Job, JobState, StudyRef
from mw_tui.util.text import human_size


def request_of(job: Job) -> ImportRequest:
    if job.options.importing is None:
        raise ValueError(f"job {job.id} writes media: it imports nothing")
    return job.options.importing


def outside_patients(medium: Medium, request: ImportRequest) -> str:
    """The outside patients of the plan's studies, for the audit log."""
    wanted = set(request.plan.study_uids)
    out = []
    for p in medium.patients:
        if not wanted or any(s.study_uid in wanted for s in p.studies):
            issuer = f", issuer {p.issuer}" if p.issuer else ""
            out.append(f"{p.name} ({p.patient_id or 'no ID'}{issuer})")
    return "; ".join(out)


def local_patient(request: ImportRequest) -> str:
    local = request.plan.local
    if local is None:
        return "the outside identifiers kept"
    issuer = f", issuer {local.issuer}" if local.issuer else ""
    return f"local patient {local.patient_id}{issuer}" + (f" {local.name}" if local.name else "")


def problem_with(medium: Medium, request: ImportRequest) -> tuple[str, bool]:
    """What keeps the plan from being carried out on this medium ("" when nothing) and
    whether another medium inserted may do (the right disc, put back)."""
    plan = request.plan
    if not medium.has_dicom:
        return (f"{request.source} holds no DICOM file this station can import "
                f"({len(medium.unreadable)} files cannot be read): insert the patient's "
                "medium", True)
    missing = set(plan.study_uids) - {s.study_uid for s in medium.studies}
    if missing:
        return (f"{request.source} is not the medium this import was made for ("
                f"{len(missing)} of its studies are not on it): insert that medium", True)
    if plan.local is not None and not plan.study_uids and len(medium.patients) > 1:
        return (f"the medium holds {len(medium.patients)} patients: one local patient for "
                "all of them would merge different patients; import each patient's studies "
                "on their own, or keep the outside identifiers", False)
    return "", False


class ReadStep:
    """QUEUED/READING -> SENDING once the medium is read and holds what the plan names."""

    def __init__(self, control: JobControl) -> None:
        self.c = control

    def run(self, job: Job, cancel: StepCancel) -> None:
        c = self.c
        request = request_of(job)
        if job.state is JobState.QUEUED:
            job = c.transition(job.id, JobState.READING, f"reading {request.source}")
        started = time.monotonic()

        def progress(done: int, total: int) -> None:
            c.progress(job.id, done, total, f"{done} of {total} files read", started)

        try:
            medium = read_medium(request.source, c.config, progress, cancel.is_set)
        except Cancelled:
            c.check(job, cancel)
            raise Stopped() from None
        except MediumError as exc:
            c.retry_or_fail(job, str(exc))
            return
        c.check(job, cancel)
        problem, later = problem_with(medium, request)
        if problem:
            if later:
                c.retry_or_fail(job, problem)
            else:
                c.fail(job.id, problem)
            return
        save_medium(c.workdir(job), medium)
        chosen = [s for s in medium.studies
                  if not request.plan.study_uids or s.study_uid in request.plan.study_uids]
        local = request.plan.local
        first = medium.patient_of(chosen[0].study_uid)
        job = c.queue.update(
            job.id, studies=tuple(StudyRef(s.study_uid, "", s.instance_count, False)
                                  for s in chosen),
            patient_name=(local.name if local is not None and local.name else first.name),
            patient_id=local.patient_id if local is not None else first.patient_id,
            attempts=0, error="")
        count = sum(s.instance_count for s in chosen)
        cannot = len(medium.unreadable)
        c.queue.note(job.id, f"{count} instances of {len(chosen)} studies on "
                             f"{medium.kind.value} {medium.label or request.source}"
                             + (f"; {cannot} files cannot be imported" if cannot else ""))
        for note in medium.notes:
            c.queue.note(job.id, note)
        c.transition(job.id, JobState.SENDING,
                     f"{count} instances ({human_size(sum(s.size for s in chosen))}) to "
                     f"{request.plan.destination}")


class SendStep:
    """SENDING -> COUNTING once the archive confirmed every instance of the plan."""

    def __init__(self, control: JobControl) -> None:
        self.c = control

    def run(self, job: Job, cancel: StepCancel) -> None:
        c = self.c
        request = request_of(job)
        workdir = c.workdir(job)
        medium = load_medium(workdir)
        if medium is None:
            c.transition(job.id, JobState.READING, "the medium as read is lost: reading it "
                                                    "again")
            return
        before = confirmed(workdir)
        total = len(selected(medium, request.plan))
        already = total - sum(1 for x in selected(medium, request.plan)
                              if x.instance.sop_instance_uid not in before)
        if already:
            c.queue.note(job.id, f"{already} instances were confirmed by the archive before: "
                                 "sending the others")
        started = time.monotonic()

        def progress(p: SendProgress) -> None:
            c.progress(job.id, p.bytes_done, p.bytes_total,
                       f"{already + p.done} of {total} instances sent"
                       + (f", {p.failed} failed" if p.failed else ""), started)

        try:
            with ConfirmedLog(workdir) as written:
                result = send(c.config, medium, request.plan, progress=progress,
                              cancel=cancel.is_set,
                              on_confirmed=lambda x: written.add(x.sop_instance_uid),
                              confirmed=before)
        except PlanError as exc:  # the destination was removed from the configuration
            c.fail(job.id, str(exc))
            return
        except MediumError as exc:  # taken out: tried again, the work folder kept
            c.retry_or_fail(job, str(exc))
            return
        except (RecordError, OSError) as exc:  # the work folder's disk is full
            cause = exc.__cause__ if isinstance(exc, RecordError) else exc
            why = (cause.strerror if isinstance(cause, OSError) else "") or str(cause or exc)
            c.retry_or_fail(job, f"the import stopped: what the archive confirmed cannot be "
                                 f"written to the work folder {workdir} ({why}): free space "
                                 "there; the import then goes on with the rest")
            return
        c.check(job, cancel)
        if result.warnings:
            c.queue.note(job.id, "the archive warned: " + "; ".join(result.warnings[:3]))
        if not result.ok:
            reason = f"sending to {result.destination}: {result.message}"
            if result.retryable and c.retry_or_fail(job, reason):
                return  # tried again later: only what was not confirmed
            if not result.retryable:
                c.fail(job.id, reason)
            c.report(atna.imported(c.queue.get(job.id), medium, reason))
            return
        converted = f", {result.converted} converted" if result.converted else ""
        c.queue.note(job.id, f"{result.sent} instances sent in {result.seconds:.1f} s"
                             f"{converted}" + (f", {result.skipped} before" if result.skipped
                                              else ""))
        c.queue.update(job.id, attempts=0, error="")
        c.transition(job.id, JobState.COUNTING, f"asking {result.destination} for each "
                                                "instance sent")


class CountStep:
    """COUNTING -> DONE when the archive holds every instance sent (more of a study is
    fine: disc 2 of a study imported before)."""

    def __init__(self, control: JobControl) -> None:
        self.c = control

    def run(self, job: Job, cancel: StepCancel) -> None:
        c = self.c
        request = request_of(job)
        medium = load_medium(c.workdir(job))
        if medium is None:
            c.transition(job.id, JobState.READING, "the medium as read is lost: reading it "
                                                    "again")
            return
        count = count_on_archive(c.config, request.plan.destination,
                                 expected_of(medium, request.plan), cancel.event)
        c.check(job, cancel)
        if count.errors:
            if not c.retry_or_fail(job, count.message):
                c.report(atna.imported(c.queue.get(job.id), medium, count.message))
            return
        if not count.ok:
            c.fail(job.id, count.message)
            c.report(atna.imported(c.queue.get(job.id), medium, count.message))
            return
        job = c.transition(job.id, JobState.DONE, count.message)
        sent = sum(s.sent for s in count.studies)
        c.record(job, "studies imported", result="counted on the archive",
                 volume=f"{medium.kind.value} {medium.label or request.source}".strip(),
                 details=f"{outside_patients(medium, request)} as {local_patient(request)}, "
                         f"from {request.medium or request.source}: {sent} instances of "
                         f"{len(count.studies)} studies; {count.message}")
        c.report(atna.imported(job, medium))
        c.clean(job)
        log.info("job %d done: %d instances imported into %s", job.id, sent,
                 request.plan.destination)
