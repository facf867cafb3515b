"""What the report code hands around: frozen values, no network, no Textual."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class ReportKind(StrEnum):
    """Where a report came from: text from a Mitra broker (stored as a Basic Text SR), or
    a standard SR or Encapsulated PDF object of the study."""

    MITRA = "mitra"
    SR = "sr"
    PDF = "pdf"


class ReportStatus(StrEnum):
    """A report's status as the medium shows it (from the SR flags or the broker)."""

    FINAL = "final"  # approved / verified
    PRELIMINARY = "preliminary"  # complete but not verified
    PARTIAL = "partial"  # not complete (e.g. dictated, not transcribed yet)
    UNKNOWN = ""


@dataclass(frozen=True, slots=True)
class Approval:
    """One approver of an interpretation (InterpretationApproverSequence item)."""

    physician: str = ""
    date: str = ""
    time: str = ""


@dataclass(frozen=True, slots=True)
class Interpretation:
    """One report as a Mitra broker returned it (the group 4008 attributes, as text)."""

    source: str  # the report source's name
    interpretation_id: str = ""
    id_issuer: str = ""
    type_id: str = ""  # REPORT, AMENDMENT, ...
    status_id: str = ""  # CREATED, RECORDED, TRANSCRIBED, APPROVED, ...
    text: str = ""
    impressions: str = ""
    diagnosis: str = ""
    recorded_date: str = ""
    recorded_time: str = ""
    author: str = ""
    transcriber: str = ""
    approvals: tuple[Approval, ...] = ()
    study_uid: str = ""
    accession: str = ""
    patient_id: str = ""
    extra: tuple[tuple[str, str], ...] = ()  # anything else the broker returned

    @property
    def approved(self) -> bool:
        return self.status_id.strip().upper() in APPROVED_STATUSES

    @property
    def complete(self) -> bool:
        return self.approved or self.status_id.strip().upper() in COMPLETE_STATUSES

    @property
    def is_empty(self) -> bool:
        return not (self.text.strip() or self.impressions.strip() or self.diagnosis.strip())


# Interpretation Status IDs (PS3.3-1998 Detached Interpretation Management) and the words
# brokers are known to use instead
APPROVED_STATUSES = frozenset({"APPROVED", "FINAL", "F", "VERIFIED", "SIGNED", "AUTHENTICATED"})
COMPLETE_STATUSES = frozenset({"TRANSCRIBED", "PRELIMINARY", "P", "COMPLETED", "COMPLETE"})


@dataclass(frozen=True, slots=True)
class StudyKeys:
    """What identifies a study to a report source, and the attributes a report made from
    text copies so it belongs to the study (patient and study modules)."""

    study_uid: str
    accession: str = ""
    patient_id: str = ""
    attributes: tuple[tuple[str, Any], ...] = ()  # keyword -> value, for a new SR

    def key(self, name: str) -> str:
        return {"accession": self.accession, "study_uid": self.study_uid,
                "patient_id": self.patient_id}.get(name, "")


@dataclass(frozen=True, slots=True)
class FoundReport:
    """A report of the study, as listed on screens, by the CLI and in the result."""

    kind: ReportKind
    title: str
    status: ReportStatus
    date: str  # YYYYMMDD or ""
    time: str
    author: str
    origin: str  # the report source or archive it came from ("store": already there)
    sop_uid: str = ""
    sop_class: str = ""
    added: bool = False  # put into the store by this fetch
    text: str = ""  # the report's text (an SR's text items; "" for a PDF)
    impressions: str = ""  # its Impressions section

    def to_json(self) -> dict[str, Any]:
        return {"source": self.kind.value, "title": self.title, "status": self.status.value,
                "date": self.date, "time": self.time, "author": self.author,
                "origin": self.origin, "SOPInstanceUID": self.sop_uid,
                "SOPClassUID": self.sop_class, "added": self.added, "text": self.text,
                "impressions": self.impressions}


@dataclass(frozen=True, slots=True)
class SourceError:
    """A report source or archive that could not answer; `message` says what to do."""

    origin: str
    kind: ReportKind  # MITRA for a broker, SR for an archive's SR/PDF search
    message: str


@dataclass(frozen=True, slots=True)
class ReportsResult:
    """How fetching a study's reports ended."""

    study_uid: str
    reports: tuple[FoundReport, ...]  # every report of the study now in the store
    added: int  # instances put into the store by this fetch (new or changed)
    errors: tuple[SourceError, ...]
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors and not self.cancelled

    @property
    def count(self) -> int:
        return len(self.reports)

    @property
    def titles(self) -> tuple[str, ...]:
        return tuple(r.title for r in self.reports)

    def by_kind(self, kind: ReportKind) -> tuple[FoundReport, ...]:
        return tuple(r for r in self.reports if r.kind is kind)

    @property
    def message(self) -> str:
        """One line for a job's log or a status bar."""
        found = (f"{self.count} report{'s' if self.count != 1 else ''} of study "
                 f"{self.study_uid}" + (f" ({self.added} new in the store)" if self.added
                                        else ""))
        if self.cancelled:
            return f"fetching reports was cancelled; {found}"
        if self.errors:
            return found + "; " + " ".join(f"{e.origin}: {e.message}" for e in self.errors)
        return found


ProgressCallback = Callable[[str], None]
