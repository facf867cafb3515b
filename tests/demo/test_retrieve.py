"""C-MOVE and C-GET from the demo archive with real clients (dcmtk movescu / getscu,
pynetdicom) into a real mw-tui Receiver; C-ECHO; unknown destinations; cancel."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    StudyRootQueryRetrieveInformationModelMove,
)

from mw_tui.config import Config
from mw_tui.demo.archive import (
    DemoArchive,
    RequestRefused,
    RetrieveEnded,
    RetrieveStarted,
    with_demo_archive,
)
from mw_tui.demo.samples import Profile
from mw_tui.dicom.scp import Receiver
from mw_tui.standard import sop, status
from mw_tui.store import Store
from tests.demo.conftest import OracleStudy, dataset_bytes
from tests.peers import dcmtk, wait_until


def study_by_accession(oracle: dict[str, OracleStudy], accession: str) -> OracleStudy:
    return next(s for s in oracle.values() if s.first.get("AccessionNumber") == accession)


def study_by_name(oracle: dict[str, OracleStudy], name: str) -> OracleStudy:
    return next(s for s in oracle.values() if str(s.first.get("PatientName")) == name)


def sop_uid(path: Path) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def assert_stored_as_sent(receiver: Receiver, files: list[Path]) -> None:
    """Every file is in the receiver's store, its data set byte for byte the same."""
    store = Store(receiver.config.storage)
    try:
        wanted = {sop_uid(f): f for f in files}
        wait_until(lambda: all(store.index.instance(u) for u in wanted), 10,
                   "the moved instances in the store")
        for uid, source in wanted.items():
            row = store.index.instance(uid)
            assert row is not None
            assert dataset_bytes(store.path_of(row.path)) == dataset_bytes(source), source
    finally:
        store.close()


def movescu(archive: DemoArchive, destination: str, level: str, *keys: str,
            check: bool = True) -> str:
    args = ["-S", "-aec", archive.ae_title, "-aem", destination, "-k",
            f"QueryRetrieveLevel={level}"]
    for k in keys:
        args += ["-k", k]
    proc = dcmtk("movescu", *args, "127.0.0.1", str(archive.port), check=check)
    return proc.stdout + proc.stderr


def test_echoscu(archive: DemoArchive) -> None:
    dcmtk("echoscu", "-aec", archive.ae_title, "127.0.0.1", str(archive.port))


def test_movescu_puts_every_instance_of_a_multi_series_study_in_the_store(
        archive: DemoArchive, receiver: Receiver, oracle: dict[str, OracleStudy]) -> None:
    archive.set_destination("MW_TUI", "127.0.0.1", receiver.port)
    study = study_by_accession(oracle, "B23112003")
    assert len(study.series) == 5
    movescu(archive, "MW_TUI", "STUDY", f"StudyInstanceUID={study.uid}")
    assert_stored_as_sent(receiver, study.files)
    store = Store(receiver.config.storage)
    row = store.index.study(study.uid)
    store.close()
    assert row is not None and row.instances == len(study.files)
    assert row.series_count == 5


def test_compressed_files_are_moved_as_they_are(archive: DemoArchive, receiver: Receiver,
                                                oracle: dict[str, OracleStudy]) -> None:
    archive.set_destination("MW_TUI", "127.0.0.1", receiver.port)
    study = study_by_name(oracle, "Lestrade^G")  # pydicom's JPEG / JPEG 2000 / JPEG-LL files
    syntaxes = {str(pydicom.dcmread(f, stop_before_pixels=True).file_meta.TransferSyntaxUID)
                for f in study.files}
    assert {sop.JPEG_BASELINE, sop.JPEG_LOSSLESS_SV1, sop.JPEG_2000} <= syntaxes
    movescu(archive, "MW_TUI", "STUDY", f"StudyInstanceUID={study.uid}")
    assert_stored_as_sent(receiver, study.files)
    store = Store(receiver.config.storage)
    stored = {r.transfer_syntax for r in store.index.study_instances(study.uid)}
    store.close()
    assert stored == syntaxes


def test_series_move_with_pending_counts(archive: DemoArchive, receiver: Receiver,
                                         oracle: dict[str, OracleStudy]) -> None:
    archive.set_destination("MW_TUI", "127.0.0.1", receiver.port)
    study = study_by_accession(oracle, "A24031201")
    series = max(study.series.values(), key=lambda s: len(s.files))
    n = len(series.files)
    assert n >= 3
    ae = AE("MOVETEST")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
    assoc = ae.associate("127.0.0.1", archive.port, ae_title=archive.ae_title)
    assert assoc.is_established
    query = Dataset()
    query.QueryRetrieveLevel = "SERIES"
    query.StudyInstanceUID = study.uid
    query.SeriesInstanceUID = series.uid
    rsps = [s for s, _ in assoc.send_c_move(query, "MW_TUI",
                                            StudyRootQueryRetrieveInformationModelMove)]
    assoc.release()
    pending = [r for r in rsps if r.Status == status.PENDING]
    assert [int(r.NumberOfRemainingSuboperations) for r in pending] == list(range(n - 1, -1, -1))
    assert [int(r.NumberOfCompletedSuboperations) for r in pending] == list(range(1, n + 1))
    assert all(r.NumberOfFailedSuboperations == 0 and r.NumberOfWarningSuboperations == 0
               for r in pending)
    final = rsps[-1]
    assert final.Status == status.SUCCESS and final.NumberOfCompletedSuboperations == n
    assert_stored_as_sent(receiver, series.files)


def test_unknown_move_destination_is_a801(archive: DemoArchive,
                                          oracle: dict[str, OracleStudy]) -> None:
    archive.events.clear()  # type: ignore[attr-defined]
    study = study_by_accession(oracle, "B23112003")
    out = movescu(archive, "NOBODY", "STUDY", f"StudyInstanceUID={study.uid}", check=False)
    assert "MoveDestinationUnknown" in out
    ae = AE("MOVETEST")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
    assoc = ae.associate("127.0.0.1", archive.port, ae_title=archive.ae_title)
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = study.uid
    statuses = [int(s.Status) for s, _ in assoc.send_c_move(
        query, "NOBODY", StudyRootQueryRetrieveInformationModelMove)]
    assoc.release()
    assert statuses == [status.MOVE_DESTINATION_UNKNOWN]
    refused = [e for e in archive.events if isinstance(e, RequestRefused)]  # type: ignore[attr-defined]
    assert refused and refused[-1].status == status.MOVE_DESTINATION_UNKNOWN
    assert "NOBODY" in refused[-1].reason


def test_move_without_the_unique_key_is_refused(archive: DemoArchive,
                                                receiver: Receiver) -> None:
    archive.set_destination("MW_TUI", "127.0.0.1", receiver.port)
    ae = AE("MOVETEST")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
    assoc = ae.associate("127.0.0.1", archive.port, ae_title=archive.ae_title)
    query = Dataset()
    query.QueryRetrieveLevel = "SERIES"
    query.StudyInstanceUID = ""
    query.SeriesInstanceUID = ""
    statuses = [int(s.Status) for s, _ in assoc.send_c_move(
        query, "MW_TUI", StudyRootQueryRetrieveInformationModelMove)]
    assoc.release()
    assert statuses == [status.IDENTIFIER_MISMATCH]


def test_getscu_retrieves_a_series(archive: DemoArchive, oracle: dict[str, OracleStudy],
                                   tmp_path: Path) -> None:
    study = study_by_accession(oracle, "B23112003")
    series = next(s for s in study.series.values() if s.modality == "MR")
    dcmtk("getscu", "-S", "-aec", archive.ae_title, "-od", str(tmp_path), "-k",
          "QueryRetrieveLevel=SERIES", "-k", f"StudyInstanceUID={study.uid}", "-k",
          f"SeriesInstanceUID={series.uid}", "127.0.0.1", str(archive.port))
    got = {sop_uid(p): p for p in tmp_path.iterdir()}
    wanted = {sop_uid(f): f for f in series.files}
    assert set(got) == set(wanted)
    for uid, source in wanted.items():
        assert dataset_bytes(got[uid]) == dataset_bytes(source)


def test_get_decompresses_for_a_receiver_that_takes_only_uncompressed(
        archive: DemoArchive, oracle: dict[str, OracleStudy], tmp_path: Path) -> None:
    study = study_by_name(oracle, "Lestrade^G")
    source = next(f for f in study.files if f.name == "SC_rgb_jpeg_gdcm.dcm")  # JPEG lossless
    original = pydicom.dcmread(source)
    assert original.file_meta.TransferSyntaxUID == sop.JPEG_LOSSLESS_SV1
    dcmtk("getscu", "-S", "-aec", archive.ae_title, "-od", str(tmp_path), "-k",
          "QueryRetrieveLevel=IMAGE", "-k", f"StudyInstanceUID={study.uid}", "-k",
          f"SeriesInstanceUID={original.SeriesInstanceUID}", "-k",
          f"SOPInstanceUID={original.SOPInstanceUID}", "127.0.0.1", str(archive.port))
    (received,) = [pydicom.dcmread(p) for p in tmp_path.iterdir()]
    assert not received.file_meta.TransferSyntaxUID.is_compressed
    assert received.SOPInstanceUID == original.SOPInstanceUID
    assert (received.pixel_array == original.pixel_array).all()  # lossless: same pixels


def test_move_cancel(demo_data: Path, receiver: Receiver,
                     oracle: dict[str, OracleStudy]) -> None:
    started = threading.Event()
    events: list[object] = []

    def on_event(event: object) -> None:
        events.append(event)
        if isinstance(event, RetrieveStarted):
            started.set()
            server = archive._server
            assert server is not None
            wait_until(lambda: any(a.dimse.cancel_req for a in server.active_associations),
                       10, "the C-CANCEL to reach the archive")

    study = study_by_accession(oracle, "B23112003")
    with DemoArchive(demo_data, samples_profile=Profile.TINY, on_event=on_event,
                     destinations={"MW_TUI": ("127.0.0.1", receiver.port)}) as archive:
        ae = AE("MOVETEST")
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
        assoc = ae.associate("127.0.0.1", archive.port, ae_title=archive.ae_title)
        query = Dataset()
        query.QueryRetrieveLevel = "STUDY"
        query.StudyInstanceUID = study.uid
        responses = assoc.send_c_move(query, "MW_TUI",
                                      StudyRootQueryRetrieveInformationModelMove, msg_id=3)
        assert started.wait(10)
        assoc.send_c_cancel(3, query_model=StudyRootQueryRetrieveInformationModelMove)
        rsps = [s for s, _ in responses]
        assoc.release()
    assert int(rsps[-1].Status) == status.CANCEL
    assert int(rsps[-1].NumberOfRemainingSuboperations) == len(study.files)
    ended = [e for e in events if isinstance(e, RetrieveEnded)]
    assert ended and ended[-1].cancelled and ended[-1].sent == 0
    store = Store(receiver.config.storage)
    assert store.index.study(study.uid) is None  # nothing half-sent
    store.close()


def test_with_demo_archive_makes_move_to_the_station_work(
        archive: DemoArchive, receiver: Receiver, oracle: dict[str, OracleStudy]) -> None:
    archive.remove_destination("MW_TUI")
    config: Config = receiver.config
    configured = with_demo_archive(config, archive, station_port=receiver.port)
    entry = configured.archive("demo")
    assert (entry.ae_title, entry.host, entry.port, entry.retrieve) == (
        archive.ae_title, "127.0.0.1", archive.port, "move")
    assert configured.archives[:-1] == config.archives
    assert archive.destinations()[config.station.ae_title] == ("127.0.0.1", receiver.port)
    again = with_demo_archive(configured, archive, station_port=receiver.port)
    assert [a.name for a in again.archives] == ["demo", "demo-2"]
    study = study_by_accession(oracle, "C25011402")  # US + PDF, ISO_IR 100
    movescu(archive, config.station.ae_title, "STUDY", f"StudyInstanceUID={study.uid}")
    assert_stored_as_sent(receiver, study.files)


@pytest.mark.parametrize("level", ["STUDY", "SERIES"])
def test_get_study_and_series_with_pynetdicom(archive: DemoArchive,
                                              oracle: dict[str, OracleStudy],
                                              level: str) -> None:
    from pynetdicom import build_role, evt
    from pynetdicom.sop_class import (  # type: ignore[attr-defined]
        StudyRootQueryRetrieveInformationModelGet,
    )

    study = study_by_accession(oracle, "A24031201")  # CT + SR
    files = study.files if level == "STUDY" else next(iter(study.series.values())).files
    received: dict[str, bytes] = {}

    def on_store(event: evt.Event) -> int:
        request: Any = event.request
        received[str(request.AffectedSOPInstanceUID)] = request.DataSet.getvalue()
        return status.SUCCESS

    ae = AE("GETTEST")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    classes = sorted({str(pydicom.dcmread(f, stop_before_pixels=True).SOPClassUID)
                      for f in files})
    for uid in classes:
        ae.add_requested_context(uid, [sop.EXPLICIT_VR_LE])
    assoc = ae.associate("127.0.0.1", archive.port, ae_title=archive.ae_title,
                         ext_neg=[build_role(uid, scp_role=True) for uid in classes],
                         evt_handlers=[(evt.EVT_C_STORE, on_store)])
    query = Dataset()
    query.QueryRetrieveLevel = level
    query.StudyInstanceUID = study.uid
    if level == "SERIES":
        query.SeriesInstanceUID = next(iter(study.series))
    rsps = [s for s, _ in assoc.send_c_get(query, StudyRootQueryRetrieveInformationModelGet)]
    assoc.release()
    assert rsps[-1].Status == status.SUCCESS
    assert int(rsps[-1].NumberOfCompletedSuboperations) == len(files)
    assert set(received) == {sop_uid(f) for f in files}
    for f in files:
        assert received[sop_uid(f)] == dataset_bytes(f)
