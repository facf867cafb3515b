"""Jobs as a technician or a script asks for them: create, cancel, write again, follow."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterable, Sequence

from mw_tui.config import Config, Target
from mw_tui.deid import BurnedIn, profile_named
from mw_tui.jobs.audit import current_user
from mw_tui.jobs.models import Job, JobOptions, JobState, StudyRef, copy_options
from mw_tui.jobs.runner import cancel_now, runs_elsewhere
from mw_tui.station.core import StationCore

REMOTE_POLL = 0.02  # seconds between two looks at a jobs database another process changes
RUNNER_CHECK = 1.0  # seconds between two looks whether any process still runs the jobs


class IdentifiedDataLeaves(Exception):
    """The job would send identified data outside the hospital: someone must confirm it
    (or choose an anonymous copy). The message says so, in words for the technician."""


def leaves_identified(config: Config, target: Target, anonymize: str) -> str:
    """Why a job must be confirmed first ("" when it need not): identified data to an
    external cloud target."""
    cloud = None if anonymize else config.external_cloud(target)
    if cloud is None:
        return ""
    return (f"{target} ({cloud.url}) is outside the hospital, and these studies carry the "
            "patient's name and identifiers. Send them identified only if that is allowed "
            "(confirm), or choose an anonymous copy.")


BURNED_IN_MODALITIES = {"US": "ultrasound", "SC": "secondary capture",
                        "OT": "secondary capture", "DOC": "PDF documents"}


def burned_in_warning(config: Config, anonymize: str, modalities: Iterable[str]) -> str:
    """What an anonymous copy does with images that may show the patient's name in their
    pixels (say so on the review screen, before the job runs)."""
    if not anonymize:
        return ""
    kinds = sorted({BURNED_IN_MODALITIES[m] for m in modalities if m in BURNED_IN_MODALITIES})
    if not kinds:
        return ""
    profile = profile_named(config, anonymize)
    what = ", ".join(kinds)
    if profile.burned_in_choice is BurnedIn.LEAVE_OUT:
        return (f"Images that may show the patient's name in their pixels ({what}, and any "
                "marked so) are left out of this anonymous copy; the job lists them.")
    return (f"Images that may show the patient's name in their pixels ({what}) are kept in "
            "this anonymous copy: check them before the medium leaves the hospital.")


def create_job(station: StationCore, studies: Sequence[StudyRef], target: Target,
               profile: str = "", copies: int = 1, label: str = "", user: str = "",
               patient_name: str = "", patient_id: str = "", anonymize: str = "",
               confirmed_identified: bool = False, held: bool = False,
               options: JobOptions | None = None) -> Job:
    """Queue a job (the runner starts it at once, or once released when `held`) and record
    who asked for it. `anonymize`: a [[deid_profiles]] profile for anonymous copies
    (KeyError when unknown). IdentifiedDataLeaves when identified data would go to an
    external target and nobody confirmed it."""
    user = user or current_user()
    if anonymize:
        profile_named(station.config, anonymize)
    why = leaves_identified(station.config, target, anonymize)
    if why and not confirmed_identified:
        raise IdentifiedDataLeaves(why)
    base = options or JobOptions()
    chosen = copy_options(anonymize, **{
        k: v for k, v in base.to_dict().items() if k not in ("copy", "deid_seed")})
    if why:
        chosen = dataclasses.replace(chosen, identified_confirmed_by=user)
    first = station.store.index.study(studies[0].study_uid) if studies else None
    job = station.jobs.create(
        target, profile or station.config.media.default_profile, tuple(studies),
        patient_name=patient_name or (first.patient_name if first else ""),
        patient_id=patient_id or (first.patient_id if first else ""), copies=copies,
        label=label, requested_by=user, options=chosen, held=held)
    station.audit.record_job(job, "job created", details=(
        f"anonymous copies, profile {anonymize}" if anonymize else
        f"identified data to an external target, confirmed by {user}" if why else ""))
    station.wake_runner()
    return job


def cancel_job(station: StationCore, job_id: int, user: str = "") -> Job:
    """Cancel a job: at once when it has not started or no runner works on it here,
    else the runner stops it at its next safe point. KeyError / InvalidTransition."""
    user = user or current_user()
    if not station.runs_jobs_here:
        job = cancel_now(station.config, station.jobs, station.audit, job_id, user)
        station.wake_runner()  # the station running it stops it now
        return job
    job, now = station.jobs.cancel(job_id)
    if now:  # it had not started: nothing to stop
        station.audit.record_job(job, "job cancelled", user=user, result="cancelled")
    station.wake_runner()
    return job


def again(station: StationCore, job_id: int, user: str = "") -> Job:
    """A new job writing the same studies to the same target (another copy, or after a
    failure): the studies are taken from the store when they are there by now."""
    old = station.jobs.get(job_id)
    studies = tuple(StudyRef(s.study_uid, s.archive, s.expected_instances, s.include_reports)
                    for s in old.studies)
    return create_job(station, studies, old.writes_to, old.profile, old.copies, old.label, user,
                      old.patient_name, old.patient_id, old.options.anonymous_profile,
                      confirmed_identified=bool(old.options.identified_confirmed_by),
                      options=old.options)


def follow(station: StationCore, job_id: int, show: Callable[[Job], None],
           stop: threading.Event, interval: float = 0.1) -> Job:
    """Call `show(job)` as the job changes (its state at once, its progress ten times a
    second at most) until it is finished or `stop` is set; returns the job as last seen.
    The job may run in this process, or in another station: then the database is
    watched (`JobQueue.version()`, every `REMOTE_POLL` seconds) and read when it changed."""
    if not station.runs_jobs_here:
        return _follow_elsewhere(station, job_id, show, stop)
    changed = threading.Event()
    seen: list[object] = [None, 0.0]

    def heard(job: Job) -> None:
        if job.id != job_id:
            return
        now = time.monotonic()
        if job.state is not seen[0] or now - float(seen[1]) >= interval:  # type: ignore[arg-type]
            seen[0], seen[1] = job.state, now
            changed.set()

    station.jobs.subscribe(heard)
    try:
        while True:
            job = station.jobs.get(job_id)
            show(job)
            if job.state.finished or stop.is_set():
                return job
            changed.wait(0.5)  # another process's runner is only read, not heard
            changed.clear()
    finally:
        station.jobs.unsubscribe(heard)


def _follow_elsewhere(station: StationCore, job_id: int, show: Callable[[Job], None],
                      stop: threading.Event) -> Job:
    """Returns the job unfinished (and `stop` not set) when nobody runs the jobs any more:
    the station that ran them stopped (see `nobody_runs`)."""
    checked = time.monotonic()
    while True:
        version = station.jobs.version()
        job = station.jobs.get(job_id)
        show(job)
        if job.state.finished or stop.is_set():
            return job
        if time.monotonic() - checked >= RUNNER_CHECK:
            checked = time.monotonic()
            if nobody_runs(station):
                job = station.jobs.get(job_id)  # it may have ended just before its station
                show(job)
                return job
        deadline = time.monotonic() + 1.0  # and at least once a second
        while (station.jobs.version() == version and time.monotonic() < deadline
               and not stop.wait(REMOTE_POLL)):
            pass


def nobody_runs(station: StationCore) -> bool:
    """Whether no process runs the jobs now: none holds the jobs lock, and this station
    could not take them either (it does when it was to run them)."""
    return not runs_elsewhere(station.config) and not station.take_jobs()


def wait_finished(station: StationCore, job_id: int, timeout: float) -> Job:
    """The job once it is finished, or as it is after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    job = station.jobs.get(job_id)
    while not job.state.finished and time.monotonic() < deadline:
        time.sleep(0.2)
        job = station.jobs.get(job_id)
    return job


def active(job: Job) -> bool:
    return job.state not in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)
