"""Cleaning free text (the C action): identifying words of the instance taken out.

What identifies the patient is taken from the instance itself before it changes: the
patient's names and IDs, birth date and the study's dates, accession number, the
physicians', operators' and other persons' names, the institution and its address. Each
is removed from a text as a whole word, case-insensitively (names also word by word:
"Dupont" is taken out of "Mr Dupont's CT"), and dates also in their usual written forms.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

REMOVED = "***"
_MIN_WORD = 2  # single letters (initials) are not worth taking out of every word

# Attributes whose values are names of persons (PN) or other identifying words
_NAMES = ("PatientName", "OtherPatientNames", "PatientBirthName", "PatientMotherBirthName",
          "ReferringPhysicianName", "PerformingPhysicianName", "NameOfPhysiciansReadingStudy",
          "OperatorsName", "PhysiciansOfRecord", "RequestingPhysician",
          "ScheduledPerformingPhysicianName", "ConsultingPhysicianName", "ResponsiblePerson")
_WORDS = ("PatientID", "OtherPatientIDs", "AccessionNumber", "InstitutionName",
          "InstitutionAddress", "InstitutionalDepartmentName", "PatientAddress",
          "PatientTelephoneNumbers", "MedicalRecordLocator", "StationName",
          "DeviceSerialNumber", "AdmissionID", "RequestedProcedureID", "IssuerOfPatientID")
# dates: the birth date, and the study's own (a shifted copy would give its offset away)
_DATES = ("PatientBirthDate", "StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate")


def _values(ds: Dataset, keyword: str) -> list[str]:
    try:
        value = ds.get(keyword)
    except Exception:  # a value that does not decode identifies nothing we could find
        return []
    if value is None or value == "":
        return []
    values = value if isinstance(value, list | tuple | MultiValue) else [value]
    return [str(v) for v in values if str(v).strip()]


def _date_forms(value: str) -> list[str]:
    v = value.strip()
    if not (len(v) == 8 and v.isdigit()):
        return [v] if v else []
    y, m, d = v[:4], v[4:6], v[6:]
    return [v, f"{y}-{m}-{d}", f"{d}.{m}.{y}", f"{d}/{m}/{y}", f"{m}/{d}/{y}", f"{y}/{m}/{d}"]


@lru_cache(maxsize=64)
def _pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    """One pattern for the words of a patient (the same for each of their instances)."""
    return re.compile("|".join(rf"(?<![^\W_]){re.escape(w)}(?![^\W_])" for w in words),
                      re.IGNORECASE)


class Scrubber:
    """Takes the identifying words of one instance out of texts."""

    def __init__(self, words: Iterable[str]) -> None:
        unique = sorted({w for w in (x.strip() for x in words) if len(w) >= _MIN_WORD},
                        key=lambda w: (-len(w), w))  # longest first: a full name, then parts
        self._pattern = _pattern(tuple(unique)) if unique else None

    def __call__(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(REMOVED, text)

    @classmethod
    def of(cls, ds: Dataset) -> Scrubber:
        """The scrubber for the identifying words found in `ds` (the original header)."""
        words: list[str] = []
        for keyword in _NAMES:
            for v in _values(ds, keyword):
                for group in v.split("="):  # alphabetic, ideographic, phonetic
                    parts = [p.strip() for p in re.split(r"[\^]", group) if p.strip()]
                    words.append(" ".join(parts))
                    words += [w for p in parts for w in re.split(r"[\s,]+", p)]
        for keyword in _WORDS:
            words += _values(ds, keyword)
        for keyword in _DATES:
            for v in _values(ds, keyword):
                words += _date_forms(v)
        return cls(words)
