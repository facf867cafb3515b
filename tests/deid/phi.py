"""Studies with patient data everywhere a profile must clean it, stored as the receiver
stores them; and the strings that must not survive an anonymous copy."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import _read_file_meta_info, read_preamble
from pydicom.filewriter import correct_ambiguous_vr, write_dataset
from pydicom.uid import generate_uid

from mw_tui.demo import synth
from mw_tui.standard import sop
from mw_tui.store import Store
from tests.peers import PYDICOM_TEST_FILES

CT = "1.2.840.10008.5.1.4.1.1.2"
COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
KOS = "1.2.840.10008.5.1.4.1.1.88.59"
GSPS = "1.2.840.10008.5.1.4.1.1.11.1"
# explicit VR LE with private attributes, big endian, JPEG 2000, overlays, a real SR, a
# waveform (pydicom's MR_small* share one SOP Instance UID: one of them only)
PYDICOM_FILES = ("CT_small.dcm", "MR_small_bigendian.dcm", "693_J2KI.dcm",
                 "examples_overlay.dcm", "test-SR.dcm", "waveform_ecg.dcm")

ALICE = synth.PatientInfo("Dupontel^Jeannette^Marie", "PATA-4411X", "19580317", "F")
BOB = synth.PatientInfo("Bernardine^Odette", "PATB-7702Y", "19720909", "M")
# what identifies the patients, their carers and the hospital: none may reach a medium
SECRETS = [
    "Dupontel", "Jeannette", "PATA-4411X", "19580317", "1958-03-17", "17.03.1958",
    "OLDID-99812", "HOSPOLDISSUER", "Verteuil", "0478123456", "Marchetti", "Jeannecomment",
    "ACCN-88231", "ACCN-77310", "Sainte-Odile", "Kellermann", "Lefebvrier", "Moreauxx",
    "Girardot", "Fontainer", "Requesterx", "Rousseauxx", "Verifierx", "Creatorx",
    "Thoraxcheck", "Axialseries", "Protocolx", "CTSCANROOM7", "SERIAL4471XZ", "STUDY7731",
    "Imgcomment", "ACMEPRIVATE", "Privnote", "REQPROC5521", "Schedstep", "SPSID6612",
    "Bernardine", "Odette", "PATB-7702Y", "19720909", "ACCN-55120",
    "20240115", "2024-01-15", "20240302", "2024-03-02", "20240116",
    "20230707", "Unvrhospital",
]


@dataclass
class Corpus:
    store: Store
    a1: str = ""  # CT + SR + KOS + GSPS + PDF + SC + US of Alice
    a2: str = ""  # MR of Alice, a second study
    b: str = ""  # CT of Bob
    pydicom_studies: list[str] = field(default_factory=list)
    ct_uids: list[str] = field(default_factory=list)  # SOP Instance UIDs of a1's CT images
    originals: dict[str, Path] = field(default_factory=dict)  # SOP UID -> stored file
    uids: list[str] = field(default_factory=list)  # every original UID of the instances

    @property
    def synthetic(self) -> list[str]:
        return [self.a1, self.a2, self.b]


def put(store: Store, ds: Dataset, ts: str = sop.EXPLICIT_VR_LE,
        unknown: dict[int, bytes] | None = None) -> Path:
    """Store `ds` as the receiver would (its dataset bytes as they came); `unknown`:
    elements written with VR UN (explicit VR only), as a sender that does not know them
    writes them (pydicom itself would write their real VR)."""
    fp = DicomBytesIO()
    fp.is_little_endian = ts != sop.EXPLICIT_VR_BE
    fp.is_implicit_VR = ts == sop.IMPLICIT_VR_LE
    if not unknown:
        write_dataset(fp, ds)
    else:
        correct_ambiguous_vr(ds, is_little_endian=True)  # each element written alone
        for tag in sorted({*map(int, ds.keys()), *unknown}):
            if tag in unknown:  # tag, "UN", 2 reserved bytes, 4-byte length, value
                fp.write(struct.pack("<HH2sHI", tag >> 16, tag & 0xFFFF, b"UN", 0,
                                     len(unknown[tag])) + unknown[tag])
            else:
                one = Dataset()
                one.add(ds[tag])
                write_dataset(fp, one)
    return store.store_bytes(str(ds.SOPClassUID), str(ds.SOPInstanceUID), ts,
                             fp.getvalue()).path


def put_file(store: Store, path: Path) -> tuple[str, Path]:
    """Store a Part 10 file's dataset byte for byte; (study UID, stored path)."""
    with open(path, "rb") as f:
        read_preamble(f, False)
        meta = _read_file_meta_info(f)
        data = f.read()
    from pydicom import dcmread

    ds = dcmread(path, stop_before_pixels=True)
    stored = store.store_bytes(str(meta.MediaStorageSOPClassUID),
                               str(meta.MediaStorageSOPInstanceUID),
                               str(meta.TransferSyntaxUID), data)
    return str(ds.StudyInstanceUID), stored.path


def _phi(ds: Dataset) -> None:
    """Patient data in every corner the table lists, and some it does not."""
    ds.OtherPatientIDs = "OLDID-99812"
    other = Dataset()
    other.PatientID = "OLDID-99812"
    other.IssuerOfPatientID = "HOSPOLDISSUER"
    ds.OtherPatientIDsSequence = [other]
    ds.PatientAddress = "12 Rue Verteuil, Lyon"
    ds.PatientTelephoneNumbers = "0478123456"
    ds.PatientMotherBirthName = "Marchetti^Sylvie"
    ds.PatientComments = "Jeannecomment allergies"
    ds.PatientAge = "065Y"
    ds.PatientWeight = 61.5
    ds.PatientSize = 1.62
    ds.InstitutionName = "Clinique Sainte-Odile"
    ds.InstitutionAddress = "Boulevard Kellermann 5"
    ds.PerformingPhysicianName = "Moreauxx^Anneke"
    ds.OperatorsName = "Girardot^Lucien"
    ds.NameOfPhysiciansReadingStudy = "Fontainer^Hugo"
    ds.StationName = "CTSCANROOM7"
    ds.DeviceSerialNumber = "SERIAL4471XZ"
    ds.ProtocolName = "Protocolx Dupontel"
    ds.ImageComments = "Imgcomment Dupontel"
    ds.AcquisitionDateTime = f"{ds.StudyDate}093012.000000"
    ds.AcquisitionDate = ds.StudyDate
    ds.SeriesTime = "093000"
    request = Dataset()
    request.RequestedProcedureID = "REQPROC5521"
    request.ScheduledProcedureStepID = "SPSID6612"
    request.ScheduledProcedureStepDescription = "Schedstep Dupontel"
    ds.RequestAttributesSequence = [request]
    ref = Dataset()  # not in the table: walked, its contents cleaned
    ref.AccessionNumber = ds.AccessionNumber
    ref.RequestingPhysician = "Requesterx^Bertrand"
    ref.StudyInstanceUID = ds.StudyInstanceUID
    ds.ReferencedRequestSequence = [ref]
    block = ds.private_block(0x0019, "ACMEPRIVATE 1.0", create=True)
    block.add_new(0x10, "LO", "Privnote Dupontel")
    block.add_new(0x11, "US", 42)


def _unknown_vr(frame: str) -> dict[int, bytes]:
    """Attributes a sender wrote with VR UN (it did not know their type): a UID, a date
    and a sequence, which a profile must treat by their real type."""
    equipment = Dataset()
    equipment.InstitutionName = "Unvrhospital"
    equipment.StationName = "Unvrhospital"
    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, True
    write_dataset(body, equipment)
    item = b"\xfe\xff\x00\xe0" + struct.pack("<I", len(body.getvalue())) + body.getvalue()
    uid = frame.encode()
    return {0x00200052: uid + b"\0" * (len(uid) % 2),  # Frame of Reference UID
            0x00080021: b"20230707",  # Series Date
            0x0018A001: item}  # Contributing Equipment Sequence


def _reference(target: Dataset) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = target.SOPClassUID
    item.ReferencedSOPInstanceUID = target.SOPInstanceUID
    return item


def _sr(study: synth.StudyInfo, images: list[Dataset]) -> Dataset:
    ds = synth.basic_text_sr(study, "Jeannette Dupontel (PATA-4411X), born 17.03.1958: "
                             "no nodule.", author="Rousseauxx^Claire")
    ds.SOPClassUID = COMPREHENSIVE_SR
    image = Dataset()
    image.RelationshipType = "CONTAINS"
    image.ValueType = "IMAGE"
    image.ReferencedSOPSequence = [_reference(images[0])]
    ds.ContentSequence.append(image)
    verifier = Dataset()
    verifier.VerifyingObserverName = "Verifierx^Jacques"
    verifier.VerifyingOrganization = "Clinique Sainte-Odile"
    verifier.VerificationDateTime = "20240116101010"
    ds.VerifyingObserverSequence = [verifier]
    ds.VerificationFlag = "VERIFIED"
    ds.CurrentRequestedProcedureEvidenceSequence = [_evidence(study, images)]
    return ds


def _evidence(study: synth.StudyInfo, images: list[Dataset]) -> Dataset:
    series = Dataset()
    series.SeriesInstanceUID = images[0].SeriesInstanceUID
    series.ReferencedSOPSequence = [_reference(i) for i in images]
    item = Dataset()
    item.StudyInstanceUID = study.study_uid
    item.ReferencedSeriesSequence = [series]
    return item


def _kos(study: synth.StudyInfo, images: list[Dataset]) -> Dataset:
    ds = synth.basic_text_sr(study, "", series_number=97)
    ds.SOPClassUID = KOS
    ds.Modality = "KO"
    del ds.CompletionFlag, ds.VerificationFlag, ds.AuthorObserverSequence
    ds.ConceptNameCodeSequence[0].CodeValue = "113000"
    ds.ConceptNameCodeSequence[0].CodingSchemeDesignator = "DCM"
    ds.ConceptNameCodeSequence[0].CodeMeaning = "Of Interest"
    items = []
    for i in images:
        item = Dataset()
        item.RelationshipType = "CONTAINS"
        item.ValueType = "IMAGE"
        item.ReferencedSOPSequence = [_reference(i)]
        items.append(item)
    ds.ContentSequence = items
    ds.CurrentRequestedProcedureEvidenceSequence = [_evidence(study, images)]
    return ds


def _gsps(study: synth.StudyInfo, images: list[Dataset]) -> Dataset:
    ds = synth.basic_text_sr(study, "", series_number=96)
    for k in ("CompletionFlag", "VerificationFlag", "ValueType", "ContinuityOfContent",
              "ConceptNameCodeSequence", "ContentSequence", "AuthorObserverSequence"):
        delattr(ds, k)
    ds.SOPClassUID = GSPS
    ds.Modality = "PR"
    ds.ContentLabel = "ANNOT"
    ds.ContentDescription = "Presentation"
    ds.ContentCreatorName = "Creatorx^Max"
    ds.PresentationCreationDate = study.date
    ds.PresentationCreationTime = "101500"
    series = Dataset()
    series.SeriesInstanceUID = images[0].SeriesInstanceUID
    series.ReferencedImageSequence = [_reference(i) for i in images]
    ds.ReferencedSeriesSequence = [series]
    text = Dataset()
    text.UnformattedTextValue = "Annot Dupontel"
    text.AnchorPointAnnotationUnits = "PIXEL"
    annotation = Dataset()
    annotation.GraphicLayer = "LAYER1"
    annotation.TextObjectSequence = [text]
    annotation.ReferencedImageSequence = [_reference(images[0])]
    ds.GraphicAnnotationSequence = [annotation]
    return ds


def build(store: Store) -> Corpus:
    corpus = Corpus(store)
    a1 = synth.StudyInfo(ALICE, date="20240115", time="093000", accession="ACCN-88231",
                         description="Thoraxcheck Dupontel", study_id="STUDY7731",
                         referring="Lefebvrier^Paulo")
    series, frame = generate_uid(), generate_uid()
    images: list[Dataset] = []
    for i in range(1, 4):
        ds = synth.image(a1, "CT", series, 1, i, rows=32, columns=32,
                         series_description="Axialseries Jeannette")
        _phi(ds)
        ds.FrameOfReferenceUID = frame
        ds.IrradiationEventUID = generate_uid()
        if images:
            ds.ReferencedImageSequence = [_reference(images[0])]
            ds.SourceImageSequence = [_reference(images[-1])]
        images.append(ds)
    documents = [_sr(a1, images), _kos(a1, images), _gsps(a1, images)]
    burned = [synth.encapsulated_pdf(a1, synth.minimal_pdf("Report Jeannette Dupontel")),
              synth.image(a1, "OT", None, 5, 1, rows=16, columns=16),
              synth.image(a1, "US", None, 6, 1, rows=16, columns=16, bits=8)]
    burned[1].BurnedInAnnotation = "YES"
    for ds in [*images, *documents, *burned]:
        unknown = _unknown_vr(frame) if ds is images[1] else None
        corpus.originals[str(ds.SOPInstanceUID)] = put(store, ds, unknown=unknown)
    corpus.ct_uids = [str(i.SOPInstanceUID) for i in images]
    corpus.a1 = a1.study_uid

    a2 = synth.StudyInfo(ALICE, date="20240302", time="141500", accession="ACCN-77310",
                         description="Thoraxcheck followup", study_id="STUDY7731")
    mr = generate_uid()
    for i in range(1, 3):
        ds = synth.image(a2, "MR", mr, 1, i, rows=16, columns=16)
        _phi(ds)
        corpus.originals[str(ds.SOPInstanceUID)] = put(store, ds, sop.IMPLICIT_VR_LE)
    corpus.a2 = a2.study_uid

    b = synth.StudyInfo(BOB, date="20240115", accession="ACCN-55120", study_id="9",
                        description="Bernardine head")
    bseries = generate_uid()
    for i in range(1, 3):
        ds = synth.image(b, "CT", bseries, 1, i, rows=16, columns=16)
        corpus.originals[str(ds.SOPInstanceUID)] = put(store, ds)
    corpus.b = b.study_uid

    for name in PYDICOM_FILES:
        study, path = put_file(store, PYDICOM_TEST_FILES / name)
        if study not in corpus.pydicom_studies:
            corpus.pydicom_studies.append(study)
        corpus.originals[path.stem] = path
    for study in [*corpus.synthetic, *corpus.pydicom_studies]:
        corpus.uids.append(study)
        for se in store.index.series(study):
            corpus.uids.append(se.series_uid)
            corpus.uids += [r.sop_uid for r in store.index.instances(se.series_uid)]
    corpus.uids += [frame]
    return corpus
