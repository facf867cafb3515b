"""Synthetic DICOM instances: generated, never committed (tests, benchmarks, the demo)."""

from __future__ import annotations

import datetime
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from mw_tui import IMPLEMENTATION_CLASS_UID
from mw_tui.standard import sop

_MODALITY_CLASS = {
    "CT": "1.2.840.10008.5.1.4.1.1.2",
    "MR": "1.2.840.10008.5.1.4.1.1.4",
    "CR": "1.2.840.10008.5.1.4.1.1.1",
    "US": "1.2.840.10008.5.1.4.1.1.6.1",
    "NM": "1.2.840.10008.5.1.4.1.1.20",
    "PT": "1.2.840.10008.5.1.4.1.1.128",
    "XA": "1.2.840.10008.5.1.4.1.1.12.1",
    "DX": "1.2.840.10008.5.1.4.1.1.1.1",
    "MG": "1.2.840.10008.5.1.4.1.1.1.2",
    "OT": "1.2.840.10008.5.1.4.1.1.7",
}


@dataclass
class PatientInfo:
    name: str = "Test^Patient"
    patient_id: str = "PID0001"
    birth_date: str = "19700101"
    sex: str = "O"
    charset: str = ""  # e.g. "ISO_IR 100" or "ISO_IR 192" for non-ASCII names


@dataclass
class StudyInfo:
    patient: PatientInfo = field(default_factory=PatientInfo)
    study_uid: str = field(default_factory=generate_uid)
    date: str = "20260101"
    time: str = "120000"
    accession: str = "ACC0001"
    description: str = "Synthetic study"
    study_id: str = "1"
    referring: str = "Referring^Doctor"


def image(study: StudyInfo, modality: str = "CT", series_uid: str | None = None,
          series_number: int = 1, instance_number: int = 1, rows: int = 64,
          columns: int = 64, bits: int = 16, series_description: str = "",
          seed: int | None = None) -> Dataset:
    """One uncompressed single-frame image with everything a DICOMDIR needs."""
    ds = _base(study, _MODALITY_CLASS.get(modality, _MODALITY_CLASS["OT"]), modality,
               series_uid, series_number, instance_number, series_description)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = columns
    ds.BitsAllocated = bits
    ds.BitsStored = 12 if bits == 16 else 8
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    if modality == "CT":
        ds.RescaleIntercept = -1024
        ds.RescaleSlope = 1
    rng = np.random.default_rng(seed if seed is not None else instance_number)
    dtype = np.uint16 if bits == 16 else np.uint8
    top = (1 << ds.BitsStored) - 1
    yy, xx = np.mgrid[0:rows, 0:columns]
    pix = ((xx + yy + instance_number * 3) % (top + 1)).astype(dtype)
    pix = pix ^ rng.integers(0, 16, size=(rows, columns), dtype=dtype)
    ds.PixelData = pix.tobytes()
    return ds


def _base(study: StudyInfo, sop_class: str, modality: str, series_uid: str | None,
          series_number: int, instance_number: int, series_description: str) -> Dataset:
    p = study.patient
    ds = Dataset()
    if p.charset:
        ds.SpecificCharacterSet = p.charset
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.StudyDate = study.date
    ds.SeriesDate = study.date
    ds.ContentDate = study.date
    ds.StudyTime = study.time
    ds.ContentTime = study.time
    ds.AccessionNumber = study.accession
    ds.Modality = modality
    ds.Manufacturer = "mw-tui synthetic"
    ds.ReferringPhysicianName = study.referring
    ds.StudyDescription = study.description
    ds.SeriesDescription = series_description or f"{modality} series {series_number}"
    ds.PatientName = p.name
    ds.PatientID = p.patient_id
    ds.PatientBirthDate = p.birth_date
    ds.PatientSex = p.sex
    ds.StudyInstanceUID = study.study_uid
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.StudyID = study.study_id
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance_number
    return ds


def basic_text_sr(study: StudyInfo, text: str, title: str = "Radiology Report",
                  series_uid: str | None = None, series_number: int = 99,
                  author: str = "Radiologist^Reading") -> Dataset:
    """A Basic Text SR document holding `text` (a report)."""
    ds = _base(study, "1.2.840.10008.5.1.4.1.1.88.11", "SR", series_uid, series_number, 1,
               "Report")
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "UNVERIFIED"
    ds.ValueType = "CONTAINER"
    ds.ContinuityOfContent = "SEPARATE"
    concept = Dataset()
    concept.CodeValue = "11528-7"
    concept.CodingSchemeDesignator = "LN"
    concept.CodeMeaning = title
    ds.ConceptNameCodeSequence = [concept]
    item = Dataset()
    item.RelationshipType = "CONTAINS"
    item.ValueType = "TEXT"
    name = Dataset()
    name.CodeValue = "121070"
    name.CodingSchemeDesignator = "DCM"
    name.CodeMeaning = "Findings"
    item.ConceptNameCodeSequence = [name]
    item.TextValue = text
    ds.ContentSequence = [item]
    observer = Dataset()
    observer.ObserverType = "PSN"
    observer.PersonName = author
    observer.PersonIdentificationCodeSequence = []
    observer.InstitutionName = ""
    observer.InstitutionCodeSequence = []
    ds.AuthorObserverSequence = [observer]
    ds.ReferencedPerformedProcedureStepSequence = []
    ds.PerformedProcedureCodeSequence = []
    return ds


def encapsulated_pdf(study: StudyInfo, pdf: bytes, title: str = "Report",
                     series_number: int = 98) -> Dataset:
    ds = _base(study, sop.ENCAPSULATED_PDF, "DOC", None, series_number, 1, "PDF")
    ds.ConversionType = "WSD"
    ds.AcquisitionDateTime = study.date + study.time
    ds.BurnedInAnnotation = "YES"
    ds.DocumentTitle = title
    ds.ConceptNameCodeSequence = []
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocument = pdf + (b"\0" if len(pdf) % 2 else b"")
    ds.EncapsulatedDocumentLength = len(pdf)
    return ds


def minimal_pdf(text: str) -> bytes:
    """A valid one-page PDF showing `text` (ASCII)."""
    safe = text.encode("ascii", "replace").replace(b"(", b"[").replace(b")", b"]")
    stream = b"BT /F1 12 Tf 72 720 Td (" + safe[:200] + b") Tj ET"
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream
        + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for i, o in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + o + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def _set_meta(ds: Dataset, transfer_syntax: str) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = UID(transfer_syntax)
    meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    ds.file_meta = meta


def save(ds: Dataset, path: Path, transfer_syntax: str = ExplicitVRLittleEndian) -> Path:
    """Write `ds` as a Part 10 file (uncompressed transfer syntaxes only)."""
    _set_meta(ds, transfer_syntax)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True, implicit_vr=transfer_syntax == sop.IMPLICIT_VR_LE)
    return path


def part10(ds: Dataset, transfer_syntax: str = ExplicitVRLittleEndian) -> bytes:
    """`ds` as the bytes of a Part 10 file (what `save` would write)."""
    _set_meta(ds, transfer_syntax)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True, implicit_vr=transfer_syntax == sop.IMPLICIT_VR_LE)
    return out.getvalue()


def ct_series(folder: Path, count: int, rows: int = 512, columns: int = 512,
              study: StudyInfo | None = None) -> Iterator[Path]:
    """`count` CT images of one series written into `folder` (for benchmarks and tests)."""
    study = study or StudyInfo(description="Synthetic CT")
    series_uid = generate_uid()
    for i in range(1, count + 1):
        ds = image(study, "CT", series_uid, 1, i, rows, columns)
        yield save(ds, folder / f"CT{i:05d}.dcm")


def today() -> str:
    return datetime.date.today().strftime("%Y%m%d")
