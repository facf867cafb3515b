"""The patient rewrite changes the patient attributes (and, when asked, the accession
number and the UIDs) and nothing else; pixel data stay byte for byte the outside ones."""

from __future__ import annotations

import io
import random
import warnings

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.filereader import read_dataset

from mw_tui.demo import synth
from mw_tui.importing.elements import BadFile, read_header
from mw_tui.importing.plan import LocalPatient
from mw_tui.importing.rewrite import Changes, Prepared, RewriteError, UidMap, prepare
from mw_tui.standard import sop
from tests.importing.conftest import OUTSIDE, OUTSIDE_ISSUER, outside_ct
from tests.peers import PYDICOM_TEST_FILES

LOCAL = LocalPatient("LOC-1", "OUR_HOSPITAL", "Doe^John^Q", "19600214", "M")
PATIENT_KEYS = {"PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate",
                "PatientSex", "OtherPatientIDsSequence", "SpecificCharacterSet",
                "IssuerOfPatientIDQualifiersSequence"}


def rewritten(data: bytes, changes: Changes) -> tuple[Prepared, Dataset, bytes]:
    def read_at(offset: int, count: int) -> bytes:
        return data[offset : offset + count]

    header = read_header(read_at, len(data))
    prepared = prepare(header, read_at, changes)
    out = prepared.bytes(read_at)
    ds = read_dataset(io.BytesIO(out), prepared.transfer_syntax == sop.IMPLICIT_VR_LE,
                      prepared.transfer_syntax != sop.EXPLICIT_VR_BE)
    return prepared, ds, out


def same_except(a: Dataset, b: Dataset, keys: set[str]) -> list[str]:
    differ = []
    for elem in a:
        if elem.keyword in keys or elem.tag.element == 0 or elem.tag.group == 2:
            continue
        if elem.tag not in b or b[elem.tag].value != elem.value:
            differ.append(elem.keyword or str(elem.tag))
    differ += [e.keyword for e in b if e.tag not in a and e.keyword not in keys]
    return differ


def test_patient_attributes_replaced_outside_ids_kept_nothing_else_changes() -> None:
    original = outside_ct(1)[0]
    qualifier = Dataset()
    qualifier.UniversalEntityID = "1.2.3.4"
    qualifier.UniversalEntityIDType = "ISO"
    original.IssuerOfPatientIDQualifiersSequence = [qualifier]
    data = synth.part10(original)
    prepared, ds, out = rewritten(data, Changes(LOCAL))
    assert (ds.PatientName, ds.PatientID, ds.IssuerOfPatientID, ds.PatientBirthDate,
            ds.PatientSex) == ("Doe^John^Q", "LOC-1", "OUR_HOSPITAL", "19600214", "M")
    (other,) = ds.OtherPatientIDsSequence
    assert (other.PatientID, other.IssuerOfPatientID, other.TypeOfPatientID) == (
        OUTSIDE.patient_id, OUTSIDE_ISSUER, "TEXT")
    assert other.IssuerOfPatientIDQualifiersSequence[0].UniversalEntityID == "1.2.3.4"
    assert "IssuerOfPatientIDQualifiersSequence" not in ds  # it qualified the outside issuer
    assert same_except(pydicom.dcmread(io.BytesIO(data)), ds, PATIENT_KEYS) == []
    # everything after the patient group goes out exactly as it was on the medium
    assert out.endswith(data[prepared.tail_start:])
    assert ds.PixelData == original.PixelData


def test_empty_local_values_keep_the_outside_ones_and_drop_the_outside_issuer() -> None:
    data = synth.part10(outside_ct(1)[0])
    _, ds, _ = rewritten(data, Changes(LocalPatient("LOC-2")))
    assert ds.PatientID == "LOC-2"
    assert "IssuerOfPatientID" not in ds
    assert (str(ds.PatientName), ds.PatientBirthDate, ds.PatientSex) == (
        OUTSIDE.name, OUTSIDE.birth_date, OUTSIDE.sex)


def test_keeping_the_outside_identifiers_sends_the_data_set_untouched() -> None:
    data = synth.part10(outside_ct(1)[0])
    header = read_header(lambda o, n: data[o : o + n], len(data))
    prepared, _, out = rewritten(data, Changes(None))
    assert out == data[header.dataset:]
    assert prepared.head == b""


def test_accession_number_only() -> None:
    data = synth.part10(outside_ct(1)[0])
    _, ds, _ = rewritten(data, Changes(None, accession="LOCACC1"))
    assert ds.AccessionNumber == "LOCACC1"
    assert ds.PatientID == OUTSIDE.patient_id
    assert same_except(pydicom.dcmread(io.BytesIO(data)), ds, {"AccessionNumber"}) == []


def test_a_second_rewrite_does_not_add_the_outside_id_twice() -> None:
    data = synth.part10(outside_ct(1)[0])
    _, once, _ = rewritten(data, Changes(LocalPatient("LOC-1", "OUR_HOSPITAL")))
    again = Dataset(once)
    again.PatientID, again.IssuerOfPatientID = OUTSIDE.patient_id, OUTSIDE_ISSUER
    _, twice, _ = rewritten(synth.part10(again), Changes(LocalPatient("LOC-1", "OUR_HOSPITAL")))
    assert [i.PatientID for i in twice.OtherPatientIDsSequence] == [OUTSIDE.patient_id]


def test_a_non_ascii_name_in_an_ascii_data_set_declares_utf8() -> None:
    data = synth.part10(outside_ct(1)[0])
    _, ds, _ = rewritten(data, Changes(LocalPatient("LOC-1", name="Müller^Jürgen")))
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    assert str(ds.PatientName) == "Müller^Jürgen"


def test_a_name_the_character_set_cannot_hold_turns_the_data_set_into_utf8() -> None:
    patient = synth.PatientInfo(name="Müller^Jürgen", patient_id="EXT-9", charset="ISO_IR 100")
    original = outside_ct(1, patient=patient, description="Tête et cou")[0]
    data = synth.part10(original)
    _, ds, _ = rewritten(data, Changes(LocalPatient("LOC-1", name="山田^太郎")))
    ds.set_original_encoding(False, True, None)
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    assert str(ds.PatientName) == "山田^太郎"
    assert ds.StudyDescription == "Tête et cou"  # re-encoded, same text
    assert ds.OtherPatientIDsSequence[0].PatientID == "EXT-9"
    assert ds.PixelData == original.PixelData


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small_implicit.dcm",
                                  "MR_small_bigendian.dcm", "JPEG2000.dcm", "SC_rgb_rle.dcm",
                                  "image_dfl.dcm", "rtplan.dcm", "test-SR.dcm"])
def test_pydicom_files_in_every_transfer_syntax(name: str) -> None:
    data = (PYDICOM_TEST_FILES / name).read_bytes()
    original = pydicom.dcmread(io.BytesIO(data))
    for changes in (Changes(LOCAL), Changes(LOCAL, "ACC", UidMap("s", frozenset()))):
        prepared, ds, _ = rewritten(data, changes)
        assert ds.PatientID == "LOC-1" and str(ds.PatientName) == LOCAL.name
        assert same_except(original, ds, PATIENT_KEYS | {"AccessionNumber"}) == []
        if "PixelData" in original:
            assert ds.PixelData == original.PixelData
        if name == "image_dfl.dcm":  # deflated: sent inflated
            assert prepared.transfer_syntax == sop.EXPLICIT_VR_LE


def test_new_uids_are_consistent_and_references_follow() -> None:
    images = outside_ct(3)
    report = synth.basic_text_sr(synth.StudyInfo(patient=OUTSIDE,
                                                 study_uid=images[0].StudyInstanceUID), "ok")
    ref = Dataset()
    ref.ReferencedSOPClassUID = images[1].SOPClassUID
    ref.ReferencedSOPInstanceUID = images[1].SOPInstanceUID
    series = Dataset()
    series.SeriesInstanceUID = images[1].SeriesInstanceUID
    series.ReferencedSOPSequence = [ref]
    evidence = Dataset()
    evidence.StudyInstanceUID = images[1].StudyInstanceUID
    evidence.ReferencedSeriesSequence = [series]
    report.CurrentRequestedProcedureEvidenceSequence = [evidence]
    known = frozenset(u for ds in [*images, report] for u in (
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID))
    uids = UidMap("salt-1", known)
    out = [rewritten(synth.part10(ds), Changes(LOCAL, uids=uids))[1] for ds in [*images, report]]
    new_images, new_report = out[:3], out[3]
    assert len({d.StudyInstanceUID for d in out}) == 1
    assert new_images[0].StudyInstanceUID != images[0].StudyInstanceUID
    assert all(d.SOPInstanceUID.startswith("2.25.") for d in out)
    assert {d.SOPInstanceUID for d in out}.isdisjoint({d.SOPInstanceUID for d in images})
    cited = new_report.CurrentRequestedProcedureEvidenceSequence[0]
    assert cited.StudyInstanceUID == new_images[1].StudyInstanceUID
    assert cited.ReferencedSeriesSequence[0].SeriesInstanceUID == new_images[1].SeriesInstanceUID
    assert (cited.ReferencedSeriesSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID
            == new_images[1].SOPInstanceUID)
    assert new_images[0].SOPClassUID == images[0].SOPClassUID  # not an instance UID
    assert all(n.PixelData == o.PixelData for n, o in zip(new_images, images, strict=True))
    # the same salt gives the same UIDs (a resumed import), another salt others
    again = rewritten(synth.part10(images[0]), Changes(LOCAL, uids=uids))[1]
    assert again.SOPInstanceUID == new_images[0].SOPInstanceUID
    other = rewritten(synth.part10(images[0]), Changes(LOCAL, uids=UidMap("salt-2", known)))[1]
    assert other.SOPInstanceUID != new_images[0].SOPInstanceUID


def test_mutated_instance_files_never_crash_the_rewrite() -> None:
    """Random damage to the header of real files: either read and rewritten, or refused
    with BadFile / RewriteError, never another exception."""
    rng = random.Random(7)
    sources = [synth.part10(outside_ct(1)[0]),
               (PYDICOM_TEST_FILES / "CT_small.dcm").read_bytes(),
               (PYDICOM_TEST_FILES / "MR_small_implicit.dcm").read_bytes()]
    outcomes = {"ok": 0, "refused": 0}
    for _ in range(600):
        data = bytearray(rng.choice(sources))
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(0, min(len(data), 1200))
            data[pos] = rng.randrange(256)
        blob = bytes(data)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rewritten(blob, Changes(LOCAL, "A1", UidMap("s", frozenset())
                                        if rng.random() < 0.3 else None))
            outcomes["ok"] += 1
        except (BadFile, RewriteError):
            outcomes["refused"] += 1
    assert outcomes["ok"] > 50 and outcomes["refused"] > 50, outcomes
