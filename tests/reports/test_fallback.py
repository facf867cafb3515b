"""The standard fallback against real archives: a study's SR and PDF objects found on
Orthanc (and dcmtk's dcmqrscp) and retrieved into the store, next to a broker's reports."""

from __future__ import annotations

import dataclasses
import io
import struct
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest

from mw_tui import config as cfg
from mw_tui.demo import synth
from mw_tui.dicom.archives import UnknownArchive
from mw_tui.dicom.scp import Receiver
from mw_tui.reports import ReportKind, ReportStatus, count_reports, fetch_reports
from mw_tui.reports.fallback import locate
from mw_tui.standard import sop
from mw_tui.store import Store
from tests.dicom import qr_data
from tests.dicom.test_retrieve import Dcmqrscp
from tests.peers import Orthanc, free_port
from tests.reports.broker import Broker, report
from tests.reports.conftest import put, source_for

REPORT_CLASSES = {"1.2.840.10008.5.1.4.1.1.88.11", sop.ENCAPSULATED_PDF}


studies = qr_data.studies  # the shared module fixture


@pytest.fixture(scope="module")
def pacs(tmp_path_factory: pytest.TempPathFactory,
         studies: dict[str, qr_data.Study]) -> Iterator[Orthanc]:
    keys = ["doe_ct", "muller_cr"]
    with qr_data.loaded_pacs(tmp_path_factory.mktemp("pacs"), studies, keys) as o:
        yield o


def archive_file(orthanc: Orthanc, sop_uid: str) -> bytes:
    """The Part 10 file Orthanc keeps for an instance (its REST API)."""
    (found,) = orthanc.request("POST", "/tools/lookup", sop_uid.encode(), "text/plain")
    assert found["Type"] == "Instance"
    with urllib.request.urlopen(f"{orthanc.url}/instances/{found['ID']}/file",
                                timeout=60) as rsp:
        return bytes(rsp.read())


def data_set(part10: bytes) -> bytes:
    """What follows a Part 10 file's meta information (the data set as it travels)."""
    assert part10[128:132] == b"DICM"
    (group_length,) = struct.unpack_from("<I", part10, 140)  # (0002,0000) UL, explicit VR
    return part10[144 + group_length:]


def transfer_syntax(part10: bytes) -> str:
    return str(pydicom.dcmread(io.BytesIO(part10), stop_before_pixels=True)
               .file_meta.TransferSyntaxUID)


def images_only(store: Store, study: qr_data.Study) -> None:
    for ds in study.datasets:
        if ds.SOPClassUID not in REPORT_CLASSES:
            put(store, ds)


def config_for(tmp: Path, *archives: cfg.Archive, sources: tuple[cfg.ReportSource, ...] = ()
               ) -> cfg.Config:
    return dataclasses.replace(qr_data.config_with(tmp, *archives), report_sources=sources)


def test_sr_and_pdf_objects_are_found_and_retrieved_once(
        tmp_path: Path, pacs: Orthanc, studies: dict[str, qr_data.Study]) -> None:
    study = studies["doe_ct"]
    config = config_for(tmp_path, qr_data.archive_of(pacs, "pacs", "get"))
    store = Store(config.storage)
    images_only(store, study)
    before = store.index.counts()[2]
    assert count_reports(config, study.uid) == 2
    assert count_reports(config, study.uid, store=store) == 2
    messages: list[str] = []
    result = fetch_reports(config, store, study.uid, progress=messages.append)
    assert result.ok, result.errors
    assert result.added == 2 and store.index.counts()[2] == before + 2
    by_kind = {r.kind: r for r in result.reports}
    assert set(by_kind) == {ReportKind.SR, ReportKind.PDF}
    sr, pdf = by_kind[ReportKind.SR], by_kind[ReportKind.PDF]
    assert (sr.title, sr.status, sr.author, sr.origin) == (
        "Radiology Report", ReportStatus.PRELIMINARY, "Radiologist^Reading", "pacs")
    assert (pdf.title, pdf.origin, pdf.date) == ("Report", "pacs", "20240115")
    assert any("retrieving 2 report object(s) from pacs" in m for m in messages)
    for r in result.reports:  # byte for byte the data set the archive holds
        row = store.index.instance(r.sop_uid)
        assert row is not None
        kept, held = store.path_of(row.path).read_bytes(), archive_file(pacs, r.sop_uid)
        assert transfer_syntax(kept) == transfer_syntax(held)
        assert data_set(kept) == data_set(held)
    again = fetch_reports(config, store, study.uid)
    assert again.ok and again.added == 0 and again.count == 2
    assert store.index.counts()[2] == before + 2
    store.close()


def test_a_study_without_reports_has_none(tmp_path: Path, pacs: Orthanc,
                                          studies: dict[str, qr_data.Study]) -> None:
    config = config_for(tmp_path, qr_data.archive_of(pacs, "pacs", "get"))
    assert count_reports(config, studies["muller_cr"].uid) == 0
    store = Store(config.storage)
    result = fetch_reports(config, store, studies["muller_cr"].uid)
    assert result.ok and result.count == 0 and store.index.counts() == (0, 0, 0)


def test_broker_text_and_archive_objects_together_in_one_study(
        tmp_path: Path, pacs: Orthanc, studies: dict[str, qr_data.Study]) -> None:
    study = studies["doe_ct"]
    broker = Broker([report(study.uid, "ACC101", "P001", "R-1", "Line 1.\nLine 2.")]).start()
    try:
        config = config_for(tmp_path, qr_data.archive_of(pacs, "pacs", "get"),
                            sources=(source_for(broker),))
        # the study is not in the store: its attributes come from the archive's answer
        assert count_reports(config, study.uid) == 3
        store = Store(config.storage)
        result = fetch_reports(config, store, study.uid)
    finally:
        broker.stop()
    assert result.ok and result.count == 3 and result.added == 3
    assert sorted(r.kind.value for r in result.reports) == ["mitra", "pdf", "sr"]
    mitra = result.by_kind(ReportKind.MITRA)[0]
    header = store.index.header(mitra.sop_uid)
    assert str(header.PatientName) == "Doe^John" and header.PatientID == "P001"
    assert header.AccessionNumber == "ACC101" and header.StudyDate == "20240115"
    (row,) = [s for s in store.index.studies() if s.study_uid == study.uid]
    assert row.patient_name == "Doe^John" and row.instances == 3
    store.close()


def test_a_dead_archive_is_an_error_the_broker_still_answers(
        tmp_path: Path, studies: dict[str, qr_data.Study]) -> None:
    study = studies["doe_ct"]
    dead = cfg.Archive(name="dead", ae_title="DEAD", host="127.0.0.1", port=free_port())
    broker = Broker([report(study.uid, "ACC101", "P001", "R-1", "Text.")]).start()
    try:
        config = config_for(tmp_path, dead, sources=(source_for(broker),))
        store = Store(config.storage)
        images_only(store, study)
        result = fetch_reports(config, store, study.uid)
    finally:
        broker.stop()
    assert [r.kind for r in result.reports] == [ReportKind.MITRA]
    (error,) = result.errors
    assert error.origin == "dead" and error.kind is ReportKind.SR
    assert "refused the connection" in error.message
    with pytest.raises(UnknownArchive):
        fetch_reports(config, store, study.uid, archives=["nowhere"])


def test_c_move_retrieves_the_reports_to_the_running_receiver(
        tmp_path: Path, pacs: Orthanc, studies: dict[str, qr_data.Study]) -> None:
    study = studies["doe_ct"]
    config = config_for(tmp_path, qr_data.archive_of(pacs, "pacs", "move"))
    pacs.add_modality("station", config.station.ae_title, "127.0.0.1", config.station.port)
    receiver = Receiver(config)
    receiver.start()
    try:
        store = Store(config.storage)
        result = fetch_reports(config, store, study.uid, archives=["pacs"])
    finally:
        receiver.stop()
    assert result.ok and {r.kind for r in result.reports} == {ReportKind.SR, ReportKind.PDF}
    assert result.added == 2


def test_an_archive_that_does_not_return_sop_classes_is_read_by_modality(
        tmp_path: Path, studies: dict[str, qr_data.Study]) -> None:
    """dcmqrscp neither matches on nor returns SOPClassUID: SR and DOC series count."""
    study = studies["doe_ct"]
    qr = Dcmqrscp(tmp_path / "qrscp")
    try:
        qr.store(tmp_path, *study.datasets)
        archive = cfg.Archive(name="dcmqr", ae_title="QRSCP", host="127.0.0.1", port=qr.port,
                              retrieve="get")
        config = config_for(tmp_path, archive)
        answer = locate(config, archive, study.uid)
        store = Store(config.storage)
        result = fetch_reports(config, store, study.uid)
    finally:
        qr.stop()
    assert answer.ok and len(answer.found) == 2
    assert result.ok and result.count == 2 and result.added == 2


def test_other_objects_in_a_report_series_are_not_counted(
        tmp_path: Path, pacs: Orthanc) -> None:
    info = synth.StudyInfo(patient=synth.PatientInfo("Other^One", "P777"), accession="A7")
    series = synth.generate_uid()
    pdf = synth.encapsulated_pdf(info, synth.minimal_pdf("Scanned request"), "Request")
    pdf.SeriesInstanceUID, pdf.Modality = series, "OT"
    for ds in [synth.image(info, "OT", series, 1, i, 16, 16) for i in (1, 2)] + [pdf]:
        pacs.upload_dataset_bytes(qr_data.part10(ds))
    config = config_for(tmp_path, qr_data.archive_of(pacs, "pacs", "get"))
    answer = locate(config, config.archives[0], info.study_uid)
    assert [f.sop_uid for f in answer.found] == [pdf.SOPInstanceUID]
    result = fetch_reports(config, Store(config.storage), info.study_uid)
    assert [(r.kind, r.title) for r in result.reports] == [(ReportKind.PDF, "Request")]
