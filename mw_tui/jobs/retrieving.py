"""Retrieving: the studies a job lacks come from the archives (and their reports).

The retrieved images are acknowledged before they are fsync'ed (the archives still hold
them, see `store.sync`); they reach the disk with one `Store.make_durable()` once the job
is over (`control.StoreSync`), its media made from the page cache meanwhile. A power loss
before that leaves the studies short of images: the rows of that boot are dropped at the
next start, and the build step sends the job back here to retrieve them again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from mw_tui.jobs import atna
from mw_tui.jobs.control import JobControl, StepCancel
from mw_tui.jobs.models import Job, JobProblem, JobState, Progress, StudyRef


class RetrieveStep:
    """QUEUED/RETRIEVING -> BUILDING once every study (and its reports) is in the store."""

    def __init__(self, control: JobControl, retrieve: Callable[..., Any] | None = None) -> None:
        self.c = control
        if retrieve is None:
            from mw_tui.dicom.retrieve import retrieve as default_retrieve

            retrieve = default_retrieve
        self._retrieve = retrieve

    def run(self, job: Job, cancel: StepCancel) -> None:
        c = self.c
        if job.state is JobState.QUEUED:
            job = c.transition(job.id, JobState.RETRIEVING, "checking the store")
        c.store.drop_lost()  # a power loss cut an earlier retrieve: count without them
        studies = list(job.studies)
        for i, ref in enumerate(studies):
            c.check(job, cancel)
            row = c.store.index.study(ref.study_uid)
            have = row.instances if row else 0
            if not ref.archive:
                if row is None:
                    c.fail(job.id, f"study {ref.study_uid} is not in the station's store "
                                       "and no archive was named to retrieve it from",
                           JobProblem.INSTANCES_MISSING)
                    return
                continue
            if ref.expected_instances and have >= ref.expected_instances:
                continue  # already here (retrieved before a restart, or pushed)
            if job.options.instances and not self._missing(job):
                continue  # every instance asked for is here
            started = time.monotonic()

            def progress(p: Any, i: int = i, started: float = started, job_id: int = job.id,
                         archive: str = ref.archive) -> None:
                total = p.total or 0
                c.progress(job_id, p.done, total,
                               f"retrieving study {i + 1} of {len(studies)} from {archive}: "
                               f"{p.done}{f' of {total}' if total else ''} images", started)

            c.report(atna.begin_transfer(c.config, c.store, ref.study_uid, ref.archive,
                                         atna.requester(job), job.patient_id, job.patient_name))
            try:
                result = self._retrieve(c.config, ref.archive, [ref.study_uid],
                                        progress=progress, cancel=cancel.event, store=c.store,
                                        durable=False)
                ok, reason = result.ok, result.message
            except Exception as exc:  # a dead archive, a refused association, ...
                ok, reason = False, str(exc)
            c.report(atna.transferred(c.config, c.store, ref.study_uid, ref.archive, ok,
                                      "" if ok else reason, atna.requester(job),
                                      job.patient_id, job.patient_name))
            c.check(job, cancel)
            if not ok:
                c.retry_or_fail(job, f"retrieve from {ref.archive} failed: {reason}")
                return
            row = c.store.index.study(ref.study_uid)
            studies[i] = StudyRef(ref.study_uid, ref.archive, row.instances if row else 0,
                                  ref.include_reports)
            job = c.queue.update(job.id, studies=tuple(studies), attempts=0, error="")
        missing = self._missing(job)
        if missing:
            c.fail(job.id, f"{len(missing)} instance(s) asked for are neither in the store nor "
                           f"on the archives (first: {missing[0]})", JobProblem.INSTANCES_MISSING)
            return
        for i, ref in enumerate(studies):
            if ref.include_reports:
                c.check(job, cancel)
                self._fetch_reports(job, ref, i, len(studies), cancel)
        first = c.store.index.study(job.studies[0].study_uid)
        if first is not None and not job.patient_name:
            job = c.queue.update(job.id, patient_name=first.patient_name,
                                    patient_id=first.patient_id)
        c.transition(job.id, JobState.BUILDING, "every study is in the store")

    def _missing(self, job: Job) -> list[str]:
        """The instances the job asked for that the store lacks."""
        index = self.c.store.index
        return [u for u in job.options.instances if index.instance(u) is None]

    def _fetch_reports(self, job: Job, ref: StudyRef, i: int, total: int,
                       cancel: StepCancel) -> None:
        """The study's reports into the store (report brokers, SR and PDF objects of its
        archives). A report source that fails is noted; it does not fail the job."""
        c = self.c
        if not (c.config.report_sources or c.config.archives):
            return
        from mw_tui.reports import fetch_reports

        def progress(text: str) -> None:
            c.queue.progress(job.id, Progress(0, 0, f"reports of study {i + 1} of {total}: "
                                                    f"{text}"))

        try:
            result = fetch_reports(c.config, c.store, ref.study_uid, cancel=cancel.event,
                                   progress=progress,
                                   archives=[ref.archive] if ref.archive else None)
        except Exception as exc:  # an unknown archive name, ...
            c.queue.note(job.id, f"reports of study {ref.study_uid} not fetched: {exc}")
            return
        if result.count or result.errors:
            c.queue.note(job.id, result.message)
