"""Media asked for over DICOM (Media Creation Management, PS3.4 Annex S): each request
becomes a job of the queue, held until its requester initiates it, and its state is the
job's, said in the words of the standard.

`MediaRequests` is the `mw_tui.dicom.mcm.MediaCreation` the receiver calls. Its worker
processes make one each with `McmFactory(config)` (picklable), on the station's own
databases (the job queue, the audit log, the requests: SQLite WAL, shared with the main
process, whose runner takes up the jobs once initiated). The referenced instances are
looked for in the store, then on the archives (C-FIND at IMAGE level): the job retrieves
the studies holding those it lacks, and writes only the instances referenced.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable
from typing import NamedTuple

from pydicom.uid import generate_uid

from mw_tui.config import Config, StoragePaths, Target, is_valid_uid
from mw_tui.dicom.instances import InstancesLocated, locate_instances
from mw_tui.dicom.mcm import (
    FailedInstance,
    MediaRequest,
    Outcome,
    Reference,
    RequestState,
)
from mw_tui.jobs.audit import AuditLog
from mw_tui.jobs.models import Job, JobOptions, JobProblem, JobState, StudyRef
from mw_tui.jobs.queue import InvalidTransition, JobQueue
from mw_tui.media.profiles import Profile
from mw_tui.standard import status
from mw_tui.standard.mcm import ExecutionStatus, FailureReason, StatusInfo
from mw_tui.station.mcm_book import RequestBook, RequestRecord
from mw_tui.store import Store

log = logging.getLogger(__name__)

Locate = Callable[[Config, Iterable[str]], InstancesLocated]

_INFO = {JobProblem.TOO_MANY_MEDIA: StatusInfo.SET_OVERSIZED,
         JobProblem.INSTANCE_TOO_LARGE: StatusInfo.INST_OVERSIZED,
         JobProblem.INSTANCES_MISSING: StatusInfo.NO_INSTANCE,
         JobProblem.WRITER: StatusInfo.MCD_FAILURE}
_UNINTERRUPTIBLE = (JobState.WRITING, JobState.VERIFYING)  # a disc being burned


class _Found(NamedTuple):
    """Where a request's instances are."""

    where: dict[str, str]  # study UID -> archive ("" = the store) of each instance found
    missing: list[Reference]  # found nowhere
    errors: tuple[str, ...]  # the archives that could not be asked ("NAME: why")


class McmFactory:
    """Makes a receiver worker's `MediaRequests` (picklable: it holds the configuration)."""

    def __init__(self, config: Config) -> None:
        self.config = config

    def __call__(self, store: Store) -> MediaRequests:
        return MediaRequests(self.config, store)


class MediaRequests:
    """Media creation requests as jobs of the queue (every method is thread-safe)."""

    def __init__(self, config: Config, store: Store, jobs: JobQueue | None = None,
                 audit: AuditLog | None = None, locate: Locate = locate_instances) -> None:
        paths = StoragePaths.of(config)
        self.config = config
        self.store = store
        self.jobs = jobs or JobQueue(paths.jobs_db)
        self.audit = audit or AuditLog(paths.jobs_db, config.station.ae_title,
                                       syslog=config.jobs.syslog)
        self.book = RequestBook(paths.media_requests)
        self.locate = locate

    # -- N-CREATE ---------------------------------------------------------------------

    def create(self, request: MediaRequest, uid: str, caller: str) -> Outcome:
        if uid and not is_valid_uid(uid):
            return Outcome(status.INVALID_OBJECT_INSTANCE, uid, "not a valid UID")
        uid = uid or generate_uid(prefix=None)
        problem = self._profile(request)[1]
        if problem:
            return Outcome(status.INVALID_ATTRIBUTE_VALUE, uid, problem)
        if not self.book.add(uid, caller, request):
            old = self.book.get(uid)
            code = (status.ALREADY_INITIATED if old is not None and old.initiated
                    else status.DUPLICATE_SOP_INSTANCE)
            return Outcome(code, uid, "a request with this UID exists")
        try:
            job = self._job(uid, request, caller)
        except BaseException:  # not created after all (nor its job): it may be sent again
            self.book.remove(uid)
            raise
        return Outcome(status.SUCCESS, uid, job_id=job.id if job else 0)

    def _profile(self, request: MediaRequest) -> tuple[str, str]:
        """The profile the request's media get, or ("", why it cannot be honoured)."""
        asked = {r.profile.strip().upper() for r in request.references if r.profile.strip()}
        if len(asked) > 1:
            return "", "RequestedMediaApplicationProfile differs between items"
        profile = asked.pop() if asked else (self.config.mcm.profile
                                             or self.config.media.default_profile)
        try:
            return Profile(profile).value, ""
        except ValueError:
            return "", f"media application profile {profile} not supported"[:64]

    def _job(self, uid: str, request: MediaRequest, caller: str,
             found: _Found | None = None) -> Job | None:
        """The held job of the request, when every instance it references can be had
        (`found`: where they are, when looked for already)."""
        where, missing, _ = found if found is not None else self._where(request.references)
        if missing:
            log.info("media creation request %s: %d of %d instances not found yet (in the "
                     "store or on an archive); looked for again when it is initiated", uid,
                     len(missing), len(request.references))
            return None
        first = self.store.index.study(next(iter(where)))
        options = JobOptions(
            barcode=request.barcode, allow_splitting=request.allow_splitting is not False,
            include_viewer=request.display_application, requested_by_ae=caller,
            priority=request.priority, instances=tuple(r.sop_instance for r in request.references),
            fileset_id=request.fileset_id, disposition=request.disposition,
            web=False if request.non_dicom == "NO" else None, preserve=request.preserve,
            request_uid=uid)
        target = Target.parse(self.config.mcm.target)
        if self.config.external_cloud(target) is not None:  # `config check` refuses it too
            raise ValueError(f"[mcm] target {target} is outside the hospital: media asked for "
                             "over DICOM carry identified data nobody confirms")
        job = self.jobs.create(
            target, self._profile(request)[0],
            tuple(StudyRef(study, archive, 0, include_reports=False)
                  for study, archive in where.items()),
            patient_name=first.patient_name if first else "",
            patient_id=first.patient_id if first else "", copies=request.copies or 1,
            label=request.label_text, requested_by=caller, options=options, held=True)
        try:
            self.book.attach(uid, job.id)
            self.audit.record_job(job, "job created", user=caller,
                                  details=f"Media Creation request {uid}")
            if request.display_application and not self.config.media.viewer_folder:
                self.jobs.note(job.id, "a display application was asked for: none is "
                                       "configured (media.viewer_folder)")
            if request.disposition:
                self.jobs.note(job.id, f"media disposition: {request.disposition}")
        except BaseException:  # no held job left behind, of a request that has none
            self._drop(uid, job.id)
            raise
        return job

    def _drop(self, uid: str, job_id: int) -> None:
        """Cancel the job just made for a request that failed to get it, and detach it."""
        try:
            self.jobs.cancel(job_id)
            self.book.attach(uid, 0)
        except Exception:  # the error being raised is the one to report
            log.exception("media creation request %s: its job %d could not be dropped", uid,
                          job_id)

    def _where(self, refs: Iterable[Reference]) -> _Found:
        """Where the referenced instances are: in the store, or on which archive."""
        where: dict[str, str] = {}
        elsewhere: list[Reference] = []
        for ref in refs:
            study = self.store.index.study_of(ref.sop_instance)
            if study is None:
                elsewhere.append(ref)
            else:
                where.setdefault(study, "")
        if not elsewhere:
            return _Found(where, [], ())
        located = self.locate(self.config, [r.sop_instance for r in elsewhere])
        for message in located.errors:
            log.warning("media creation request: looking for instances: %s", message)
        missing = []
        for ref in elsewhere:
            at = located.found.get(ref.sop_instance)
            if at is None:
                missing.append(ref)
            elif not where.get(at.study_uid):
                where[at.study_uid] = at.archive
        return _Found(where, missing, located.errors)

    # -- N-ACTION ---------------------------------------------------------------------

    def initiate(self, uid: str, caller: str, priority: str = "",
                 copies: int | None = None) -> Outcome:
        record = self.book.get(uid)
        if record is None:
            return Outcome(status.NO_SUCH_SOP_INSTANCE, uid, "no such request")
        if record.initiated:
            return Outcome(status.ALREADY_INITIATED, uid, "already initiated", record.job_id)
        if record.cancelled:
            return Outcome(status.ALREADY_COMPLETED, uid, "the request was cancelled")
        job = self.jobs.get(record.job_id) if record.job_id else None
        if job is not None and job.state is not JobState.HELD:
            code = status.ALREADY_COMPLETED if job.state.finished else status.ALREADY_INITIATED
            return Outcome(code, uid, f"the request is {job.state.value}", job.id)
        if not self.book.initiate(uid):
            return Outcome(status.ALREADY_INITIATED, uid, "already initiated", record.job_id)
        if job is None:
            try:
                found = self._where(record.request.references)
                job = self._job(uid, record.request, record.caller, found)
            except BaseException:
                self.book.fail(uid, StatusInfo.PROC_FAILURE.value, ())
                raise
            if job is None:
                return self._unavailable(record, found)
        try:
            if priority or copies:
                job = self.jobs.update(job.id, copies=copies, options=dataclasses.replace(
                    job.options, priority=priority or job.options.priority))
            job = self.jobs.transition(job.id, JobState.QUEUED, f"started by {caller}")
        except InvalidTransition as exc:  # cancelled at the station meanwhile
            return Outcome(status.ALREADY_COMPLETED, uid, str(exc)[:64], job.id)
        except BaseException:  # its job not queued: the requester may initiate it again
            self.book.uninitiate(uid)
            raise
        self.audit.record_job(job, "job started", user=caller,
                              details=f"Media Creation request {uid} initiated")
        return Outcome(status.SUCCESS, uid, job_id=job.id)

    def _unavailable(self, record: RequestRecord, found: _Found) -> Outcome:
        """An initiated request whose instances cannot all be had: it fails, each missing
        instance in the Failed SOP Sequence; unless an archive could not be asked (they
        may be there): then it stays as it was, to be initiated again."""
        if found.errors:
            self.book.uninitiate(record.uid)
            archives = ", ".join(e.partition(":")[0] for e in found.errors)
            log.warning("media creation request %s from %s not started: %d referenced "
                        "instance(s) not found, and an archive could not be asked (%s); it "
                        "may be initiated again", record.uid, record.caller,
                        len(found.missing), "; ".join(found.errors))
            return Outcome(status.RESOURCE_LIMITATION, record.uid,
                           f"archive {archives} not reachable: initiate again later"[:64])
        missing = found.missing
        failed = tuple(FailedInstance(r.sop_class, r.sop_instance,
                                      FailureReason.NO_SUCH_INSTANCE) for r in missing)
        self.book.fail(record.uid, StatusInfo.NO_INSTANCE.value, failed)
        log.warning("media creation request %s from %s failed: %d referenced instance(s) "
                    "neither in the store nor on an archive (first: %s)", record.uid,
                    record.caller, len(failed), failed[0].sop_instance if failed else "-")
        return Outcome(status.PROCESSING_FAILURE, record.uid,
                       f"{len(failed)} referenced instance(s) not available")

    def cancel(self, uid: str, caller: str) -> Outcome:
        record = self.book.get(uid)
        if record is None:
            return Outcome(status.NO_SUCH_SOP_INSTANCE, uid, "no such request")
        if not record.job_id:
            if record.failure or record.cancelled:
                return Outcome(status.ALREADY_COMPLETED, uid, "the request is over")
            self.book.cancel(uid)
            return Outcome(status.SUCCESS, uid)
        job = self.jobs.get(record.job_id)
        if job.state.finished:
            return Outcome(status.ALREADY_COMPLETED, uid, f"the request is {job.state.value}",
                           job.id)
        if job.state in _UNINTERRUPTIBLE:
            return Outcome(status.CANNOT_INTERRUPT, uid, f"the medium is being written "
                           f"({job.state.value})", job.id)
        try:
            job, now = self.jobs.cancel(job.id)
        except InvalidTransition as exc:
            return Outcome(status.ALREADY_COMPLETED, uid, str(exc)[:64], record.job_id)
        if now:
            self.audit.record_job(job, "job cancelled", user=caller, result="cancelled")
        return Outcome(status.SUCCESS, uid, job_id=job.id)

    # -- N-GET ------------------------------------------------------------------------

    def state(self, uid: str) -> RequestState | None:
        record = self.book.get(uid)
        if record is None:
            return None
        request = record.request
        if not record.job_id:
            if record.failure:
                return RequestState(request, ExecutionStatus.FAILURE,
                                    StatusInfo(record.failure), failed=record.failed)
            if record.cancelled:
                return RequestState(request, ExecutionStatus.FAILURE, StatusInfo.CANCELLED)
            return RequestState(request, ExecutionStatus.IDLE, StatusInfo.NORMAL)
        job = self.jobs.get(record.job_id)
        request = _as_done(request, job)
        pieces = sum(v.written for v in job.volumes)
        media = tuple(v.label for v in job.volumes if v.written)
        execution, info = _execution(job)
        failed: tuple[FailedInstance, ...] = ()
        if job.problem is JobProblem.INSTANCES_MISSING:
            failed = tuple(FailedInstance(r.sop_class, r.sop_instance,
                                          FailureReason.NO_SUCH_INSTANCE)
                           for r in request.references
                           if self.store.index.instance(r.sop_instance) is None)
        return RequestState(request, execution, info, pieces, failed, media, job.id)


def _execution(job: Job) -> tuple[ExecutionStatus, StatusInfo]:
    """A job's state as Execution Status and Execution Status Info."""
    if job.state is JobState.HELD:
        return ExecutionStatus.IDLE, StatusInfo.NORMAL
    if job.state is JobState.DONE:
        return ExecutionStatus.DONE, StatusInfo.NORMAL
    if job.state is JobState.CANCELLED or job.cancel_requested:
        return ExecutionStatus.FAILURE, StatusInfo.CANCELLED
    if job.state is JobState.FAILED:
        return ExecutionStatus.FAILURE, _INFO.get(job.problem, StatusInfo.PROC_FAILURE)
    if job.state is JobState.QUEUED:
        return ExecutionStatus.PENDING, StatusInfo.QUEUED
    if job.state is JobState.WAITING_FOR_MEDIA:
        return ExecutionStatus.CREATING, StatusInfo.CHECK_MCD_OP
    return ExecutionStatus.CREATING, StatusInfo.NORMAL


def _as_done(request: MediaRequest, job: Job) -> MediaRequest:
    """The request with what the station decided where it asked nothing."""
    return dataclasses.replace(request, copies=job.copies, priority=job.options.priority or "MED",
                   allow_splitting=job.options.allow_splitting,
                   fileset_id=request.fileset_id or (job.volumes[0].label if job.volumes
                                                     else ""))
