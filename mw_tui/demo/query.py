"""Answering C-FIND identifiers and choosing what a C-MOVE / C-GET sends, over a Catalog.

Study Root (STUDY, SERIES, IMAGE levels) and Patient Root (PATIENT too). Matching is
relational: a key of any level above the query level may be used (a SERIES query
without StudyInstanceUID searches every study). Every key the request holds comes back
in the response, empty when the archive does not know it.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydicom.charset import convert_encodings, encode_string
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from mw_tui.demo.catalog import Catalog, Instance, Patient, Series, Study
from mw_tui.standard import status
from mw_tui.standard.matching import first_match, is_universal, matches

STUDY_ROOT_LEVELS = ("STUDY", "SERIES", "IMAGE")
PATIENT_ROOT_LEVELS = ("PATIENT", "STUDY", "SERIES", "IMAGE")
UNIQUE_KEYS = {"PATIENT": "PatientID", "STUDY": "StudyInstanceUID",
               "SERIES": "SeriesInstanceUID", "IMAGE": "SOPInstanceUID"}
_NOT_MATCHED = frozenset({"QueryRetrieveLevel", "SpecificCharacterSet", "RetrieveAETitle",
                          "InstanceAvailability", "QueryRetrieveView", "TimezoneOffsetFromUTC"})
_INT_VRS = frozenset({"US", "UL", "SS", "SL", "UV", "SV"})
_TEXT_VRS = frozenset({"PN", "LO", "SH", "LT", "ST", "UT", "UC"})
UTF8 = "ISO_IR 192"

Record = Patient | Study | Series | Instance


class QueryError(Exception):
    """The identifier cannot be answered; `status` is the DIMSE status to return."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status = status_code


@dataclass(frozen=True, slots=True)
class Match:
    record: Record
    values: dict[str, str]
    charset: str


def level_of(identifier: Dataset, patient_root: bool) -> str:
    level = str(identifier.get("QueryRetrieveLevel", "") or "").strip().upper()
    allowed = PATIENT_ROOT_LEVELS if patient_root else STUDY_ROOT_LEVELS
    if level not in allowed:
        raise QueryError(status.IDENTIFIER_MISMATCH,
                         f"Query/Retrieve Level {level or '(empty)'!r} is not one of "
                         f"{', '.join(allowed)} for this information model")
    return level


def _records(catalog: Catalog, level: str) -> Iterator[Match]:
    if level == "PATIENT":
        for p in catalog.patients.values():
            yield Match(p, p.values, p.charset)
        return
    for study in sorted(catalog.studies.values(),
                        key=lambda s: (s.values["StudyDate"], s.values["StudyTime"], s.uid)):
        merged = {**study.patient.values, **study.values}
        if level == "STUDY":
            yield Match(study, merged, study.charset)
            continue
        for series in study.series:
            s_values = {**merged, **series.values}
            if level == "SERIES":
                yield Match(series, s_values, study.charset)
                continue
            for inst in series.instances:
                yield Match(inst, {**s_values, **inst.values}, study.charset)


def _keys(identifier: Dataset) -> list[tuple[str, str, str]]:
    """(keyword, VR, query value) of the identifier's matching keys."""
    out = []
    for elem in identifier:
        if elem.tag.is_private or elem.VR == "SQ" or not elem.keyword:
            continue
        if elem.keyword in _NOT_MATCHED:
            continue
        value = elem.value
        if value is None:
            text = ""
        elif isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
            text = "\\".join(str(v) for v in value)
        else:
            text = str(value)
        out.append((elem.keyword, str(elem.VR), text))
    return out


def _matches(m: Match, keys: list[tuple[str, str, str]], level: str) -> bool:
    for keyword, vr, query in keys:
        if is_universal(query):
            continue
        if keyword == "Modality" and level in ("PATIENT", "STUDY"):
            keyword, vr = "ModalitiesInStudy", "CS"  # Modality at study level: any series
        if keyword not in m.values:
            continue  # a key this archive does not keep: not used for matching
        if not matches(vr, query, m.values[keyword]):
            return False
    return True


def search(catalog: Catalog, identifier: Dataset, patient_root: bool = False) -> list[Match]:
    """The records at the identifier's level that match all its keys."""
    level = level_of(identifier, patient_root)
    keys = _keys(identifier)
    return [m for m in _records(catalog, level) if _matches(m, keys, level)]


def _value(keyword: str, vr: str, text: str) -> Any:
    if not text:
        return None
    if vr in _INT_VRS:
        try:
            return [int(float(v)) for v in text.split("\\")] if "\\" in text else int(float(text))
        except ValueError:
            return None
    if vr in ("OB", "OW", "OF", "OD", "OL", "OV", "UN", "AT") or " or " in vr:
        return None
    return text


def _encodable(charset: str, texts: list[str]) -> bool:
    try:
        encodings = convert_encodings(charset.split("\\") if charset else None)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for t in texts:
                encode_string(t, encodings)
    except (UnicodeError, UserWarning, LookupError, ValueError):
        return False
    return True


def response(identifier: Dataset, m: Match, level: str, retrieve_ae: str) -> Dataset:
    """The C-FIND response for one match: every requested key, valued when known."""
    rsp = Dataset()
    texts: list[str] = []
    for elem in identifier:
        kw = elem.keyword
        if elem.tag.is_private or not kw or kw == "SpecificCharacterSet":
            continue
        if elem.VR == "SQ":
            rsp.add_new(elem.tag, "SQ", Sequence())
            continue
        if kw == "QueryRetrieveLevel":
            text = level
        elif kw == "RetrieveAETitle":
            text = retrieve_ae
        elif kw == "InstanceAvailability":
            text = "ONLINE"
        elif kw == "Modality" and level in ("PATIENT", "STUDY"):
            query = "" if elem.value is None else str(elem.value)
            text = first_match("CS", query, m.values.get("ModalitiesInStudy", ""))
        else:
            text = m.values.get(kw, "")
        if str(elem.VR) in _TEXT_VRS and not text.isascii():
            texts.append(text)
        rsp.add_new(elem.tag, elem.VR, _value(kw, str(elem.VR), text))
    charset = m.charset
    if texts and not _encodable(charset, texts):
        charset = UTF8  # the file's declared set cannot hold its own text: say it in UTF-8
    if charset:
        rsp.SpecificCharacterSet = charset.split("\\") if "\\" in charset else charset
    return rsp


def retrieve_set(catalog: Catalog, identifier: Dataset, patient_root: bool) -> list[Instance]:
    """The instances a C-MOVE / C-GET identifier asks for (its level's unique key is needed)."""
    level = level_of(identifier, patient_root)
    key = UNIQUE_KEYS[level]
    if not str(identifier.get(key, "") or "").strip():
        raise QueryError(status.IDENTIFIER_MISMATCH,
                         f"a {level}-level retrieve needs {key} in the identifier")
    out: list[Instance] = []
    for m in search(catalog, identifier, patient_root):
        rec = m.record
        if isinstance(rec, Instance):
            out.append(rec)
        elif isinstance(rec, Series):
            out.extend(rec.instances)
        elif isinstance(rec, Study):
            out.extend(rec.instances())
        else:
            for study in rec.studies:
                out.extend(study.instances())
    return out
