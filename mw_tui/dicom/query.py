"""What a technician searches for, and what the archives answer: plain frozen values.

`StudyQuery` holds the keys of the conformance statement's Figure 4 (Study Date as a date
or a range with open ends, Accession Number, Modality, Patient Name with `*` and `?`,
Patient ID, Birth Date, Sex), validated with messages that say what is allowed. At STUDY
level the modality is sent as ModalitiesInStudy (0008,0061): that is the standard key,
and Orthanc (like most archives) matches nothing when Modality (0008,0060) is sent at
study level.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from mw_tui.config import is_valid_uid
from mw_tui.dicom.client import Problem
from mw_tui.dicom.identifier import Identifier

# Return keys asked of every study (Figure 4 plus what the screens show).
STUDY_RETURN_KEYS = (
    "StudyDate", "StudyTime", "AccessionNumber", "ModalitiesInStudy",
    "ReferringPhysicianName", "StudyDescription", "PatientName", "PatientID",
    "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyID",
    "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances",
)
SERIES_RETURN_KEYS = ("Modality", "SeriesDescription", "SeriesInstanceUID", "SeriesNumber",
                      "SeriesDate", "SeriesTime", "BodyPartExamined",
                      "NumberOfSeriesRelatedInstances")
SEXES = ("M", "F", "O")
_DATE = re.compile(r"^\d{8}$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_CS = re.compile(r"^[A-Z0-9_ ]{1,16}$")


class QueryError(ValueError):
    """A search key is invalid; the message says which and what is allowed."""


def parse_date(text: str, what: str = "date") -> datetime.date:
    """YYYYMMDD (or YYYY-MM-DD) -> a date; QueryError with a clear message otherwise."""
    text = text.strip()
    m = _ISO_DATE.match(text)
    digits = "".join(m.groups()) if m else text
    if not _DATE.match(digits):
        raise QueryError(f"{what} {text!r}: write the date as YYYYMMDD, e.g. 20240131")
    try:
        return datetime.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError as exc:
        raise QueryError(f"{what} {text!r} is not a real date ({exc})") from exc


@dataclass(frozen=True, slots=True)
class DateRange:
    """A date, or a range whose start or end may be open."""

    start: datetime.date | None = None
    end: datetime.date | None = None

    def __post_init__(self) -> None:
        if self.start is None and self.end is None:
            raise QueryError("a date range needs a start, an end, or both")
        if self.start and self.end and self.start > self.end:
            raise QueryError(f"the date range starts ({self.start:%Y%m%d}) after it ends "
                             f"({self.end:%Y%m%d}): swap the dates")

    @classmethod
    def on(cls, day: datetime.date) -> DateRange:
        return cls(day, day)

    @classmethod
    def parse(cls, text: str, what: str = "study date") -> DateRange:
        """YYYYMMDD, YYYYMMDD-, -YYYYMMDD or YYYYMMDD-YYYYMMDD (YYYY-MM-DD also works)."""
        text = text.strip()
        if _ISO_DATE.match(text) or _DATE.match(text):
            return cls.on(parse_date(text, what))
        if text.count("-") != 1 or text == "-":
            raise QueryError(f"{what} {text!r}: write YYYYMMDD for one day, YYYYMMDD-YYYYMMDD "
                             "for a range, YYYYMMDD- for 'from', -YYYYMMDD for 'until'")
        a, b = text.split("-")
        return cls(parse_date(a, f"{what} {text!r}: start") if a else None,
                   parse_date(b, f"{what} {text!r}: end") if b else None)

    def to_dicom(self) -> str:
        a = f"{self.start:%Y%m%d}" if self.start else ""
        b = f"{self.end:%Y%m%d}" if self.end else ""
        return a if a == b else f"{a}-{b}"

    def __contains__(self, day: datetime.date) -> bool:
        return (self.start is None or day >= self.start) and (self.end is None or day <= self.end)


@dataclass(frozen=True, slots=True)
class StudyQuery:
    """The search keys; empty ones match everything. Raises QueryError when invalid."""

    patient_name: str = ""
    patient_id: str = ""
    accession: str = ""
    birth_date: datetime.date | None = None
    sex: str = ""
    study_date: DateRange | None = None
    modality: str = ""
    study_uid: str = ""

    def __post_init__(self) -> None:
        for name, value, limit in (("patient name", self.patient_name, 64),
                                   ("patient ID", self.patient_id, 64),
                                   ("accession number", self.accession, 16)):
            if "\\" in value:
                raise QueryError(f"{name} {value!r}: a backslash is not allowed")
            if len(value) > limit:
                raise QueryError(f"{name} {value!r}: at most {limit} characters")
            if any(ord(c) < 0x20 for c in value):
                raise QueryError(f"{name} {value!r}: control characters are not allowed")
        if self.sex and self.sex not in SEXES:
            raise QueryError(f"patient sex {self.sex!r}: use M, F or O")
        if self.modality and not _CS.match(self.modality):
            raise QueryError(f"modality {self.modality!r}: a DICOM modality code such as CT, "
                             "MR, CR, US (capital letters and digits)")
        if self.study_uid and not is_valid_uid(self.study_uid):
            raise QueryError(f"study instance UID {self.study_uid!r} is not a valid UID")

    @classmethod
    def from_text(cls, *, patient_name: str = "", patient_id: str = "", accession: str = "",
                  birth_date: str = "", sex: str = "", study_date: str = "", modality: str = "",
                  study_uid: str = "") -> StudyQuery:
        """Build a query from what a person typed (dates as text, codes in any case)."""
        return cls(
            patient_name=patient_name.strip(), patient_id=patient_id.strip(),
            accession=accession.strip(),
            birth_date=parse_date(birth_date, "birth date") if birth_date.strip() else None,
            sex=sex.strip().upper(),
            study_date=DateRange.parse(study_date) if study_date.strip() else None,
            modality=modality.strip().upper(), study_uid=study_uid.strip(),
        )

    @property
    def is_empty(self) -> bool:
        return self == StudyQuery()

    def identifier(self) -> dict[str, str]:
        """Keyword -> value of the C-FIND identifier (empty values are return keys)."""
        values = dict.fromkeys(STUDY_RETURN_KEYS, "")
        values["QueryRetrieveLevel"] = "STUDY"
        values["PatientName"] = self.patient_name
        values["PatientID"] = self.patient_id
        values["AccessionNumber"] = self.accession
        values["PatientBirthDate"] = f"{self.birth_date:%Y%m%d}" if self.birth_date else ""
        values["PatientSex"] = self.sex
        values["StudyDate"] = self.study_date.to_dicom() if self.study_date else ""
        values["ModalitiesInStudy"] = self.modality
        values["StudyInstanceUID"] = self.study_uid
        return values


def _int(text: str | None) -> int | None:
    try:
        return int(str(text).strip()) if text not in (None, "") else None
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class StudyResult:
    """One study as the archives describe it; `archives` lists those holding it."""

    study_uid: str
    patient_name: str = ""
    patient_id: str = ""
    birth_date: str = ""
    sex: str = ""
    study_date: str = ""
    study_time: str = ""
    accession: str = ""
    description: str = ""
    referring: str = ""
    study_id: str = ""
    modalities: tuple[str, ...] = ()
    series: int | None = None
    instances: int | None = None
    archives: tuple[str, ...] = ()

    @classmethod
    def from_identifier(cls, ident: Identifier, archive: str) -> StudyResult:
        mods = ident.get("ModalitiesInStudy", "")
        return cls(
            study_uid=ident.get("StudyInstanceUID", ""),
            patient_name=ident.get("PatientName", ""),
            patient_id=ident.get("PatientID", ""),
            birth_date=ident.get("PatientBirthDate", ""),
            sex=ident.get("PatientSex", ""),
            study_date=ident.get("StudyDate", ""),
            study_time=ident.get("StudyTime", ""),
            accession=ident.get("AccessionNumber", ""),
            description=ident.get("StudyDescription", ""),
            referring=ident.get("ReferringPhysicianName", ""),
            study_id=ident.get("StudyID", ""),
            modalities=tuple(m.strip() for m in mods.split("\\") if m.strip()),
            series=_int(ident.get("NumberOfStudyRelatedSeries")),
            instances=_int(ident.get("NumberOfStudyRelatedInstances")),
            archives=(archive,),
        )

    def merged(self, other: StudyResult) -> StudyResult:
        """This study with what another archive said: blanks filled, archives added."""
        changes: dict[str, Any] = {}
        for name in ("patient_name", "patient_id", "birth_date", "sex", "study_date",
                     "study_time", "accession", "description", "referring", "study_id"):
            if not getattr(self, name) and getattr(other, name):
                changes[name] = getattr(other, name)
        changes["modalities"] = tuple(dict.fromkeys(self.modalities + other.modalities))
        for name in ("series", "instances"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if theirs is not None and (mine is None or theirs > mine):
                changes[name] = theirs
        changes["archives"] = tuple(dict.fromkeys(self.archives + other.archives))
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """Keyed by DICOM keyword, plus `archives` (as `mw-tui find --json` prints it)."""
        return {
            "StudyInstanceUID": self.study_uid,
            "PatientName": self.patient_name,
            "PatientID": self.patient_id,
            "PatientBirthDate": self.birth_date,
            "PatientSex": self.sex,
            "StudyDate": self.study_date,
            "StudyTime": self.study_time,
            "AccessionNumber": self.accession,
            "StudyDescription": self.description,
            "ReferringPhysicianName": self.referring,
            "StudyID": self.study_id,
            "ModalitiesInStudy": list(self.modalities),
            "NumberOfStudyRelatedSeries": self.series,
            "NumberOfStudyRelatedInstances": self.instances,
            "archives": list(self.archives),
        }


@dataclass(frozen=True, slots=True)
class SeriesResult:
    series_uid: str
    study_uid: str
    modality: str = ""
    number: str = ""
    description: str = ""
    body_part: str = ""
    series_date: str = ""
    instances: int | None = None
    archive: str = ""

    @classmethod
    def from_identifier(cls, ident: Identifier, study_uid: str, archive: str) -> SeriesResult:
        return cls(
            series_uid=ident.get("SeriesInstanceUID", ""), study_uid=study_uid,
            modality=ident.get("Modality", ""), number=ident.get("SeriesNumber", ""),
            description=ident.get("SeriesDescription", ""),
            body_part=ident.get("BodyPartExamined", ""),
            series_date=ident.get("SeriesDate", ""),
            instances=_int(ident.get("NumberOfSeriesRelatedInstances")), archive=archive,
        )


class SearchState(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class ArchiveOutcome:
    """How one archive's part of a search ended."""

    archive: str
    state: SearchState
    matches: int = 0
    seconds: float = 0.0
    problem: Problem | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.state is SearchState.DONE


@dataclass(frozen=True, slots=True)
class SearchResult:
    """The merged studies (newest first) and each archive's outcome, in config order."""

    query: StudyQuery
    studies: tuple[StudyResult, ...] = ()
    outcomes: tuple[ArchiveOutcome, ...] = ()
    seconds: float = 0.0
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)

    @property
    def failures(self) -> tuple[ArchiveOutcome, ...]:
        return tuple(o for o in self.outcomes if o.state is SearchState.FAILED)


@dataclass(frozen=True, slots=True)
class SeriesListing:
    archive: str
    study_uid: str
    series: tuple[SeriesResult, ...] = field(default_factory=tuple)
    outcome: ArchiveOutcome | None = None


def newest_first(studies: list[StudyResult]) -> tuple[StudyResult, ...]:
    return tuple(sorted(studies, key=lambda s: (s.study_date, s.study_time, s.patient_name),
                        reverse=True))
