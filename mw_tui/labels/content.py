"""What a disc label says: one frozen value, and its merge fields as display text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date as Date
from datetime import datetime
from typing import Protocol

from mw_tui.util import text

# The merge fields a template may use (besides the per-study ones), with what they hold.
FIELDS: dict[str, str] = {
    "patient_name": "the patient's name (Family, Given)",
    "patient_id": "the patient ID",
    "birth_date": "the birth date",
    "institution": "the institution",
    "station": "the station that made the disc",
    "date": "the day the disc was made",
    "volume_label": "the disc's volume label",
    "disc": "\"Disc 1 of 2\"",
    "disc_number": "the disc's number",
    "disc_count": "how many discs the set has",
    "copy_type": "what the disc is: \"Patient copy\", \"Anonymous\", ...",
    "contents": "\"DICOM PLUS WEB\" or \"DICOM ONLY\"",
    "job_id": "the job's id (also the barcode)",
    "study_count": "how many studies the disc holds",
    "label_text": "the text asked for on the label (a RIS's Label Text)",
}
STUDY_FIELDS: dict[str, str] = {
    "study_date": "the study's date",
    "modality": "its modalities (CT, MR/SR, ...)",
    "description": "its description",
}

DICOM_PLUS_WEB = "DICOM PLUS WEB"
DICOM_ONLY = "DICOM ONLY"


@dataclass(frozen=True, slots=True)
class StudyLine:
    """One study on the disc. `date` is a DICOM date (YYYYMMDD) or empty."""

    date: str = ""
    modality: str = ""
    description: str = ""


@dataclass(frozen=True, slots=True)
class LabelContent:
    """Everything a label may show. Names are DICOM person names (Family^Given^...), dates
    DICOM dates (YYYYMMDD) or ISO dates (YYYY-MM-DD); anything else is shown as it is."""

    patient_name: str = ""
    patient_id: str = ""
    birth_date: str = ""
    studies: tuple[StudyLine, ...] = ()
    disc_number: int = 1
    disc_count: int = 1
    volume_label: str = ""
    institution: str = ""
    station: str = ""
    date: str = ""  # the day the disc was made
    copy_type: str = "Patient copy"
    contents: str = DICOM_PLUS_WEB
    job_id: str = ""
    label_text: str = ""  # asked for by whoever requested the disc (Label Text)

    def fields(self, date_format: str = "%Y-%m-%d") -> dict[str, str]:
        """The merge fields as display text."""
        return {
            "patient_name": person_name(self.patient_name),
            "patient_id": clean(self.patient_id),
            "birth_date": display_date(self.birth_date, date_format),
            "institution": clean(self.institution),
            "station": clean(self.station),
            "date": display_date(self.date, date_format),
            "volume_label": clean(self.volume_label),
            "disc": f"Disc {self.disc_number} of {self.disc_count}",
            "disc_number": str(self.disc_number),
            "disc_count": str(self.disc_count),
            "copy_type": clean(self.copy_type),
            "contents": clean(self.contents),
            "job_id": clean(self.job_id),
            "study_count": str(len(self.studies)),
            "label_text": clean(self.label_text),
        }

    def study_fields(self, date_format: str = "%Y-%m-%d") -> list[dict[str, str]]:
        return [{"study_date": display_date(s.date, date_format),
                 "modality": clean(s.modality), "description": clean(s.description)}
                for s in self.studies]


class StudyFacts(Protocol):
    """What a label needs of a study (the store's StudyRow has it)."""

    @property
    def patient_name(self) -> str: ...
    @property
    def patient_id(self) -> str: ...
    @property
    def birth_date(self) -> str: ...
    @property
    def study_date(self) -> str: ...
    @property
    def modalities(self) -> tuple[str, ...]: ...
    @property
    def description(self) -> str: ...


def content_for(studies: Sequence[StudyFacts], *, disc_number: int = 1, disc_count: int = 1,
                volume_label: str = "", institution: str = "", station: str = "",
                date: str = "", copy_type: str = "Patient copy", web: bool = True,
                job_id: str | int = "", label_text: str = "") -> LabelContent:
    """The label of a disc holding `studies` (the patient is the first study's; several
    patients are all named). `date` defaults to today; `web`: the disc has the IHE PDI
    web pages (DICOM PLUS WEB)."""
    names: list[str] = []
    for s in studies:
        if s.patient_name not in names:
            names.append(s.patient_name)
    first = studies[0] if studies else None
    return LabelContent(
        patient_name=names[0] if len(names) == 1 else " / ".join(
            person_name(n) for n in names),
        patient_id=first.patient_id if first and len(names) == 1 else "",
        birth_date=first.birth_date if first and len(names) == 1 else "",
        studies=tuple(StudyLine(s.study_date, "/".join(s.modalities), s.description)
                      for s in studies),
        disc_number=disc_number, disc_count=disc_count, volume_label=volume_label,
        institution=institution, station=station,
        date=date or Date.today().strftime("%Y%m%d"), copy_type=copy_type,
        contents=DICOM_PLUS_WEB if web else DICOM_ONLY, job_id=str(job_id),
        label_text=label_text)


def clean(value: str) -> str:
    """One line of printable text (control characters and padding dropped)."""
    return " ".join("".join(c if c.isprintable() else " " for c in value).split())


def person_name(value: str) -> str:
    """A DICOM person name as the screens show it ("Müller, Jürgen"), on one printable
    line."""
    return clean(text.person_name(value))


def display_date(value: str, date_format: str = "%Y-%m-%d") -> str:
    """A DICOM (YYYYMMDD) or ISO (YYYY-MM-DD) date in `date_format`; other text as it is."""
    text = clean(value)
    for pattern in ("%Y%m%d", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, pattern).strftime(date_format)
        except ValueError:
            continue
    return text
