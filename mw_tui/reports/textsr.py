"""A report fetched as text becomes a Basic Text SR document of its study.

The document copies the patient and study attributes of the study's instances in the
store (so it sits under the same patient and study on the medium), goes into a series of
its own ("Reports"), and carries the report's title, status (Completion, Verification and
Preliminary flags), author, approver (Verifying Observer Sequence), dates and text
(TID 2000-like: Findings, Impressions, Conclusions sections). Its UIDs are derived from
the study and the broker's Interpretation ID, so fetching the same report again replaces
the document instead of adding a second one. Encoded in Explicit VR Little Endian;
Specific Character Set ISO_IR 192 when any text is not ASCII.
"""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Iterable
from typing import Any

from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

from mw_tui import __version__
from mw_tui.reports.models import Interpretation, StudyKeys

BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"
SERIES_DESCRIPTION = "Reports"
TITLE = ("18748-4", "LN", "Diagnostic Imaging Report")
FINDINGS = ("121070", "DCM", "Findings")
FINDING = ("121071", "DCM", "Finding")
IMPRESSIONS = ("121072", "DCM", "Impressions")
IMPRESSION = ("121073", "DCM", "Impression")
CONCLUSIONS = ("121076", "DCM", "Conclusions")
CONCLUSION = ("121077", "DCM", "Conclusion")
ADDENDUM = ("121078", "DCM", "Addendum")
OBSERVER_TYPE = ("121005", "DCM", "Observer Type")
PERSON = ("121006", "DCM", "Person")
PERSON_NAME = ("121008", "DCM", "Person Observer Name")
_NAMESPACE = uuid.UUID("0b5c6c1e-5a38-4d2e-9a55-6d77e2f1a0c4")  # mw-tui reports, fixed

# Patient and study attributes copied from the study's instances (when present)
COPIED = (
    "AccessionNumber", "IssuerOfAccessionNumberSequence", "ReferringPhysicianName",
    "StudyDescription", "PatientName", "PatientID", "IssuerOfPatientID",
    "IssuerOfPatientIDQualifiersSequence", "PatientBirthDate", "PatientBirthTime",
    "PatientSex", "OtherPatientIDsSequence", "OtherPatientNames", "PatientAge",
    "PatientSize", "PatientWeight", "StudyInstanceUID", "StudyDate", "StudyTime", "StudyID",
)
TYPE2_STUDY = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate",
               "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber")
_DA = re.compile(r"^\d{8}$")
_TM = re.compile(r"^([01]\d|2[0-3])([0-5]\d([0-5]\d(\.\d{1,6})?)?)?$")


def uid_for(*parts: str) -> str:
    """A 2.25 UID derived from `parts` (the same parts always give the same UID)."""
    return f"2.25.{uuid.uuid5(_NAMESPACE, '|'.join(parts)).int}"


def report_key(found: Interpretation) -> str:
    """What makes a report the same report when fetched again."""
    if found.interpretation_id:
        return f"id:{found.id_issuer}:{found.interpretation_id}"
    if found.recorded_date:
        return f"recorded:{found.recorded_date}{found.recorded_time}:{found.type_id}"
    return "text:" + uid_for(found.text, found.impressions, found.diagnosis)


def series_uid_for(study_uid: str) -> str:
    return uid_for("series", study_uid)


def sop_uid_for(study_uid: str, found: Interpretation) -> str:
    return uid_for("report", study_uid, report_key(found))


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    ds = Dataset()
    ds.CodeValue = value
    ds.CodingSchemeDesignator = scheme
    ds.CodeMeaning = meaning
    return ds


def _item(relationship: str, value_type: str, concept: tuple[str, str, str],
          **values: Any) -> Dataset:
    ds = Dataset()
    ds.RelationshipType = relationship
    ds.ValueType = value_type
    ds.ConceptNameCodeSequence = [_code(*concept)]
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return ds


def _section(title: tuple[str, str, str], entry: tuple[str, str, str], text: str) -> Dataset:
    section = _item("CONTAINS", "CONTAINER", title, ContinuityOfContent="SEPARATE")
    section.ContentSequence = [_item("CONTAINS", "TEXT", entry, TextValue=dicom_text(text))]
    return section


def dicom_text(text: str) -> str:
    """Line breaks as CR LF, as DICOM text wants them."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n").strip()


def norm_date(value: str) -> str:
    v = value.strip().replace("-", "").replace(".", "").replace("/", "")
    return v if _DA.match(v) else ""


def norm_time(value: str) -> str:
    v = value.strip().replace(":", "")
    return v if _TM.match(v) else ""


def _when(found: Interpretation, study: Dataset) -> tuple[str, str]:
    """The report's date and time: recorded, else approved, else the study's."""
    candidates = [(found.recorded_date, found.recorded_time)]
    candidates += [(a.date, a.time) for a in found.approvals]
    candidates.append((str(study.get("StudyDate", "")), str(study.get("StudyTime", ""))))
    for d, t in candidates:
        if norm_date(d):
            return norm_date(d), norm_time(t) or "000000"
    today = datetime.datetime.now()
    return today.strftime("%Y%m%d"), today.strftime("%H%M%S")


def _study_part(keys: StudyKeys) -> Dataset:
    src = Dataset()
    for keyword, value in keys.attributes:
        if keyword in COPIED and value is not None:
            setattr(src, keyword, value)
    src.StudyInstanceUID = keys.study_uid
    for keyword in TYPE2_STUDY:
        if keyword not in src:
            setattr(src, keyword, "")
    return src


def build(found: Interpretation, keys: StudyKeys, series_number: int, instance_number: int,
          organization: str) -> Dataset:
    """The Basic Text SR document of one report fetched as text; `organization` is the
    verifying organization of an approved report (it must not be empty)."""
    ds = _study_part(keys)
    date, time = _when(found, ds)
    ds.SOPClassUID = BASIC_TEXT_SR
    ds.SOPInstanceUID = sop_uid_for(keys.study_uid, found)
    ds.Modality = "SR"
    ds.SeriesInstanceUID = series_uid_for(keys.study_uid)
    ds.SeriesNumber = series_number
    ds.SeriesDescription = SERIES_DESCRIPTION
    ds.SeriesDate = date
    ds.SeriesTime = time
    ds.ReferencedPerformedProcedureStepSequence = []
    ds.Manufacturer = "mw-tui"
    ds.SoftwareVersions = __version__
    ds.InstanceNumber = instance_number
    ds.ContentDate = date
    ds.ContentTime = time
    ds.CompletionFlag = "COMPLETE" if found.complete else "PARTIAL"
    ds.PreliminaryFlag = "FINAL" if found.approved else "PRELIMINARY"
    approver = next((a for a in found.approvals if a.physician), None)
    if found.approved and approver is not None:
        ds.VerificationFlag = "VERIFIED"
        observer = Dataset()
        a_date = norm_date(approver.date)
        observer.VerificationDateTime = (a_date + (norm_time(approver.time) or "000000")
                                         if a_date else date + time)
        observer.VerifyingObserverName = approver.physician
        observer.VerifyingObserverIdentificationCodeSequence = []
        observer.VerifyingOrganization = organization.strip() or found.source
        ds.VerifyingObserverSequence = [observer]
    else:
        ds.VerificationFlag = "UNVERIFIED"
    ds.PerformedProcedureCodeSequence = []
    if found.author:
        author = Dataset()
        author.ObserverType = "PSN"
        author.PersonName = found.author
        author.PersonIdentificationCodeSequence = []
        author.InstitutionName = ""
        author.InstitutionCodeSequence = []
        ds.AuthorObserverSequence = [author]
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = [_code(*TITLE)]
    ds.ContinuityOfContent = "SEPARATE"
    ds.ContentSequence = list(_content(found))
    if any(not v.isascii() for v in _strings(ds)):
        ds.SpecificCharacterSet = "ISO_IR 192"
    return ds


def _content(found: Interpretation) -> Iterable[Dataset]:
    if found.author:
        yield _item("HAS OBS CONTEXT", "CODE", OBSERVER_TYPE, ConceptCodeSequence=[_code(*PERSON)])
        yield _item("HAS OBS CONTEXT", "PNAME", PERSON_NAME, PersonName=found.author)
    if found.text:
        amendment = found.type_id in ("AMENDMENT", "ADDENDUM")
        yield _section(ADDENDUM if amendment else FINDINGS, FINDING, found.text)
    if found.impressions:
        yield _section(IMPRESSIONS, IMPRESSION, found.impressions)
    if found.diagnosis:
        yield _section(CONCLUSIONS, CONCLUSION, found.diagnosis)


def _strings(ds: Dataset) -> Iterable[str]:
    for elem in ds.iterall():
        if elem.VR in ("SQ", "UI", "DA", "TM", "DT", "US", "UL", "IS", "DS"):
            continue
        value = elem.value
        if isinstance(value, str):
            yield value
        elif value is not None and not isinstance(value, bytes):
            yield str(value)


def encode(ds: Dataset) -> bytes:
    """The data set in Explicit VR Little Endian (no file meta: the store adds it)."""
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = False
    write_dataset(fp, ds)
    return fp.getvalue()
