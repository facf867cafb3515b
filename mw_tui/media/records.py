"""The keys of each DICOMDIR directory record, from the store's index.

Record types and the keys each type needs come from pydicom's own definitions
(`pydicom.fileset.DIRECTORY_RECORDERS` and its SOP class table): a recorder that finds a
type 1 key missing or empty says which, and the key is filled as follows, then the recorder
runs again. An instance is never left out.

- PatientID: `NOID_` + 8 hex digits of a hash of the patient's name and birth date;
- dates (StudyDate, ContentDate, PresentationCreationDate, ...): the instance's Series,
  Acquisition, Content or Instance Creation Date, else the study date, else the day the
  station received it; times: the matching time, else 000000;
- StudyID: the Accession Number (up to 16 characters), else `MW` + the study's number;
- Modality: the modality of the SOP class (OT when unknown);
- SeriesNumber, InstanceNumber: the position of the series in its study, of the instance
  in its series;
- CompletionFlag, VerificationFlag: PARTIAL, UNVERIFIED;
- ConceptNameCodeSequence: LOINC 18748-4 "Diagnostic imaging report" (SR), DCM 113000
  "Of Interest" (KO);
- MIMETypeOfEncapsulatedDocument: from the SOP class (application/pdf, text/XML, ...);
- ContentLabel and other texts: UNNAMED.

Values a validator would refuse are made valid the same way: dates and times in the old
dotted forms are converted, codes upper-cased and cut to their length.

A record whose type still cannot be built becomes a PRIVATE record (PS3.3 F.5.20) naming
the SOP class, so the file stays referenced. Specific Character Set goes into a record when
one of its values is not plain ASCII: the instance's own, or ISO_IR 192 when that one cannot
encode the value.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydicom.charset import convert_encodings, encode_string
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.fileset import _FOUR_LEVEL_SOP_CLASSES as FOUR_LEVEL_SOP_CLASSES
from pydicom.fileset import DIRECTORY_RECORDERS, _four_level_record_type
from pydicom.uid import UID
from pydicom.valuerep import PersonName

from mw_tui.standard import sop

ENCAPSULATED_MIME = {
    "1.2.840.10008.5.1.4.1.1.104.1": "application/pdf",
    "1.2.840.10008.5.1.4.1.1.104.2": "text/XML",
    "1.2.840.10008.5.1.4.1.1.104.3": "model/stl",
    "1.2.840.10008.5.1.4.1.1.104.4": "model/obj",
    "1.2.840.10008.5.1.4.1.1.104.5": "model/mtl",
}
MODALITY_OF_CLASS = {
    "1.2.840.10008.5.1.4.1.1.1": "CR", "1.2.840.10008.5.1.4.1.1.2": "CT",
    "1.2.840.10008.5.1.4.1.1.4": "MR", "1.2.840.10008.5.1.4.1.1.6.1": "US",
    "1.2.840.10008.5.1.4.1.1.6": "US", "1.2.840.10008.5.1.4.1.1.3.1": "US",
    "1.2.840.10008.5.1.4.1.1.3": "US", "1.2.840.10008.5.1.4.1.1.20": "NM",
    "1.2.840.10008.5.1.4.1.1.5": "NM", "1.2.840.10008.5.1.4.1.1.128": "PT",
    "1.2.840.10008.5.1.4.1.1.12.1": "XA", "1.2.840.10008.5.1.4.1.1.12.2": "RF",
    "1.2.840.10008.5.1.4.1.1.1.1": "DX", "1.2.840.10008.5.1.4.1.1.1.1.1": "DX",
    "1.2.840.10008.5.1.4.1.1.1.2": "MG", "1.2.840.10008.5.1.4.1.1.1.2.1": "MG",
    "1.2.840.10008.5.1.4.1.1.13.1.3": "MG", "1.2.840.10008.5.1.4.1.1.88.59": "KO",
    "1.2.840.10008.5.1.4.1.1.11.1": "PR", "1.2.840.10008.5.1.4.1.1.11.2": "PR",
    **{uid: "SR" for uid in sop.SR_SOP_CLASSES},
    **{uid: "DOC" for uid in ENCAPSULATED_MIME},
}
# Image storage classes of the station's table: their record is IMAGE, and the key it needs
# (InstanceNumber) is in the index, so their headers need not be read.
PLAIN_IMAGE_CLASSES = frozenset(sop.STORAGE_SOP_CLASSES) - sop.SR_SOP_CLASSES - {
    sop.ENCAPSULATED_PDF}
ASCII_ONLY = ("ISO_IR 6", "")
UTF8 = "ISO_IR 192"
_TEXT_VRS = frozenset({"PN", "LO", "SH", "ST", "LT", "UT", "UC"})
_TAG_RE = re.compile(r"\(([0-9A-Fa-f]{4}),\s*([0-9A-Fa-f]{4})\)")
_ALT_DATES = ("SeriesDate", "AcquisitionDate", "ContentDate", "InstanceCreationDate",
              "StudyDate")
_ALT_TIMES = ("SeriesTime", "AcquisitionTime", "ContentTime", "InstanceCreationTime",
              "StudyTime")


def code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


@dataclass(frozen=True, slots=True)
class Fallbacks:
    """What invented values are made of for one record."""

    date: str  # YYYYMMDD: the day the station received the instance
    ordinal: int = 1  # position of the study / series / instance among its siblings


def leaf_type(sop_class: str, header: Dataset | None) -> str:
    """The directory record type of an instance (IMAGE, SR DOCUMENT, ENCAP DOC, ...)."""
    if sop_class in ENCAPSULATED_MIME or (header is not None
                                          and "MIMETypeOfEncapsulatedDocument" in header):
        return "ENCAP DOC"  # the index leaves large documents out of the header
    if header is None:
        return str(FOUR_LEVEL_SOP_CLASSES.get(UID(sop_class)) or "IMAGE")
    if "SOPClassUID" not in header:
        header.SOPClassUID = sop_class
    return _four_level_record_type(header)


def _first(ds: Dataset, keywords: tuple[str, ...], norm: Callable[[str], str]) -> str:
    """The first valid value among `keywords` of `ds`."""
    for kw in keywords:
        value = norm(str(ds.get(kw, "") or ""))
        if value:
            return value
    return ""


def _fill(ds: Dataset, keyword: str, record_type: str, fb: Fallbacks) -> bool:
    """Give `ds` a value for `keyword`; False when there is no sensible one."""
    sop_class = str(ds.get("SOPClassUID", ""))
    if keyword == "PatientID":
        seed = f"{ds.get('PatientName', '')}|{ds.get('PatientBirthDate', '')}"
        ds.PatientID = "NOID_" + hashlib.sha1(seed.encode()).hexdigest()[:8].upper()
    elif keyword == "StudyID":
        ds.StudyID = str(ds.get("AccessionNumber", "") or "")[:16].strip() or f"MW{fb.ordinal}"
    elif keyword == "Modality":
        ds.Modality = MODALITY_OF_CLASS.get(sop_class, "OT")
    elif keyword in ("SeriesNumber", "InstanceNumber"):
        setattr(ds, keyword, str(fb.ordinal))
    elif keyword == "CompletionFlag":
        ds.CompletionFlag = "PARTIAL"
    elif keyword == "VerificationFlag":
        ds.VerificationFlag = "UNVERIFIED"
    elif keyword == "ConceptNameCodeSequence":
        ds.ConceptNameCodeSequence = [
            code("113000", "DCM", "Of Interest") if record_type == "KEY OBJECT DOC"
            else code("18748-4", "LN", "Diagnostic imaging report")]
    elif keyword == "MIMETypeOfEncapsulatedDocument":
        ds.MIMETypeOfEncapsulatedDocument = ENCAPSULATED_MIME.get(sop_class, "application/pdf")
    else:
        return _fill_by_vr(ds, keyword, fb)
    return True


def _fill_by_vr(ds: Dataset, keyword: str, fb: Fallbacks) -> bool:
    try:
        vr = dictionary_VR(keyword)
    except KeyError:
        return False
    if vr == "DA":
        value: Any = _first(ds, ("InstanceCreationDate", *_ALT_DATES), norm_date) or fb.date
    elif vr == "TM":
        value = _first(ds, ("InstanceCreationTime", *_ALT_TIMES), norm_time) or "000000"
    elif vr == "DT":
        value = (_first(ds, _ALT_DATES, norm_date) or fb.date) + "000000"
    elif vr in ("IS", "US", "UL", "SS", "SL"):
        value = fb.ordinal if vr != "IS" else str(fb.ordinal)
    elif vr in ("CS", "LO", "SH", "LT", "ST", "UT", "UC", "PN"):
        value = "UNNAMED"
    else:
        return False
    setattr(ds, keyword, value)
    return True


def make_record(record_type: str, source: Dataset, fb: Fallbacks) -> tuple[str, Dataset]:
    """(record type, keys) for `source`, filling missing type 1 keys (see the module doc)."""
    recorder: Callable[[Dataset], Dataset] | None = DIRECTORY_RECORDERS.get(record_type)
    filled: set[str] = set()
    while recorder is not None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                record = recorder(source)
            break
        except (ValueError, KeyError, AttributeError) as exc:
            keyword = _missing_keyword(exc)
            if not keyword or keyword in filled or not _fill(source, keyword, record_type, fb):
                recorder = None
                break
            filled.add(keyword)
    if recorder is None:
        record = Dataset()
        record.PrivateRecordUID = str(source.get("SOPClassUID", "")) or "1.2.840.10008.1.3.10"
        record_type = "PRIVATE"
    if record_type in ("SR DOCUMENT", "KEY OBJECT DOC") and not record.get(
            "ConceptNameCodeSequence"):  # present but empty passes pydicom's check
        if "ConceptNameCodeSequence" in source:
            del source.ConceptNameCodeSequence
        _fill(source, "ConceptNameCodeSequence", record_type, fb)
        record.ConceptNameCodeSequence = source.ConceptNameCodeSequence
    _trim(record_type, record)
    _verification(record_type, record, source, fb)
    _sanitize(record, source, fb)
    _charset(record, source)
    return record_type, record


_DT_RE = re.compile(r"^\d{4}(\d{2}(\d{2}(\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?)?)?)?([+-]\d{4})?$")
_TM_RE = re.compile(r"^([01]\d|2[0-3])([0-5]\d([0-5]\d(\.\d{1,6})?)?)?$")
_CS_BAD = re.compile(r"[^A-Z0-9 _]")
_MAX_LEN = {"CS": 16, "SH": 16, "LO": 64, "AE": 16}


def norm_date(value: str) -> str:
    """YYYYMMDD from a DA value, also from the old YYYY.MM.DD form; "" when invalid."""
    v = value.strip()
    if len(v) == 10 and v[4] in ".-/" and v[7] == v[4]:
        v = v[:4] + v[5:7] + v[8:]
    if len(v) == 8 and v.isdigit() and "01" <= v[4:6] <= "12" and "01" <= v[6:] <= "31":
        return v
    return ""


def norm_time(value: str) -> str:
    """HHMMSS[.F] from a TM value, also from the old HH:MM:SS form; "" when invalid."""
    v = value.strip().replace(":", "")
    return v if _TM_RE.match(v) else ""


def _norm(vr: str, value: str) -> str:
    if vr == "DA":
        return norm_date(value)
    if vr == "TM":
        return norm_time(value)
    v = value.strip()
    return v if _DT_RE.match(v) else ""


def _verification(record_type: str, record: Dataset, source: Dataset, fb: Fallbacks) -> None:
    """Verification DateTime is required in a VERIFIED document's record; the document
    keeps it in its Verifying Observer Sequence."""
    if record_type != "SR DOCUMENT" or "VerificationDateTime" in record:
        return
    if str(record.get("VerificationFlag", "")).strip() != "VERIFIED":
        return
    found = ""
    for obs in source.get("VerifyingObserverSequence") or []:
        found = str(obs.get("VerificationDateTime", "") or "").strip() or found
    if not _norm("DT", found):
        found = (norm_date(str(record.get("ContentDate", ""))) or fb.date) + (
            norm_time(str(record.get("ContentTime", ""))) or "000000")
    record.VerificationDateTime = found


def _sanitize(record: Dataset, source: Dataset, fb: Fallbacks) -> None:
    """Values a validator would refuse (dates in the old dotted form, lowercase or too
    long codes, non-numeric numbers) made valid; an unfixable date or time is filled."""
    for elem in list(record):
        vr = str(elem.VR)
        value = elem.value
        if vr == "SQ" or value is None or value == "":
            continue
        values = list(value) if isinstance(value, list | tuple) or elem.VM > 1 else [value]
        if vr in ("DA", "TM", "DT"):
            fixed = [_norm(vr, str(v)) for v in values]
            if all(fixed):
                elem.value = fixed if len(fixed) > 1 else fixed[0]
            else:
                keyword = elem.keyword
                del record[elem.tag]
                probe = Dataset()
                for k in _ALT_DATES + _ALT_TIMES:
                    if k in source:
                        setattr(probe, k, source.get(k))
                if not _fill_by_vr(probe, keyword, fb):
                    continue
                setattr(record, keyword, getattr(probe, keyword))
        elif vr == "IS":
            if not all(_IS_RE.match(str(v)) for v in values):
                elem.value = str(fb.ordinal)
        elif vr in _MAX_LEN:
            size = _MAX_LEN[vr]
            out = []
            for v in values:
                text = str(v)
                if vr == "CS":
                    text = _CS_BAD.sub("_", text.upper())
                out.append(text[:size])
            elem.value = out if len(out) > 1 else out[0]


_IS_RE = re.compile(r"^\s*[+-]?\d{1,12}\s*$")


def _missing_keyword(exc: BaseException) -> str:
    if isinstance(exc, AttributeError):
        name = getattr(exc, "name", None)
        if isinstance(name, str):
            return name
        m = re.search(r"has no attribute '(\w+)'", str(exc))
        return m.group(1) if m else ""
    m = _TAG_RE.search(str(exc))
    if not m:
        return ""
    return keyword_for_tag(int(m.group(1) + m.group(2), 16)) or ""


def _trim(record_type: str, record: Dataset) -> None:
    """Keep only what the record needs: of a document's Content Sequence only the items
    that modify its title (HAS CONCEPT MOD), as PS3.3 F.5 asks; no empty optional keys."""
    if "ContentSequence" in record:
        kept = [i for i in record.ContentSequence
                if str(i.get("RelationshipType", "")) == "HAS CONCEPT MOD"]
        if kept:
            record.ContentSequence = kept
        else:
            del record.ContentSequence
    if record_type == "ENCAP DOC" and not record.get("ConceptNameCodeSequence"):
        # type 2: present, possibly empty
        record.ConceptNameCodeSequence = []


def needs_charset(record: Dataset) -> bool:
    for elem in record.iterall():
        if elem.VR in _TEXT_VRS and elem.value is not None:
            values = elem.value if elem.VM > 1 and isinstance(elem.value, list) else [elem.value]
            if any(not str(v).isascii() for v in values):
                return True
    return False


def _can_encode(record: Dataset, charset: str | list[str]) -> bool:
    encodings = convert_encodings([charset] if isinstance(charset, str) else list(charset))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for elem in record.iterall():
                if elem.VR not in _TEXT_VRS or elem.value is None:
                    continue
                values = elem.value if isinstance(elem.value, list) else [elem.value]
                for v in values:
                    if isinstance(v, PersonName):
                        v.encode(encodings)
                    else:
                        encode_string(str(v), encodings)
    except Exception:
        return False
    return True


def _charset(record: Dataset, source: Dataset) -> None:
    if not needs_charset(record):
        return
    own = source.get("SpecificCharacterSet", "")
    own_value: str | list[str] = list(own) if not isinstance(own, str) else own
    if own and own not in ASCII_ONLY and _can_encode(record, own_value):
        record.SpecificCharacterSet = own_value
    else:
        record.SpecificCharacterSet = UTF8
