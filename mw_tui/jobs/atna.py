"""The audit repository's view of a job (PS3.15 A.5, through `audit.AuditTrail`): each
medium written is an Export, each study retrieved a transfer from its archive. Built
from the store's index, so the patients, studies and SOP classes are those on the medium.
An import is one Import of the studies as they were sent, from the medium they came on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable

from mw_tui.audit import (
    BeginTransferring,
    Export,
    Import,
    InstancesTransferred,
    Media,
    MediaKind,
    Node,
    Outcome,
    Patient,
    SopClass,
    Study,
    User,
)
from mw_tui.config import Config, TargetKind
from mw_tui.importing import Medium, MediumKind
from mw_tui.importing.send import changes_of, selected
from mw_tui.jobs.models import Job
from mw_tui.media.profiles import MEDIA
from mw_tui.store import Store


def study_of(store: Store, study_uid: str, only: Collection[str] = ()
             ) -> tuple[Patient | None, Study]:
    """The study as the store holds it: its patient, and its SOP classes with counts (of
    the instances `only` names, when it names any: what a medium of a request holds)."""
    row = store.index.study(study_uid)
    if row is None:
        return None, Study(study_uid)
    classes = Counter(i.sop_class for i in store.index.study_instances(study_uid)
                      if not only or i.sop_uid in only)
    study = Study(study_uid, tuple(SopClass(c, n) for c, n in sorted(classes.items())),
                  accession=row.accession, description=row.description)
    return Patient(row.patient_id, row.patient_name), study


def patients_and_studies(store: Store, study_uids: Iterable[str], only: Collection[str] = ()
                         ) -> tuple[tuple[Patient, ...], tuple[Study, ...]]:
    patients: dict[str, Patient] = {}
    studies = []
    for uid in study_uids:
        patient, study = study_of(store, uid, only)
        if patient is not None:
            patients.setdefault(patient.id, patient)
        studies.append(study)
    return tuple(patients.values()), tuple(studies)


def media_kind(kind: TargetKind, capacity: int | None) -> MediaKind:
    if kind in (TargetKind.DISC, TargetKind.PUBLISHER):
        if capacity and capacity <= (MEDIA["CD"].capacity or 0):
            return MediaKind.CD
        if capacity and capacity > (MEDIA["DVD-DL"].capacity or 0):
            return MediaKind.BD
        return MediaKind.DVD
    return {TargetKind.USB: MediaKind.USB, TargetKind.ISO: MediaKind.FILE,
            TargetKind.CLOUD: MediaKind.NETWORK}[kind]


def requester(job: Job) -> User:
    return User(job.requested_by or "unknown")


def export(store: Store, job: Job, label: str, capacity: int | None, location: str, md5: str,
           failure: str = "") -> Export:
    """One medium of the job written (or, with `failure`, not)."""
    patients, studies = patients_and_studies(store, [s.study_uid for s in job.studies],
                                             frozenset(job.options.instances))
    return Export(patients=patients, studies=studies,
                  media=Media(media_kind(job.writes_to.kind, capacity), label,
                              location or str(job.target), md5),
                  user=requester(job),
                  requested_by=Node(job.options.requested_by_ae)
                  if job.options.requested_by_ae else None,
                  anonymized=True if job.options.anonymous_profile else None,
                  outcome=Outcome.SERIOUS_FAILURE if failure else Outcome.SUCCESS,
                  description=failure)


def archive_node(config: Config, name: str) -> Node:
    try:
        a = config.archive(name)
    except KeyError:
        return Node(name)
    return Node(a.ae_title, a.host)


def begin_transfer(config: Config, store: Store, study_uid: str, archive: str,
                   user: User | None = None, patient_id: str = "", patient_name: str = ""
                   ) -> BeginTransferring:
    """A retrieve of one study begins."""
    patient, study = study_of(store, study_uid)
    return BeginTransferring(patient=patient or Patient(patient_id, patient_name),
                             studies=(study,), source=archive_node(config, archive), user=user)


def transferred(config: Config, store: Store, study_uid: str, archive: str, ok: bool,
                reason: str = "", user: User | None = None, patient_id: str = "",
                patient_name: str = "") -> InstancesTransferred:
    """A retrieve of one study ended (what arrived is what the store holds of it now)."""
    patient, study = study_of(store, study_uid)
    return InstancesTransferred(
        patient=patient or Patient(patient_id, patient_name), studies=(study,),
        source=archive_node(config, archive), user=user,
        outcome=Outcome.SUCCESS if ok else Outcome.MINOR_FAILURE, description=reason)


def imported(job: Job, medium: Medium, failure: str = "") -> Import:
    """An import job's studies sent (or, with `failure`, not all of them): the patient
    and the studies as the archive got them, the medium they came from."""
    request = job.options.importing
    assert request is not None
    plan = request.plan
    changes = changes_of(medium, plan)
    classes: dict[str, Counter[str]] = {}
    patients: dict[str, Patient] = {}
    for x in selected(medium, plan):
        uid = changes.uids(x.study.study_uid) if changes.uids else x.study.study_uid
        classes.setdefault(uid, Counter())[x.instance.sop_class_uid] += 1
        if plan.local is None:
            patients.setdefault(x.patient.patient_id, Patient(x.patient.patient_id,
                                                              x.patient.name))
        else:
            patients.setdefault(plan.local.patient_id, Patient(
                plan.local.patient_id, plan.local.name or x.patient.name))
    studies = tuple(Study(uid, tuple(SopClass(c, n) for c, n in sorted(counts.items())))
                    for uid, counts in classes.items())
    return Import(patients=tuple(patients.values()), studies=studies,
                  media=Media(_source_kind(medium), medium.label or medium.source,
                              medium.source),
                  user=requester(job),
                  outcome=Outcome.SERIOUS_FAILURE if failure else Outcome.SUCCESS,
                  description=failure)


_DISCS = {"CD": MediaKind.CD, "DVD": MediaKind.DVD, "BD": MediaKind.BD}


def _source_kind(medium: Medium) -> MediaKind:
    """The Media Type of the medium an import read. A disc is what its drive said it is
    (CD, DVD, BD); when the drive did not say, DVD: most discs patients bring are DVDs,
    and how much a disc holds says nothing of what it is (a CD's worth of images fits
    on a DVD)."""
    if medium.kind is MediumKind.DISC:
        return _DISCS.get(medium.disc, MediaKind.DVD)
    return {MediumKind.MOUNTED: MediaKind.USB, MediumKind.ISO_FILE: MediaKind.FILE}.get(
        medium.kind, MediaKind.FOLDER)
