"""The Mitra Report Management SCU against a broker emulated with pynetdicom: reports
fetched as text become Basic Text SRs of the study, once, and valid (dciodvfy)."""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from pathlib import Path

import pytest
from pydicom import dcmread

from mw_tui.demo import synth
from mw_tui.dicom.client import Problem
from mw_tui.reports import ReportKind, ReportStatus, cfind, count_reports, fetch_reports
from mw_tui.reports.mitra import query
from mw_tui.reports.models import StudyKeys
from mw_tui.store import Store
from tests.peers import free_port, need
from tests.reports.broker import AGFA_UID, SPEC_UID, Broker, report
from tests.reports.conftest import config_for, source_for

TEXT = "CT of the abdomen.\nLiver: normal size, no focal lesion.\n\nKidneys: Ærø cyst, 8 mm."


def dciodvfy(path: Path) -> str:
    need("dciodvfy")
    proc = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True,
                          errors="replace", timeout=60)
    return proc.stdout + proc.stderr


def two_reports(study: synth.StudyInfo) -> list:
    return [
        report(study.study_uid, "ACC301", "P003", "R-1001", TEXT, "APPROVED",
               impressions="No acute abnormality.", diagnosis="Simple renal cyst."),
        report(study.study_uid, "ACC301", "P003", "R-1002", "Addendum: cyst unchanged.",
               "TRANSCRIBED", type_id="AMENDMENT", author="Smith^Anna", time="164500"),
        # the same patient's other study: must not land in this one
        report("1.2.3.999", "ACC999", "P003", "R-0007", "Old report.", "APPROVED"),
    ]


def test_broker_reports_become_valid_basic_text_srs_of_the_study(
        tmp_path: Path, store: Store, study: synth.StudyInfo, broker: Broker,
        caplog: pytest.LogCaptureFixture) -> None:
    broker.reports = two_reports(study)
    config = config_for(tmp_path, (source_for(broker),))
    image = store.index.header(store.index.study_instances(study.study_uid)[0].sop_uid)
    with caplog.at_level(logging.INFO, logger="mw_tui.reports"):
        result = fetch_reports(config, store, study.study_uid)
    assert result.ok and result.added == 2 and result.count == 2
    assert {r.kind for r in result.reports} == {ReportKind.MITRA}
    assert [r.status for r in result.reports] == [ReportStatus.FINAL, ReportStatus.PRELIMINARY]
    assert [r.author for r in result.reports] == ["Ødegård^Åse^^Dr.", "Smith^Anna"]
    assert all(r.origin == "broker" and r.added for r in result.reports)
    # the dialect is logged: accepted context, attributes nobody asked for
    logged = caplog.text
    assert f"accepted {SPEC_UID} (Implicit VR Little Endian)" in logged
    assert "(4008,0040) ResultsID" in logged and "(0029,1001) private" in logged
    assert "Ødegård" not in logged and "P003" not in logged

    series = [s for s in store.index.series(study.study_uid) if s.modality == "SR"]
    assert len(series) == 1 and series[0].description == "Reports"
    assert series[0].series_number == "4"  # after the images' series 3
    approved, amendment = (dcmread(store.path_of(r.path))
                           for r in store.index.instances(series[0].series_uid))
    for ds in (approved, amendment):
        assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
        assert ds.SpecificCharacterSet == "ISO_IR 192"
        for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex",
                        "StudyInstanceUID", "StudyDate", "StudyTime", "AccessionNumber",
                        "StudyID", "ReferringPhysicianName"):
            assert ds[keyword].value == image[keyword].value, keyword
    assert approved.VerificationFlag == "VERIFIED" and approved.CompletionFlag == "COMPLETE"
    assert approved.PreliminaryFlag == "FINAL"
    (verifier,) = approved.VerifyingObserverSequence
    assert str(verifier.VerifyingObserverName) == "Müller^Jürgen"
    assert verifier.VerificationDateTime == "20240116120000"
    assert verifier.VerifyingOrganization == "St. Elsewhere"
    assert approved.ContentDate == "20240116" and approved.ContentTime == "101500"
    sections = {s.ConceptNameCodeSequence[0].CodeMeaning: s.ContentSequence[0].TextValue
                for s in approved.ContentSequence if s.ValueType == "CONTAINER"}
    assert sections == {"Findings": TEXT.replace("\n", "\r\n"),
                        "Impressions": "No acute abnormality.",
                        "Conclusions": "Simple renal cyst."}
    assert amendment.VerificationFlag == "UNVERIFIED" and "VerifyingObserverSequence" not in \
        amendment
    assert amendment.ContentSequence[-1].ConceptNameCodeSequence[0].CodeMeaning == "Addendum"
    for r in store.index.instances(series[0].series_uid):
        out = dciodvfy(store.path_of(r.path))
        assert "Error" not in out and "Warning" not in out, out


def test_fetching_again_adds_nothing_and_a_changed_report_replaces_its_copy(
        tmp_path: Path, store: Store, study: synth.StudyInfo, broker: Broker) -> None:
    broker.reports = two_reports(study)[1:2]  # the amendment, not yet approved
    config = config_for(tmp_path, (source_for(broker),))
    first = fetch_reports(config, store, study.study_uid)
    before = store.index.counts()
    again = fetch_reports(config, store, study.study_uid)
    assert (first.added, again.added) == (1, 0)
    assert again.reports[0].sop_uid == first.reports[0].sop_uid and not again.reports[0].added
    assert store.index.counts() == before
    broker.reports = [report(study.study_uid, "ACC301", "P003", "R-1002",
                             "Addendum: cyst unchanged.", "APPROVED", type_id="AMENDMENT")]
    approved = fetch_reports(config, store, study.study_uid)
    assert approved.added == 1 and store.index.counts() == before
    assert [r.status for r in approved.reports] == [ReportStatus.FINAL]
    assert approved.reports[0].sop_uid == first.reports[0].sop_uid


def test_an_empty_answer_tries_every_key_in_order_and_finds_nothing(
        tmp_path: Path, store: Store, study: synth.StudyInfo, broker: Broker) -> None:
    config = config_for(tmp_path, (source_for(broker),))
    result = fetch_reports(config, store, study.study_uid)
    assert result.ok and result.count == 0 and result.added == 0
    asked = [[k for k in ("AccessionNumber", "StudyInstanceUID", "PatientID")
              if str(q.get(k, "") or "")] for q in broker.queries]
    assert asked == [["AccessionNumber"], ["StudyInstanceUID"], ["PatientID"]]
    assert [str(q.PatientID) for q in broker.queries][2] == "P003"
    assert count_reports(config, study.study_uid, store=store) == 0


def test_a_patient_id_match_keeps_only_this_studys_reports(
        tmp_path: Path, store: Store, study: synth.StudyInfo, broker: Broker) -> None:
    broker.reports = [r for r in two_reports(study)]
    for r in broker.reports:
        r.AccessionNumber = ""  # this broker matches on the patient only
    config = config_for(tmp_path, (source_for(broker, match_on=["patient_id"]),))
    result = fetch_reports(config, store, study.study_uid)
    assert result.ok and result.count == 2
    assert len(broker.queries) == 1 and str(broker.queries[0].PatientID) == "P003"


def test_answers_that_do_not_say_their_study_are_dropped_on_a_patient_match(
        tmp_path: Path, store: Store, study: synth.StudyInfo, broker: Broker) -> None:
    broker.reports = [report(study.study_uid, "", "P003", "R-5", "Text.", with_study_uid=False)]
    config = config_for(tmp_path, (source_for(broker, match_on=["patient_id"]),))
    assert fetch_reports(config, store, study.study_uid).count == 0


def test_the_second_candidate_uid_is_used_when_the_first_is_not_accepted(
        tmp_path: Path, store: Store, study: synth.StudyInfo,
        caplog: pytest.LogCaptureFixture) -> None:
    agfa = Broker(two_reports(study)[:1], uids=(AGFA_UID,)).start()
    try:
        config = config_for(tmp_path, (source_for(agfa),))
        with caplog.at_level(logging.INFO, logger="mw_tui.reports"):
            result = fetch_reports(config, store, study.study_uid)
    finally:
        agfa.stop()
    assert result.ok and result.count == 1
    assert agfa.contexts == [AGFA_UID]
    assert f"accepted {AGFA_UID}" in caplog.text
    assert f"not accepted: {SPEC_UID}" in caplog.text


def test_a_broker_without_the_service_is_a_clear_error_not_a_crash(
        tmp_path: Path, store: Store, study: synth.StudyInfo) -> None:
    other = Broker(two_reports(study), uids=("1.2.3.4.5.6.7.8",)).start()
    try:
        config = config_for(tmp_path, (source_for(other),))
        result = fetch_reports(config, store, study.study_uid)
        answer = query(config, config.report_sources[0], StudyKeys(study.study_uid))
    finally:
        other.stop()
    assert not result.ok and result.count == 0 and not other.queries
    (error,) = result.errors
    assert error.origin == "broker" and error.kind is ReportKind.MITRA
    assert SPEC_UID in error.message and AGFA_UID in error.message
    assert "sop_class_uids" in error.message
    assert answer.problem is Problem.NOT_SUPPORTED


def test_a_silent_broker_times_out_and_a_dead_one_is_refused(
        tmp_path: Path, store: Store, study: synth.StudyInfo) -> None:
    silent = Broker(two_reports(study), hold=threading.Event()).start()
    dead = source_for(silent, "dead", port=free_port())
    try:
        config = config_for(tmp_path, (source_for(silent, timeout=1.0), dead))
        started = time.monotonic()
        result = fetch_reports(config, store, study.study_uid)
        took = time.monotonic() - started
    finally:
        silent.stop()
    assert took < 8
    errors = {e.origin: e.message for e in result.errors}
    assert "did not answer within" in errors["broker"]
    assert "refused the connection" in errors["dead"]
    assert result.count == 0 and store.index.study(study.study_uid) is not None


def test_cancel_stops_a_slow_broker(tmp_path: Path, store: Store, study: synth.StudyInfo
                                    ) -> None:
    slow = Broker(two_reports(study), hold=threading.Event()).start()
    cancel = threading.Event()
    try:
        config = config_for(tmp_path, (source_for(slow, timeout=30.0),))
        threading.Timer(0.5, cancel.set).start()
        started = time.monotonic()
        result = fetch_reports(config, store, study.study_uid, cancel=cancel)
        took = time.monotonic() - started
    finally:
        slow.stop()
    assert result.cancelled and not result.ok and took < 3
    assert slow.cancelled == 1  # a C-CANCEL went out, and the broker stopped
    assert result.errors == ()  # a cancel is not a broker's failure
    assert result.count == 0


def test_a_study_missing_everywhere_gets_no_report_but_a_reason(
        tmp_path: Path, broker: Broker) -> None:
    uid = synth.generate_uid()
    broker.reports = [report(uid, "ACC1", "P1", "R-1", "Text.")]
    config = config_for(tmp_path, (source_for(broker),))
    store = Store(tmp_path / "empty")
    result = fetch_reports(config, store, uid)
    assert result.count == 0 and store.index.counts() == (0, 0, 0)
    assert "retrieve the study first" in result.errors[0].message
    assert count_reports(config, uid) == 1


def test_reports_without_text_are_not_stored(
        tmp_path: Path, store: Store, study: synth.StudyInfo, broker: Broker) -> None:
    broker.reports = [report(study.study_uid, "ACC301", "P003", "R-9", "", "CREATED")]
    config = config_for(tmp_path, (source_for(broker),))
    result = fetch_reports(config, store, study.study_uid)
    assert result.ok and result.count == 0 and result.added == 0


def test_a_key_the_broker_refuses_moves_on_to_the_next(
        tmp_path: Path, store: Store, study: synth.StudyInfo, broker: Broker) -> None:
    long_text = "\n".join(f"Line {i}: " + "findings " * 8 for i in range(60))  # > 1024 (ST)
    broker.reports = [report(study.study_uid, "ACC301", "P003", "R-1", long_text)]
    broker.refuse = "AccessionNumber"
    config = config_for(tmp_path, (source_for(broker),))
    result = fetch_reports(config, store, study.study_uid)
    assert result.ok and result.count == 1
    assert len(broker.queries) == 2  # accession refused, study UID answered
    ds = dcmread(store.path_of(store.index.instance(result.reports[0].sop_uid).path))
    findings = next(s for s in ds.ContentSequence if s.ValueType == "CONTAINER")
    assert findings.ContentSequence[0].TextValue == long_text.replace("\n", "\r\n").rstrip()


def test_a_broker_refusing_every_key_is_an_error_with_its_status(
        tmp_path: Path, store: Store, study: synth.StudyInfo, broker: Broker) -> None:
    broker.refuse = "SpecificCharacterSet"  # refuses only non-ASCII queries
    config = config_for(tmp_path, (source_for(broker, match_on=["patient_id"]),))
    keys = StudyKeys(study.study_uid, patient_id="PØ1")
    answer = query(config, config.report_sources[0], keys)
    assert not answer.ok and "0xA900" in answer.error and "report query on patient_id" in \
        answer.error


def test_an_undecodable_answer_is_refused_with_a_reason() -> None:
    truncated_item = (b"\x08\x00\x15\x11\xff\xff\xff\xff\xfe\xff\x00\xe0\x08\x00\x00\x00"
                      b"\x10\x00\x10\x00\xff\x00\x00\x00")
    odd_us = b"\x28\x00\x10\x00\x03\x00\x00\x00\x01\x02\x03\x00"
    for garbage in (truncated_item, odd_us):
        with pytest.raises(ValueError, match="cannot be decoded"):
            cfind.decode(garbage, "1.2.840.10008.1.2")
