"""C-FIND against the demo archive with dcmtk findscu: every key of the spec's Figure 4,
ranges, wildcards, non-ASCII names; each answer checked against the files themselves."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    StudyRootQueryRetrieveInformationModelFind,
)

from mw_tui.demo.archive import DemoArchive, QueryReceived
from mw_tui.standard import status
from tests.demo.conftest import OracleStudy
from tests.peers import wait_until

Arg = str | bytes


def findscu(archive: DemoArchive, out: Path, *keys: Arg, model: str = "-S",
            level: str = "STUDY") -> list[Dataset]:
    """Run findscu with `keys` (-k each); the responses, as pydicom reads them."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("rsp*.dcm"):
        old.unlink()
    args: list[Arg] = [model, "-X", "-od", str(out), "-aec", archive.ae_title, "127.0.0.1",
                       str(archive.port), "-k", f"QueryRetrieveLevel={level}"]
    for k in keys:
        args += ["-k", k]
    import os
    import subprocess

    proc = subprocess.run(["findscu", *args], capture_output=True, timeout=60,
                          env={**os.environ, "TCP_NODELAY": "1"})
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    return [pydicom.dcmread(p) for p in sorted(out.glob("rsp*.dcm"))]


STUDY_KEYS = ["StudyInstanceUID", "PatientName", "PatientID", "StudyDate",
              "NumberOfStudyRelatedInstances"]


def uids(responses: list[Dataset]) -> set[str]:
    return {str(r.StudyInstanceUID) for r in responses}


def expect(oracle: dict[str, OracleStudy], keep: Callable[[OracleStudy], bool]) -> set[str]:
    found = {uid for uid, s in oracle.items() if keep(s)}
    assert found and len(found) < len(oracle), "the case must select some studies, not all"
    return found


def name(s: OracleStudy) -> str:
    return str(s.first.get("PatientName", ""))


def attr(s: OracleStudy, kw: str) -> str:
    return str(s.first.get(kw, "") or "")


CASES: list[tuple[str, list[Arg], Callable[[OracleStudy], bool]]] = [
    ("name prefix, UTF-8 query", ["SpecificCharacterSet=ISO_IR 192", "PatientName=Müller*"],
     lambda s: name(s).startswith("Müller")),
    ("name, Latin-1 query", [b"SpecificCharacterSet=ISO_IR 100",
                             "PatientName=Ødegård*".encode("latin-1")],
     lambda s: name(s).startswith("Ødegård")),
    ("name with ? and *", ["SpecificCharacterSet=ISO_IR 192", "PatientName=*ller^J?rgen"],
     lambda s: fnmatch.fnmatchcase(name(s), "*ller^J?rgen")),
    ("name, any case", ["PatientName=smith*"], lambda s: name(s).lower().startswith("smith")),
    ("name, Greek, exact", ["SpecificCharacterSet=ISO_IR 192",
                            "PatientName=Κωνσταντίνου^Ελένη"],
     lambda s: name(s) == "Κωνσταντίνου^Ελένη"),
    ("name, ideographic group", ["SpecificCharacterSet=ISO_IR 192", "PatientName=山田*"],
     lambda s: "山田" in name(s)),
    ("patient id", ["PatientID=MWD-1003"], lambda s: attr(s, "PatientID") == "MWD-1003"),
    ("accession", ["AccessionNumber=B23112003"],
     lambda s: attr(s, "AccessionNumber") == "B23112003"),
    ("date", ["StudyDate=20240809"], lambda s: attr(s, "StudyDate") == "20240809"),
    ("date range", ["StudyDate=20231101-20231231"],
     lambda s: "20231101" <= attr(s, "StudyDate") <= "20231231"),
    ("open end", ["StudyDate=20250101-"], lambda s: attr(s, "StudyDate") >= "20250101"),
    ("open start", ["StudyDate=-20031231"],
     lambda s: "" < attr(s, "StudyDate") <= "20031231"),
    ("modalities in study", ["ModalitiesInStudy=US"], lambda s: "US" in s.modalities),
    ("modalities, list", ["ModalitiesInStudy=CR\\US"], lambda s: bool({"CR", "US"}
                                                                       & s.modalities)),
    ("modality at study level", ["Modality=MR"], lambda s: "MR" in s.modalities),
    ("birth date", ["PatientBirthDate=19610723"],
     lambda s: attr(s, "PatientBirthDate") == "19610723"),
    ("sex", ["PatientSex=F"], lambda s: attr(s, "PatientSex") == "F"),
    ("two keys", ["PatientSex=M", "StudyDate=20200101-"],
     lambda s: attr(s, "PatientSex") == "M" and attr(s, "StudyDate") >= "20200101"),
]


@pytest.mark.parametrize(("case", "keys", "keep"), CASES, ids=[c[0] for c in CASES])
def test_findscu_key(archive: DemoArchive, oracle: dict[str, OracleStudy], tmp_path: Path,
                     case: str, keys: list[Arg], keep: Callable[[OracleStudy], bool]) -> None:
    wanted = expect(oracle, keep)
    have = {(k.decode("latin-1") if isinstance(k, bytes) else k).split("=")[0] for k in keys}
    extra = [k for k in STUDY_KEYS if k not in have]
    responses = findscu(archive, tmp_path, *keys, *extra)
    assert uids(responses) == wanted
    for r in responses:
        study = oracle[r.StudyInstanceUID]
        assert str(r.PatientName) == name(study)
        assert int(r.NumberOfStudyRelatedInstances) == len(study.files)


def test_study_uid_list(archive: DemoArchive, oracle: dict[str, OracleStudy],
                        tmp_path: Path) -> None:
    two = sorted(oracle)[:2]
    responses = findscu(archive, tmp_path, f"StudyInstanceUID={two[0]}\\{two[1]}")
    assert uids(responses) == set(two)


def test_return_keys_carry_the_files_values(archive: DemoArchive,
                                            oracle: dict[str, OracleStudy],
                                            tmp_path: Path) -> None:
    keys = ["PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate",
            "StudyTime", "AccessionNumber=B23112003", "StudyDescription",
            "ReferringPhysicianName",
            "ModalitiesInStudy", "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances",
            "StudyID"]
    responses = findscu(archive, tmp_path, "StudyInstanceUID", *keys)
    (r,) = responses
    study = oracle[r.StudyInstanceUID]
    for kw in [k.split("=")[0] for k in keys[:9]]:
        assert str(r[kw].value) == str(study.first[kw].value), kw
    assert str(r.StudyDescription) == "MRT Schädel nativ"
    assert str(r.ReferringPhysicianName) == "Schäfer^Thomas^^Dr. med."
    assert set(r.ModalitiesInStudy) == study.modalities == {"MR", "SR"}
    assert int(r.NumberOfStudyRelatedSeries) == len(study.series) == 5
    assert int(r.NumberOfStudyRelatedInstances) == len(study.files)
    # written in the study's own character set
    assert r.SpecificCharacterSet == "ISO_IR 100"
    raw = sorted(tmp_path.glob("rsp*.dcm"))[0].read_bytes()
    assert "Müller^Jürgen".encode("latin-1") in raw


def test_utf8_names_come_back_in_utf8(archive: DemoArchive, tmp_path: Path) -> None:
    (r,) = findscu(archive, tmp_path, "SpecificCharacterSet=ISO_IR 192", "PatientName=山田*",
                   "StudyInstanceUID")
    assert r.SpecificCharacterSet == "ISO_IR 192"
    assert str(r.PatientName) == "Yamada^Tarou=山田^太郎=やまだ^たろう"
    assert "山田^太郎".encode() in sorted(tmp_path.glob("rsp*.dcm"))[0].read_bytes()


def test_series_level(archive: DemoArchive, oracle: dict[str, OracleStudy],
                      tmp_path: Path) -> None:
    study = next(s for s in oracle.values() if attr(s, "AccessionNumber") == "B23112003")
    responses = findscu(archive, tmp_path, f"StudyInstanceUID={study.uid}", "SeriesInstanceUID",
                        "Modality", "SeriesDescription", "SeriesNumber",
                        "NumberOfSeriesRelatedInstances", level="SERIES")
    got = {str(r.SeriesInstanceUID): r for r in responses}
    assert set(got) == set(study.series)
    for uid, series in study.series.items():
        r = got[uid]
        assert (r.Modality, str(r.SeriesDescription), str(r.SeriesNumber)) == (
            series.modality, series.description, series.number)
        assert int(r.NumberOfSeriesRelatedInstances) == len(series.files)
    mr_only = findscu(archive, tmp_path, f"StudyInstanceUID={study.uid}", "SeriesInstanceUID",
                      "Modality=MR", level="SERIES")
    assert len(mr_only) == sum(s.modality == "MR" for s in study.series.values()) == 4


def test_image_level(archive: DemoArchive, oracle: dict[str, OracleStudy],
                     tmp_path: Path) -> None:
    study = next(s for s in oracle.values() if attr(s, "AccessionNumber") == "B23112003")
    series = next(iter(study.series.values()))
    responses = findscu(archive, tmp_path, f"StudyInstanceUID={study.uid}",
                        f"SeriesInstanceUID={series.uid}", "SOPInstanceUID", "InstanceNumber",
                        level="IMAGE")
    expected = {pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID
                for f in series.files}
    assert {r.SOPInstanceUID for r in responses} == expected


def test_patient_root_patient_level(archive: DemoArchive, tmp_path: Path) -> None:
    responses = findscu(archive, tmp_path, "PatientID=MWD-1002", "PatientName",
                        "NumberOfPatientRelatedStudies", model="-P", level="PATIENT")
    (r,) = responses
    assert str(r.PatientName) == "Müller^Jürgen" and int(r.NumberOfPatientRelatedStudies) == 2


def test_patient_level_is_refused_in_the_study_root_model(archive: DemoArchive) -> None:
    ae = AE("FINDTEST")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    assoc = ae.associate("127.0.0.1", archive.port, ae_title=archive.ae_title)
    assert assoc.is_established
    query = Dataset()
    query.QueryRetrieveLevel = "PATIENT"
    query.PatientName = "*"
    statuses = [int(s.Status) for s, _ in assoc.send_c_find(
        query, StudyRootQueryRetrieveInformationModelFind)]
    assoc.release()
    assert statuses == [status.IDENTIFIER_MISMATCH]


def test_a_new_search_cancels_the_running_one(demo_data: Path) -> None:
    """C-CANCEL: the archive stops sending matches and answers Cancel (0xFE00)."""
    import threading

    from mw_tui.demo.samples import Profile

    query_started = threading.Event()

    def on_event(event: object) -> None:
        if isinstance(event, QueryReceived):  # hold the answers until the cancel is there
            query_started.set()
            server = archive._server
            assert server is not None
            wait_until(lambda: any(a.dimse.cancel_req for a in server.active_associations),
                       10, "the C-CANCEL to reach the archive")

    with DemoArchive(demo_data, samples_profile=Profile.TINY, on_event=on_event) as archive:
        ae = AE("FINDTEST")
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
        assoc = ae.associate("127.0.0.1", archive.port, ae_title=archive.ae_title)
        assert assoc.is_established
        query = Dataset()
        query.QueryRetrieveLevel = "STUDY"
        query.StudyInstanceUID = ""
        responses = assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind,
                                      msg_id=7)
        assert query_started.wait(10)
        assoc.send_c_cancel(7, query_model=StudyRootQueryRetrieveInformationModelFind)
        statuses = [int(s.Status) for s, _ in responses]
        assoc.release()
    assert statuses == [status.CANCEL]
