"""Basic Text SR documents made from reports fetched as text: valid (dciodvfy) in every
status, stable UIDs, the character set only when needed; the [[report_sources]] config."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pydicom import dcmread

from mw_tui import config as cfg
from mw_tui.reports import textsr
from mw_tui.reports.models import Approval, Interpretation, StudyKeys
from mw_tui.standard import sop
from mw_tui.store.ingest import file_meta
from tests.peers import need

KEYS = StudyKeys("1.2.826.0.1.3680043.8.498.1", "ACC1", "PID1", (
    ("PatientName", "Doe^John"), ("PatientID", "PID1"), ("PatientBirthDate", "19600101"),
    ("PatientSex", "M"), ("StudyDate", "20240115"), ("StudyTime", "101010"),
    ("AccessionNumber", "ACC1"), ("StudyID", "7"), ("ReferringPhysicianName", "Ref^Erin"),
    ("StudyDescription", "CT chest"), ("InstitutionName", "Hospital")))


def write(tmp: Path, found: Interpretation, keys: StudyKeys = KEYS) -> Path:
    ds = textsr.build(found, keys, 5, 1, "Hospital")
    path = tmp / f"{ds.SOPInstanceUID}.dcm"
    path.write_bytes(file_meta(ds.SOPClassUID, ds.SOPInstanceUID, sop.EXPLICIT_VR_LE)
                     + textsr.encode(ds))
    return path


VARIANTS = {
    "approved": Interpretation("b", "R1", "RIS", "REPORT", "APPROVED", "Text\nmore.", "Imp.",
                               "Dx.", "20240116", "1015", "Author^A",
                               approvals=(Approval("Appr^B", "20240117", "0800"),)),
    "approved_without_approver": Interpretation("b", "R2", text="Only text.",
                                                status_id="FINAL"),
    "transcribed": Interpretation("b", "R3", status_id="TRANSCRIBED", text="T.",
                                  author="Author^A"),
    "dictated": Interpretation("b", "R4", status_id="RECORDED", impressions="Imp only."),
    "amendment_no_dates": Interpretation("b", "", type_id="AMENDMENT", text="Addendum."),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_variant_passes_dciodvfy(tmp_path: Path, name: str) -> None:
    need("dciodvfy")
    path = write(tmp_path, VARIANTS[name])
    proc = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True,
                          errors="replace", timeout=60)
    out = proc.stdout + proc.stderr
    assert "BasicTextSR" in out and "Error" not in out and "Warning" not in out, out


def test_flags_follow_the_interpretation_status(tmp_path: Path) -> None:
    flags = {name: (ds.CompletionFlag, ds.VerificationFlag, ds.PreliminaryFlag)
             for name, ds in ((n, dcmread(write(tmp_path, f))) for n, f in VARIANTS.items())}
    assert flags["approved"] == ("COMPLETE", "VERIFIED", "FINAL")
    # approved but nobody named: cannot be VERIFIED (the verifier's name is type 1)
    assert flags["approved_without_approver"] == ("COMPLETE", "UNVERIFIED", "FINAL")
    assert flags["transcribed"] == ("COMPLETE", "UNVERIFIED", "PRELIMINARY")
    assert flags["dictated"] == ("PARTIAL", "UNVERIFIED", "PRELIMINARY")


def test_dates_come_from_the_report_else_the_study(tmp_path: Path) -> None:
    approved = dcmread(write(tmp_path, VARIANTS["approved"]))
    assert (approved.ContentDate, approved.ContentTime) == ("20240116", "1015")
    assert approved.VerifyingObserverSequence[0].VerificationDateTime == "202401170800"
    undated = dcmread(write(tmp_path, VARIANTS["amendment_no_dates"]))
    assert (undated.ContentDate, undated.ContentTime) == ("20240115", "101010")


def test_uids_are_stable_and_distinct() -> None:
    a = textsr.build(VARIANTS["approved"], KEYS, 5, 1, "H")
    again = textsr.build(VARIANTS["approved"], KEYS, 5, 1, "H")
    other = textsr.build(VARIANTS["transcribed"], KEYS, 5, 2, "H")
    other_study = textsr.build(VARIANTS["approved"], StudyKeys("1.2.3", attributes=(
        ("PatientID", "X"),)), 5, 1, "H")
    assert textsr.encode(a) == textsr.encode(again)
    assert a.SOPInstanceUID == again.SOPInstanceUID != other.SOPInstanceUID
    assert a.SeriesInstanceUID == other.SeriesInstanceUID != other_study.SeriesInstanceUID
    assert other_study.SOPInstanceUID != a.SOPInstanceUID
    for uid in (a.SOPInstanceUID, a.SeriesInstanceUID):
        assert uid.startswith("2.25.") and cfg.is_valid_uid(uid)
    # no Interpretation ID: the text makes the identity
    x = Interpretation("b", text="Same.")
    assert textsr.sop_uid_for("1.2", x) == textsr.sop_uid_for("1.2", Interpretation("c",
                                                                                    text="Same."))
    assert textsr.sop_uid_for("1.2", x) != textsr.sop_uid_for("1.2", Interpretation(
        "b", text="Other."))


def test_character_set_only_when_needed(tmp_path: Path) -> None:
    plain = dcmread(write(tmp_path, VARIANTS["transcribed"]))
    assert "SpecificCharacterSet" not in plain
    keys = StudyKeys(KEYS.study_uid, attributes=(("PatientName", "Ødegård^Åse"),))
    found = Interpretation("b", "R9", text="Øre:\r\nnormal.", author="Grün^Eva")
    ds = dcmread(write(tmp_path, found, keys))
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    assert str(ds.PatientName) == "Ødegård^Åse" and str(ds.AuthorObserverSequence[0]
                                                        .PersonName) == "Grün^Eva"
    assert ds.ContentSequence[-1].ContentSequence[0].TextValue == "Øre:\r\nnormal."


def test_report_sources_configuration() -> None:
    conf = cfg.loads('[[report_sources]]\nname = "broker"\nae_title = "BROKER"\n'
                     'host = "10.0.0.7"\n')
    (source,) = conf.report_sources
    assert source.port == 104 and source.timeout == 10.0
    assert source.sop_class_uids == ["1.2.840.113532.3500.8", "1.2.124.113532.3500.8"]
    assert source.match_on == ["accession", "study_uid", "patient_id"]
    with pytest.raises(cfg.ConfigError) as err:
        cfg.loads('[[report_sources]]\nname = "b"\nae_title = "B"\nhost = "h"\n'
                  'sop_class_uids = ["1.2.x"]\nmatch_on = ["accession", "name"]\n')
    text = str(err.value)
    assert "report_sources[1].sop_class_uids" in text and "'1.2.x'" in text
    assert "report_sources[1].match_on" in text and "'patient_id'" in text
    assert "[[report_sources]]" in cfg.default_text()
    cfg.loads(cfg.default_text())
