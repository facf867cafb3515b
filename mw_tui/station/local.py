""""This station" as a search source: the store's studies filtered by the same keys.

Matching follows the C-FIND rules the demo archive answers with (`mw_tui.standard.matching`):
wildcards, date ranges, names case-insensitive and per component group.
"""

from __future__ import annotations

from collections.abc import Iterable

from mw_tui.dicom.query import StudyQuery, StudyResult
from mw_tui.standard.matching import matches
from mw_tui.store.index import StudyRow

LOCAL = "this station"  # not a valid archive name (it has a space): never clashes


def matches_query(row: StudyRow, query: StudyQuery) -> bool:
    ident = query.identifier()
    checks = (
        ("PN", ident["PatientName"], row.patient_name),
        ("LO", ident["PatientID"], row.patient_id),
        ("SH", ident["AccessionNumber"], row.accession),
        ("DA", ident["PatientBirthDate"], row.birth_date),
        ("CS", ident["PatientSex"], row.sex),
        ("DA", ident["StudyDate"], row.study_date),
        ("CS", ident["ModalitiesInStudy"], "\\".join(row.modalities)),
        ("UI", ident["StudyInstanceUID"], row.study_uid),
    )
    return all(matches(vr, q, value) for vr, q, value in checks)


def as_result(row: StudyRow) -> StudyResult:
    return StudyResult(
        study_uid=row.study_uid, patient_name=row.patient_name, patient_id=row.patient_id,
        birth_date=row.birth_date, sex=row.sex, study_date=row.study_date,
        study_time=row.study_time, accession=row.accession, description=row.description,
        referring=row.referring, study_id=row.study_id, modalities=row.modalities,
        series=row.series_count, instances=row.instances, archives=(LOCAL,))


def search_local(rows: Iterable[StudyRow], query: StudyQuery) -> list[StudyResult]:
    return [as_result(r) for r in rows if matches_query(r, query)]


def name_pattern(text: str) -> str:
    """What a technician typed as a name -> the C-FIND value: names match from the start
    ("mül" finds "Müller^Jürgen") unless they wrote their own wildcards."""
    text = text.strip()
    if not text or "*" in text or "?" in text:
        return text
    return text + "*"
