"""What one medium holds, level by level: the model the DICOMDIR and the web pages share."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mw_tui.store.index import SeriesRow, StudyRow


@dataclass(frozen=True, slots=True)
class Item:
    """One instance ready for a medium: its file (from the store, or transcoded)."""

    sop_uid: str
    sop_class: str
    transfer_syntax: str  # of `source`, allowed by the profile
    instance_number: str
    source: Path
    size: int
    received: float  # when the station received it (fallback for a missing study date)
    transcoded_from: str = ""  # the stored file's transfer syntax, when transcoded


@dataclass(slots=True)
class SeriesContent:
    row: SeriesRow
    items: list[Item]
    part: tuple[int, int] = (1, 1)  # a series split over media: part n of m


@dataclass(slots=True)
class StudyContent:
    row: StudyRow
    series: list[SeriesContent] = field(default_factory=list)
    complete: bool = True  # False when some of its series are on another medium


@dataclass(slots=True)
class PatientContent:
    name: str
    patient_id: str
    birth_date: str
    sex: str
    studies: list[StudyContent] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Placed:
    """An instance with its place on the medium."""

    item: Item
    file_id: tuple[str, ...]  # ("DICOM", "P0000001", "S0000001", "S0000001", "I0000001")
    record_type: str  # IMAGE, SR DOCUMENT, ENCAP DOC, ...

    @property
    def dest(self) -> str:
        return "/".join(self.file_id)
