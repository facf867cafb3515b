"""What a job is: frozen values and the states it moves through."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from mw_tui.config.targets import Target, TargetKind
from mw_tui.importing.plan import ImportPlan

__all__ = ["ANONYMOUS", "IMPORT_STEPS", "PATIENT_COPY", "STEPS", "ImportRequest", "Job",
           "JobKind", "JobOptions", "JobProblem", "JobState", "Progress", "StudyRef", "Target",
           "TargetKind", "VolumeRecord", "copy_options", "steps_of"]


class JobState(StrEnum):
    HELD = "held"  # created, waiting to be started (a Media Creation request not initiated)
    QUEUED = "queued"
    RETRIEVING = "retrieving"
    BUILDING = "building"
    WAITING_FOR_MEDIA = "waiting for media"
    WRITING = "writing"
    VERIFYING = "verifying"
    READING = "reading"  # an import: the outside medium is read
    SENDING = "sending"  # an import: its instances go to the archive
    COUNTING = "counting"  # an import: the archive says how many it holds
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


class JobProblem(StrEnum):
    """Why a job failed, for those who ask in codes (a Media Creation request); "" = any
    other reason (the job's error says it in words)."""

    OTHER = ""
    TOO_MANY_MEDIA = "too many media"  # needs more than one medium, splitting not allowed
    INSTANCE_TOO_LARGE = "instance too large"  # one instance is larger than the medium
    INSTANCES_MISSING = "instances missing"  # instances asked for are nowhere to be had
    WRITER = "writer"  # the drive, folder, robot or cloud archive failed


# The order of the steps; a job resumes at the step it was in.
STEPS = (JobState.QUEUED, JobState.RETRIEVING, JobState.BUILDING, JobState.WAITING_FOR_MEDIA,
         JobState.WRITING, JobState.VERIFYING, JobState.DONE)
IMPORT_STEPS = (JobState.QUEUED, JobState.READING, JobState.SENDING, JobState.COUNTING,
                JobState.DONE)


class JobKind(StrEnum):
    MEDIA = "media"  # studies written to a target (a disc, a stick, an ISO file, a cloud)
    IMPORT = "import"  # an outside medium sent to an archive (no target, no medium written)


def steps_of(kind: JobKind) -> tuple[JobState, ...]:
    return IMPORT_STEPS if kind is JobKind.IMPORT else STEPS


@dataclass(frozen=True, slots=True)
class StudyRef:
    """A study of a job, and the archive to retrieve it from when the store lacks it."""

    study_uid: str
    archive: str = ""  # "" = already in the store / pushed to the station
    expected_instances: int = 0
    include_reports: bool = True


@dataclass(frozen=True, slots=True)
class ImportRequest:
    """What an import job takes in: the outside medium (a folder, an ISO file or a
    device) and the technician's plan; `medium` and `outside` say, for the audit log,
    which medium and which outside patient(s) it was when the job was made."""

    source: str
    plan: ImportPlan
    medium: str = ""  # e.g. "disc OUTSIDE in /dev/sr0"
    outside: str = ""  # e.g. "Doe^John (EXT-4711, issuer OTHER)"

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "plan": self.plan.to_dict(), "medium": self.medium,
                "outside": self.outside}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ImportRequest:
        return cls(str(data["source"]), ImportPlan.from_dict(data["plan"]),
                   str(data.get("medium", "")), str(data.get("outside", "")))


PATIENT_COPY = "patient"  # the studies as stored
ANONYMOUS = "anonymous:"  # + a [[deid_profiles]] name: de-identified copies


@dataclass(frozen=True, slots=True)
class JobOptions:
    """What a job carries beyond its studies and target (stored as JSON with the job)."""

    copy: str = PATIENT_COPY  # "patient" or "anonymous:PROFILE"
    deid_seed: str = ""  # the job's de-identification key (never shown or logged)
    identified_confirmed_by: str = ""  # who confirmed identified data to an external target
    barcode: str = ""  # a Barcode Value asked for (Media Creation Management)
    allow_splitting: bool = True  # False: a job needing two media fails instead
    include_viewer: bool | None = None  # None: as [media] viewer_folder says
    requested_by_ae: str = ""  # a remote application that asked (a RIS, over DICOM)
    priority: str = ""  # HIGH, MED, LOW as asked (Media Creation Management): HIGH first
    instances: tuple[str, ...] = ()  # only these SOP Instance UIDs of the studies (a request)
    fileset_id: str = ""  # the File-set ID (volume label) asked for
    disposition: str = ""  # where the media go, as asked (Media Disposition)
    web: bool | None = None  # False: no web images (non-DICOM objects); None: as configured
    preserve: bool | None = None  # False: the studies' retention is not renewed by the job
    request_uid: str = ""  # the Media Creation request (SOP Instance UID) it carries out
    importing: ImportRequest | None = None  # an import job's medium and plan

    @property
    def anonymous_profile(self) -> str:
        """The de-identification profile of an anonymous copy ("" for a patient copy)."""
        return self.copy[len(ANONYMOUS):] if self.copy.startswith(ANONYMOUS) else ""

    def to_dict(self) -> dict[str, Any]:
        """The options that differ from the defaults."""
        defaults = JobOptions()
        out = {f: getattr(self, f) for f in self.__dataclass_fields__
               if getattr(self, f) != getattr(defaults, f)}
        if self.importing is not None:
            out["importing"] = self.importing.to_dict()
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> JobOptions:
        values = json.loads(text or "{}")
        known = {f for f in cls.__dataclass_fields__}
        if isinstance(values.get("instances"), list):
            values["instances"] = tuple(values["instances"])
        if values.get("importing"):
            values["importing"] = ImportRequest.from_dict(values["importing"])
        return cls(**{k: v for k, v in values.items() if k in known})


def copy_options(deid_profile: str = "", **more: object) -> JobOptions:
    """A patient copy, or an anonymous one (with a new secret seed) for `deid_profile`."""
    if not deid_profile:
        return JobOptions(**more)  # type: ignore[arg-type]
    from mw_tui.deid import new_seed

    return JobOptions(copy=ANONYMOUS + deid_profile, deid_seed=new_seed(),
                      **more)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Progress:
    """Progress of the current step."""

    done: float = 0.0  # units of work done
    total: float = 0.0  # 0 = unknown
    message: str = ""
    rate: float = 0.0  # units per second, when known
    eta: float | None = None  # seconds left, when known

    @property
    def fraction(self) -> float | None:
        return min(1.0, self.done / self.total) if self.total else None


@dataclass(frozen=True, slots=True)
class VolumeRecord:
    """A medium a job made (or is making). `label_kind` and `created` are what its label
    says of it, kept so that the label can be made again once the job's work folder (its
    built volumes) is gone; "" in the records of jobs from before they were kept."""

    label: str
    number: int
    count: int
    iso: str = ""
    md5: str = ""
    size: int = 0
    written: int = 0  # copies written and verified
    details: str = ""
    label_kind: str = ""  # DICOM PLUS WEB or DICOM ONLY (Volume.label_kind)
    created: str = ""  # ISO 8601 date and time the volume was built (Volume.created)


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    state: JobState
    target: Target | None  # None: an import job (it writes no medium)
    profile: str
    studies: tuple[StudyRef, ...]
    patient_name: str = ""
    patient_id: str = ""
    copies: int = 1
    label: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0
    attempts: int = 0
    error: str = ""
    progress: Progress = field(default_factory=Progress)
    volumes: tuple[VolumeRecord, ...] = ()
    requested_by: str = ""
    rule: str = ""  # the auto-rule that created it, if any
    cancel_requested: bool = False
    next_try_at: float = 0.0
    options: JobOptions = field(default_factory=JobOptions)
    problem: JobProblem = JobProblem.OTHER  # why it failed, as a code (see `error`)

    def with_(self, **changes: Any) -> Job:
        return replace(self, **changes)

    @property
    def kind(self) -> JobKind:
        return JobKind.MEDIA if self.options.importing is None else JobKind.IMPORT

    @property
    def writes_to(self) -> Target:
        """The target of a job that writes media (ValueError for an import job)."""
        if self.target is None:
            raise ValueError(f"job {self.id} imports a medium: it has no target")
        return self.target

    @property
    def destination(self) -> str:
        """Where the job goes: its target, or the archive an import sends to."""
        if self.options.importing is not None:
            return self.options.importing.plan.destination
        return str(self.target)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state.value,
            "kind": self.kind.value,
            "target": self.destination,
            "profile": self.profile,
            "copies": self.copies,
            "label": self.label,
            "patient_name": self.patient_name,
            "patient_id": self.patient_id,
            "studies": [s.study_uid for s in self.studies],
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "attempts": self.attempts,
            "error": self.error,
            "progress": {"done": self.progress.done, "total": self.progress.total,
                         "message": self.progress.message},
            "volumes": [{"label": v.label, "number": v.number, "count": v.count,
                         "md5": v.md5, "size": v.size, "written": v.written,
                         "details": v.details} for v in self.volumes],
            "rule": self.rule,
            "copy": self.options.copy,
            "requested_by": self.requested_by,
            **({"source": self.options.importing.source, "medium": self.options.importing.medium}
               if self.options.importing is not None else {}),
        }


def dump_studies(studies: tuple[StudyRef, ...]) -> str:
    return json.dumps([[s.study_uid, s.archive, s.expected_instances, s.include_reports]
                       for s in studies])


def load_studies(text: str) -> tuple[StudyRef, ...]:
    return tuple(StudyRef(u, a, int(n), bool(r)) for u, a, n, r in json.loads(text))


def dump_volumes(volumes: tuple[VolumeRecord, ...]) -> str:
    return json.dumps([[v.label, v.number, v.count, v.iso, v.md5, v.size, v.written, v.details,
                        v.label_kind, v.created] for v in volumes])


def load_volumes(text: str) -> tuple[VolumeRecord, ...]:
    """The records `dump_volumes` saved (those of older jobs have no label kind or date)."""
    return tuple(VolumeRecord(*row) for row in json.loads(text or "[]"))
