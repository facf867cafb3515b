"""Importing a patient's outside disc or stick, as the technician or a script asks for
it: read what the medium holds, find the local patient in the archives, plan, and queue
the import job (which reads the medium again, sends and counts: `jobs.importing`)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence

from mw_tui.config import Config
from mw_tui.importing import (
    Destination,
    ImportPlan,
    LocalPatient,
    Medium,
    MediumKind,
    PlanError,
    Proposal,
    ReadProgress,
    propose,
    read_medium,
)
from mw_tui.jobs.audit import current_user
from mw_tui.jobs.importing import local_patient, outside_patients
from mw_tui.jobs.models import ImportRequest, Job, JobOptions, StudyRef
from mw_tui.station.core import StationCore


def read(config: Config, source: str | os.PathLike[str], progress: ReadProgress | None = None,
         cancel: Callable[[], bool] | None = None) -> Medium:
    """What a folder, an ISO file or a device holds (MediumError says why it cannot be
    read, and what to do)."""
    return read_medium(source, config, progress, cancel)


def proposals(config: Config, medium: Medium, cancel: threading.Event | None = None
              ) -> list[Proposal]:
    """Per outside patient of the medium, the local patients the archives know, best first."""
    return propose(config, medium, cancel=cancel)


def destinations(config: Config) -> list[str]:
    """Where an import may go, the configured one first: archives, then cloud:NAME."""
    names = [a.name for a in config.archives] + [f"cloud:{t.name}" for t in config.targets]
    try:
        default = str(Destination.parse("", config))
    except PlanError:  # nothing configured to import into, or an unknown default
        default = ""
    return sorted(names, key=lambda n: n != default)


def plan(config: Config, local: LocalPatient | None, destination: str = "",
         study_uids: Sequence[str] = (), accession: str = "",
         new_uids: bool | None = None) -> ImportPlan:
    """The technician's decision, with the configuration's defaults (PlanError when a
    value is not acceptable)."""
    return ImportPlan.make(config, local, destination=destination,
                           study_uids=tuple(study_uids), accession=accession,
                           new_uids=new_uids)


def describe(medium: Medium) -> str:
    """"disc OUTSIDE in /dev/sr0", "ISO file /x/disc.iso", "USB stick /dev/sdb1", ..."""
    label = f" {medium.label}" if medium.label else ""
    if medium.kind is MediumKind.DISC:
        return f"disc{label} in {medium.source}"
    if medium.kind is MediumKind.MOUNTED:
        return f"USB stick{label} ({medium.source})"
    return f"{medium.kind.value} {medium.source}"


def create_import_job(station: StationCore, source: str | os.PathLike[str], plan: ImportPlan,
                      medium: Medium | None = None, user: str = "") -> Job:
    """Queue an import of `source` as planned and record who asked for it. `medium`, the
    medium as the technician saw it (when read first), names its studies and patients."""
    path = os.path.abspath(source)  # the station that runs the job may have another cwd
    request = ImportRequest(path, plan)
    studies: tuple[StudyRef, ...] = ()
    name = plan.local.name if plan.local is not None else ""
    pid = plan.local.patient_id if plan.local is not None else ""
    if medium is not None:
        request = ImportRequest(path, plan, describe(medium), outside_patients(medium, request))
        chosen = [s for s in medium.studies
                  if not plan.study_uids or s.study_uid in plan.study_uids]
        studies = tuple(StudyRef(s.study_uid, "", s.instance_count, False) for s in chosen)
        if chosen:
            first = medium.patient_of(chosen[0].study_uid)
            name, pid = name or first.name, pid or first.patient_id
    return _queue(station, request, studies, name, pid, user)


def import_again(station: StationCore, job_id: int, user: str = "") -> Job:
    """The same medium imported again as planned (after a failure): the same UIDs, so
    what the archive holds already is replaced, not doubled."""
    old = station.jobs.get(job_id)
    if old.options.importing is None:
        raise ValueError(f"job {job_id} writes media: it imports nothing")
    return _queue(station, old.options.importing, old.studies, old.patient_name,
                  old.patient_id, user)


def _queue(station: StationCore, request: ImportRequest, studies: tuple[StudyRef, ...],
           name: str, pid: str, user: str) -> Job:
    user = user or current_user()
    job = station.jobs.create(None, "", studies, patient_name=name, patient_id=pid,
                              requested_by=user, options=JobOptions(importing=request))
    station.audit.record_job(job, "import job created", volume=request.medium or request.source,
                             details=f"{request.outside or 'the patient on the medium'} as "
                                     f"{local_patient(request)}")
    station.wake_runner()
    return job
