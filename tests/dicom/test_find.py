"""C-FIND against a real Orthanc, checked against dcmtk findscu and the generated data."""

from __future__ import annotations

import datetime
import os
import re
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from fnmatch import fnmatchcase
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pynetdicom import AE, evt

from mw_tui import config as cfg
from mw_tui.dicom.archives import UnknownArchive
from mw_tui.dicom.client import Problem
from mw_tui.dicom.find import Searcher, find_series, search
from mw_tui.dicom.query import (
    DateRange,
    QueryError,
    SearchResult,
    SearchState,
    StudyQuery,
    StudyResult,
)
from mw_tui.standard import sop
from tests.dicom import qr_data
from tests.peers import Orthanc, free_port, need, wait_until

pacs, studies = qr_data.pacs, qr_data.studies  # the shared module fixtures


def findscu_uids(o: Orthanc, keys: dict[str, str]) -> set[str]:
    args = ["-S", "-aec", o.aet, "-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID"]
    if any(not v.isascii() for v in keys.values()):
        args += ["-k", "SpecificCharacterSet=ISO_IR 192"]
    for k, v in keys.items():
        args += ["-k", f"{k}={v}"]
    need("findscu")  # its log is in the answers' character set: read it as bytes
    proc = subprocess.run(["findscu", *args, "127.0.0.1", str(o.dicom_port)],
                          capture_output=True, timeout=60, env={**os.environ, "TCP_NODELAY": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = (proc.stdout + proc.stderr).decode("latin-1")
    return set(re.findall(r"\(0020,000d\) UI \[([0-9.]+)", text))


def _in_range(text: str) -> Callable[[qr_data.Study], bool]:
    r = DateRange.parse(text)
    return lambda s: datetime.datetime.strptime(s.plan.date, "%Y%m%d").date() in r


def _name(pattern: str) -> Callable[[qr_data.Study], bool]:
    return lambda s: fnmatchcase(s.plan.patient.name.lower(), pattern.lower())


# (our query, findscu's keys, which generated studies must match)
CASES: dict[str, tuple[StudyQuery, dict[str, str], Callable[[qr_data.Study], bool]]] = {
    "everything": (StudyQuery(), {}, lambda s: True),
    "name *": (StudyQuery(patient_name="Doe^*"), {"PatientName": "Doe^*"}, _name("doe^*")),
    "name ? any case": (StudyQuery(patient_name="doe^j?ne"), {"PatientName": "doe^j?ne"},
                        _name("doe^j?ne")),
    "name latin-1": (StudyQuery(patient_name="Müller*"), {"PatientName": "Müller*"},
                     _name("müller*")),
    "name utf-8": (StudyQuery(patient_name="Ødegård^Åse"), {"PatientName": "Ødegård^Åse"},
                   _name("ødegård^åse")),
    "patient id": (StudyQuery(patient_id="P002"), {"PatientID": "P002"},
                   lambda s: s.plan.patient.patient_id == "P002"),
    "accession": (StudyQuery(accession="ACC101"), {"AccessionNumber": "ACC101"},
                  lambda s: s.plan.accession == "ACC101"),
    "birth date": (StudyQuery(birth_date=datetime.date(1975, 12, 24)),
                   {"PatientBirthDate": "19751224"},
                   lambda s: s.plan.patient.birth_date == "19751224"),
    "sex": (StudyQuery(sex="F"), {"PatientSex": "F"}, lambda s: s.plan.patient.sex == "F"),
    "study date": (StudyQuery.from_text(study_date="20240115"), {"StudyDate": "20240115"},
                   _in_range("20240115")),
    "date range": (StudyQuery.from_text(study_date="20240101-20240331"),
                   {"StudyDate": "20240101-20240331"}, _in_range("20240101-20240331")),
    "open start": (StudyQuery.from_text(study_date="-20231231"), {"StudyDate": "-20231231"},
                   _in_range("-20231231")),
    "open end": (StudyQuery.from_text(study_date="20240301-"), {"StudyDate": "20240301-"},
                 _in_range("20240301-")),
    "modality": (StudyQuery(modality="MR"), {"ModalitiesInStudy": "MR"},
                 lambda s: "MR" in s.modalities),
    "modality of a document": (StudyQuery(modality="SR"), {"ModalitiesInStudy": "SR"},
                               lambda s: "SR" in s.modalities),
    "keys combined": (StudyQuery.from_text(patient_name="*", sex="M", study_date="20240101-",
                                           modality="CT"),
                      {"PatientName": "*", "PatientSex": "M", "StudyDate": "20240101-",
                       "ModalitiesInStudy": "CT"},
                      lambda s: s.plan.patient.sex == "M" and s.plan.date >= "20240101"
                      and "CT" in s.modalities),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_key_finds_what_findscu_finds(case: str, pacs: Orthanc, tmp_path: Path,
                                           studies: dict[str, qr_data.Study]) -> None:
    query, keys, matches = CASES[case]
    config = qr_data.config_with(tmp_path, qr_data.archive_of(pacs))
    result = search(config, query)
    assert result.ok, result.outcomes
    ours = {s.study_uid for s in result.studies}
    expected = {s.uid for s in studies.values() if matches(s)}
    assert expected, "the case must match something"
    assert ours == expected
    assert ours == findscu_uids(pacs, keys)


def test_results_carry_the_keys_the_screens_show(pacs: Orthanc, tmp_path: Path,
                                                 studies: dict[str, qr_data.Study]) -> None:
    config = qr_data.config_with(tmp_path, qr_data.archive_of(pacs))
    seen: list[StudyResult] = []
    result = search(config, StudyQuery(patient_id="P002"), on_result=seen.append)
    assert {s.study_uid for s in seen} == {s.study_uid for s in result.studies}
    cr = next(s for s in result.studies if s.accession == "ACC201")
    assert cr.study_uid == studies["muller_cr"].uid
    assert cr.patient_name == "Müller^Jürgen"
    assert (cr.patient_id, cr.birth_date, cr.sex) == ("P002", "19751224", "M")
    assert (cr.study_date, cr.study_time, cr.description) == ("20231231", "120000", "Thorax pa")
    assert cr.referring == "Ref^Erin"
    assert cr.modalities == ("CR",)
    assert cr.instances == 2
    assert cr.archives == ("pacs",)
    # newest first
    assert [s.study_date for s in result.studies] == ["20240601", "20231231"]
    utf8 = search(config, StudyQuery(patient_id="P003")).studies[0]
    assert utf8.patient_name == "Ødegård^Åse"
    assert utf8.to_json()["PatientName"] == "Ødegård^Åse"


def test_series_drill_down(pacs: Orthanc, tmp_path: Path,
                           studies: dict[str, qr_data.Study]) -> None:
    config = qr_data.config_with(tmp_path, qr_data.archive_of(pacs))
    study = studies["doe_ct"]
    listing = find_series(config, "pacs", study.uid)
    assert listing.outcome is not None and listing.outcome.ok
    got = [(s.number, s.modality, s.instances) for s in listing.series]
    assert got == [("1", "CT", 3), ("2", "CT", 2), ("3", "SR", 1), ("4", "DOC", 1)]
    assert {s.series_uid for s in listing.series} == set(study.series_uids)
    assert listing.series[0].description == "CT chest 1"


def test_two_archives_merge_and_a_stopped_one_reports_its_error(
        pacs: Orthanc, tmp_path: Path, studies: dict[str, qr_data.Study]) -> None:
    second = Orthanc(tmp_path / "second", aet="SECOND").start()
    try:
        qr_data.load(second, studies, ["doe_ct", "jane_mr"])
        config = qr_data.config_with(tmp_path, qr_data.archive_of(pacs),
                                     qr_data.archive_of(second, "second"))
        result = search(config, StudyQuery(patient_name="Doe^*"))
        assert result.ok
        held = {s.study_uid: s.archives for s in result.studies}
        assert held[studies["doe_ct"].uid] == ("pacs", "second")
        assert held[studies["doe_mr"].uid] == ("pacs",)
        second.kill()
        outcomes: list[object] = []
        result = search(config, StudyQuery(patient_name="Doe^*"), on_outcome=outcomes.append)
        assert {s.study_uid for s in result.studies} == {
            studies[k].uid for k in ("doe_ct", "doe_mr", "jane_mr")}
        assert all(s.archives == ("pacs",) for s in result.studies)
        ok, dead = result.outcomes
        assert ok.ok and ok.matches == 3
        assert dead.state is SearchState.FAILED and dead.problem is Problem.REFUSED
        assert f"127.0.0.1:{second.dicom_port}" in dead.message
        assert "refused" in dead.message and "second" in dead.message
        assert len(outcomes) == 2
    finally:
        second.kill()


def test_a_silent_archive_never_holds_up_the_others(pacs: Orthanc, tmp_path: Path) -> None:
    silent = socket.create_server(("127.0.0.1", 0))  # accepts connections, never answers
    try:
        port = silent.getsockname()[1]
        slow = cfg.Archive(name="slow", ae_title="SLOW", host="127.0.0.1", port=port,
                           timeout=1.5)
        config = qr_data.config_with(tmp_path, slow, qr_data.archive_of(pacs))
        started = time.monotonic()
        arrivals: list[float] = []
        result = search(config, StudyQuery(),
                        on_result=lambda s: arrivals.append(time.monotonic() - started))
        elapsed = time.monotonic() - started
        assert len(arrivals) == len(result.studies) == len(qr_data.PLAN)
        assert max(arrivals) < 1.0  # the good archive's answers did not wait for the slow one
        assert 1.4 < elapsed < 3.0
        slow_outcome, good = result.outcomes
        assert good.ok
        assert slow_outcome.problem is Problem.TIMEOUT
        assert "did not answer within 1.5 s" in slow_outcome.message
    finally:
        silent.close()


class SlowArchive:
    """A pynetdicom Query SCP that answers one match at a time (a slow, big archive)."""

    def __init__(self, matches: int = 200) -> None:
        self.cancelled = threading.Event()
        self.requests: list[str] = []
        self.matches = matches
        ae = AE(ae_title="SLOWPACS")
        ae.add_supported_context(sop.STUDY_ROOT_FIND)
        self.port = free_port()
        self.server = ae.start_server(("127.0.0.1", self.port), block=False,
                                      evt_handlers=[(evt.EVT_C_FIND, self.on_find)])

    def on_find(self, event: evt.Event) -> Iterator[tuple[int, Dataset | None]]:
        self.requests.append(str(event.identifier.get("PatientName", "")))
        for i in range(self.matches):
            if event.is_cancelled:
                self.cancelled.set()
                yield 0xFE00, None
                return
            ds = Dataset()
            ds.QueryRetrieveLevel = "STUDY"
            ds.StudyInstanceUID = f"1.2.3.{i + 1}"
            ds.PatientName = str(event.identifier.get("PatientName", ""))
            yield 0xFF00, ds
            self.cancelled.wait(0.02)  # the archive's own pace
        yield 0x0000, None

    def stop(self) -> None:
        self.server.shutdown()


def test_cancel_sends_c_cancel_and_stops_the_search(tmp_path: Path) -> None:
    slow = SlowArchive()
    try:
        archive = cfg.Archive(name="slow", ae_title="SLOWPACS", host="127.0.0.1",
                              port=slow.port)
        config = qr_data.config_with(tmp_path, archive)
        cancel = threading.Event()
        got: list[StudyResult] = []

        def arrived(study: StudyResult) -> None:
            got.append(study)
            if len(got) == 3:
                cancel.set()

        started = time.monotonic()
        result = search(config, StudyQuery(), on_result=arrived, cancel=cancel)
        assert time.monotonic() - started < 2.0
        assert result.cancelled and result.outcomes[0].state is SearchState.CANCELLED
        assert len(got) == 3  # nothing delivered after the cancel
        assert slow.cancelled.is_set()  # the archive saw the C-CANCEL
    finally:
        slow.stop()


def test_a_new_search_cancels_the_running_one(tmp_path: Path) -> None:
    slow = SlowArchive()
    try:
        archive = cfg.Archive(name="slow", ae_title="SLOWPACS", host="127.0.0.1",
                              port=slow.port)
        config = qr_data.config_with(tmp_path, archive)
        names: list[str] = []
        done: list[SearchResult] = []
        searcher = Searcher(config, on_result=lambda s: names.append(s.patient_name),
                            on_done=done.append)
        searcher.start()
        searcher.submit(StudyQuery(patient_name="FIRST*"))
        wait_until(lambda: names, 10, "the first search's results")
        searcher.submit(StudyQuery(patient_name="SECOND*"))
        wait_until(slow.cancelled.is_set, 10, "the first search to be cancelled (C-CANCEL)")
        slow.cancelled.clear()
        wait_until(lambda: names and names[-1] == "SECOND*", 10, "the second search's results")
        first_count = names.count("FIRST*")
        searcher.stop()
        assert names.count("FIRST*") == first_count  # silenced once superseded
        assert slow.requests == ["FIRST*", "SECOND*"]
        assert all(r.query.patient_name == "SECOND*" for r in done)
    finally:
        slow.stop()


def test_unknown_archive_name_says_which_exist(pacs: Orthanc, tmp_path: Path) -> None:
    config = qr_data.config_with(tmp_path, qr_data.archive_of(pacs))
    with pytest.raises(UnknownArchive) as info:
        search(config, StudyQuery(), ["nope"])
    assert "'nope'" in str(info.value) and "pacs" in str(info.value)


@pytest.mark.parametrize(("text", "expected"), [
    ("20240115", "20240115"), ("2024-01-15", "20240115"), ("20240101-20240131",
                                                           "20240101-20240131"),
    ("20240101-", "20240101-"), ("-20240131", "-20240131"),
])
def test_study_dates_accepted(text: str, expected: str) -> None:
    assert DateRange.parse(text).to_dicom() == expected


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"study_date": "2024011"}, "YYYYMMDD"),
    ({"study_date": "20241340"}, "not a real date"),
    ({"study_date": "20240201-20240101"}, "swap the dates"),
    ({"study_date": "-"}, "YYYYMMDD"),
    ({"study_date": "2024-01-01-2024"}, "YYYYMMDD"),
    ({"birth_date": "1975-02-30"}, "not a real date"),
    ({"sex": "X"}, "M, F or O"),
    ({"modality": "c t!"}, "modality"),
    ({"patient_name": "a\\b"}, "backslash"),
    ({"accession": "A" * 17}, "at most 16"),
    ({"study_uid": "1.2.abc"}, "not a valid UID"),
])
def test_invalid_keys_are_refused_with_a_clear_message(kwargs: dict[str, str],
                                                       message: str) -> None:
    with pytest.raises(QueryError, match=re.escape(message)):
        StudyQuery.from_text(**kwargs)


def test_orthanc_honours_modalities_in_study_not_modality_at_study_level(
        pacs: Orthanc, studies: dict[str, qr_data.Study]) -> None:
    # why StudyQuery sends ModalitiesInStudy (0008,0061) for the modality
    mr = {s.uid for s in studies.values() if "MR" in s.modalities}
    assert findscu_uids(pacs, {"ModalitiesInStudy": "MR"}) == mr
    assert findscu_uids(pacs, {"Modality": "MR"}) == set()
    assert StudyQuery(modality="MR").identifier()["ModalitiesInStudy"] == "MR"
    assert "Modality" not in StudyQuery(modality="MR").identifier()


@pytest.mark.parametrize("transfer_syntax", [sop.IMPLICIT_VR_LE, sop.EXPLICIT_VR_LE])
def test_answers_are_decoded_by_the_fast_walker(transfer_syntax: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from mw_tui.dicom import identifier

    values = {"QueryRetrieveLevel": "STUDY", "PatientName": "Ødegård^Åse",
              "StudyDescription": "Ünïcode", "ModalitiesInStudy": "CT\\SR",
              "NumberOfStudyRelatedInstances": "12", "StudyInstanceUID": "1.2.3.4"}
    data = identifier.encode(values, transfer_syntax)

    def no_fallback(*_: object) -> None:
        raise AssertionError("plain answers must not need pydicom")

    monkeypatch.setattr(identifier, "_with_pydicom", no_fallback)
    decoded = identifier.decode(data, transfer_syntax)
    assert decoded == {**values, "SpecificCharacterSet": "ISO_IR 192"}


@pytest.mark.parametrize("undefined", [False, True])
def test_answers_with_a_sequence_are_decoded_too(undefined: bool,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    from mw_tui.dicom import identifier

    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = "Müller^Jürgen"
    item = Dataset()
    item.CodeValue = "X"
    ds.ProcedureCodeSequence = [item]
    ds["ProcedureCodeSequence"].is_undefined_length = undefined
    item.is_undefined_length_sequence_item = undefined
    ds.StudyInstanceUID = "1.2.3"
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, False
    write_dataset(fp, ds)
    used: list[bool] = []
    real = identifier._with_pydicom
    monkeypatch.setattr(identifier, "_with_pydicom",
                        lambda *a: used.append(True) or real(*a))  # type: ignore[func-returns-value]
    decoded = identifier.decode(fp.getvalue(), sop.EXPLICIT_VR_LE)
    assert decoded["PatientName"] == "Müller^Jürgen"
    assert decoded["StudyInstanceUID"] == "1.2.3"
    assert used == ([True] if undefined else [])  # only undefined lengths need pydicom


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([sop.IMPLICIT_VR_LE, sop.EXPLICIT_VR_LE]))
def test_garbage_answers_never_crash_the_decoder(data: bytes, transfer_syntax: str) -> None:
    from mw_tui.dicom import commands, identifier, wire

    result = identifier.decode(data, transfer_syntax)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in result.items())
    try:
        commands.decode(data)
    except wire.ProtocolError:
        pass
