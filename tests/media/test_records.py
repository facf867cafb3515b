"""Directory records from real-world headers: types, filled keys, valid values, charsets."""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

from mw_tui.media import dicomdir, records
from mw_tui.media.records import Fallbacks, leaf_type, make_record
from mw_tui.standard import sop

FB = Fallbacks("20260102", 7)


def test_record_types_follow_the_sop_class() -> None:
    assert leaf_type("1.2.840.10008.5.1.4.1.1.2", None) == "IMAGE"
    assert leaf_type("1.2.840.10008.5.1.4.1.1.88.11", None) == "SR DOCUMENT"
    assert leaf_type("1.2.840.10008.5.1.4.1.1.11.1", None) == "PRESENTATION"
    assert leaf_type("1.2.840.10008.5.1.4.1.1.9.1.1", None) == "WAVEFORM"
    # the index leaves large documents out of the header: the SOP class still says ENCAP DOC
    assert leaf_type(sop.ENCAPSULATED_PDF, Dataset()) == "ENCAP DOC"


def test_missing_type_1_keys_are_filled() -> None:
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"
    ds.SeriesDate = "20250505"
    ds.ConceptNameCodeSequence = []
    rtype, rec = make_record("SR DOCUMENT", ds, FB)
    assert rtype == "SR DOCUMENT"
    assert rec.InstanceNumber == 7 and rec.CompletionFlag == "PARTIAL"
    assert rec.VerificationFlag == "UNVERIFIED"
    assert rec.ContentDate == "20250505" and rec.ContentTime == "000000"
    assert rec.ConceptNameCodeSequence[0].CodeValue == "18748-4"
    rtype, rec = make_record("PATIENT", Dataset(), FB)
    assert rec.PatientID.startswith("NOID_")
    study = Dataset()
    study.AccessionNumber = "A123"
    _, rec = make_record("STUDY", study, FB)
    assert (rec.StudyDate, rec.StudyTime, rec.StudyID) == ("20260102", "000000", "A123")
    series = Dataset()
    series.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    series.SeriesInstanceUID = "1.2.3"
    _, rec = make_record("SERIES", series, FB)
    assert (rec.Modality, rec.SeriesNumber) == ("MR", 7)


def test_a_verified_report_gets_its_verification_time() -> None:
    ds = Dataset()
    ds.InstanceNumber = "1"
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "VERIFIED"
    ds.ContentDate, ds.ContentTime = "20240101", "101010"
    observer = Dataset()
    observer.VerificationDateTime = "20240102093000"
    ds.VerifyingObserverSequence = [observer]
    ds.ConceptNameCodeSequence = [records.code("11528-7", "LN", "Radiology Report")]
    _, rec = make_record("SR DOCUMENT", ds, FB)
    assert rec.VerificationDateTime == "20240102093000"


def test_invalid_values_are_made_valid() -> None:
    ds = Dataset()
    ds.StudyDate = "1997.04.24"
    ds.StudyTime = "14:04:38"
    ds.StudyID = "x" * 20
    ds.SeriesDate = "20200202"
    _, rec = make_record("STUDY", ds, FB)
    assert (rec.StudyDate, rec.StudyTime, rec.StudyID) == ("19970424", "140438", "x" * 16)
    ds.StudyDate = "2023-13-45"
    _, rec = make_record("STUDY", ds, FB)
    assert rec.StudyDate == "20200202"  # an alternative date of the instance
    series = Dataset()
    series.Modality = "ct-scan"
    series.SeriesInstanceUID = "1.2"
    series.SeriesNumber = "1"
    _, rec = make_record("SERIES", series, FB)
    assert rec.Modality == "CT_SCAN"


def test_a_record_that_cannot_be_completed_becomes_private(tmp_path: Path) -> None:
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.38.1"  # hanging protocol: needs sequences
    rtype, rec = make_record("HANGING PROTOCOL", ds, FB)
    assert rtype == "PRIVATE" and rec.PrivateRecordUID == ds.SOPClassUID
    node = dicomdir.record(rtype, dicomdir.encode_keys(rec), ("DICOM", "X"), ds.SOPClassUID,
                           "1.2.3.4", sop.EXPLICIT_VR_LE)
    root = dicomdir.record("PATIENT", dicomdir.encode_keys(make_record("PATIENT", Dataset(),
                                                                       FB)[1]))
    root.children.append(node)
    (tmp_path / "DICOMDIR").write_bytes(dicomdir.encode("TEST", [root]))
    patient, private = pydicom.dcmread(tmp_path / "DICOMDIR").DirectoryRecordSequence
    assert patient.OffsetOfReferencedLowerLevelDirectoryEntity == private.seq_item_tell
    assert private.DirectoryRecordType == "PRIVATE"
    assert private.ReferencedFileID == ["DICOM", "X"]
    assert private.ReferencedSOPInstanceUIDInFile == "1.2.3.4"


def test_charsets_are_set_only_where_needed() -> None:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = "Doe^John"
    ds.PatientID = "1"
    _, rec = make_record("PATIENT", ds, FB)
    assert "SpecificCharacterSet" not in rec
    ds.PatientName = "Müller^Jürgen"
    _, rec = make_record("PATIENT", ds, FB)
    assert rec.SpecificCharacterSet == "ISO_IR 100"
    ds.PatientName = "Ωμέγα^Ελένη"  # not Latin-1: UTF-8 instead of a mangled name
    _, rec = make_record("PATIENT", ds, FB)
    assert rec.SpecificCharacterSet == "ISO_IR 192"
    node = dicomdir.record("PATIENT", dicomdir.encode_keys(rec))
    back = pydicom.dcmread(io.BytesIO(dicomdir.encode("T", [node])))
    assert str(back.DirectoryRecordSequence[0].PatientName) == "Ωμέγα^Ελένη"
