"""C-MOVE and C-GET from a real Orthanc (and dcmtk's dcmqrscp) into the station's store."""

from __future__ import annotations

import dataclasses
import io
import os
import subprocess
import threading
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.filereader import _read_file_meta_info, read_preamble

from mw_tui import config as cfg
from mw_tui.dicom.retrieve import (
    MAX_CONTEXTS,
    RetrieveProgress,
    RetrieveState,
    SeriesRef,
    retrieve,
    storage_proposals,
)
from mw_tui.dicom.scp import Receiver
from mw_tui.standard import sop
from mw_tui.store import Store, sync
from mw_tui.store.check import check
from tests.dicom import qr_data
from tests.peers import Orthanc, dcmtk, free_port, need, port_open, wait_until

pacs, studies = qr_data.pacs, qr_data.studies  # the shared module fixtures


def _config(tmp_path: Path, pacs: Orthanc, how: str) -> cfg.Config:
    return qr_data.config_with(tmp_path, qr_data.archive_of(pacs, "pacs", how))


def _register(pacs: Orthanc, config: cfg.Config) -> None:
    """Make this test's station the archive's one known destination (a C-MOVE needs it)."""
    pacs.add_modality("station", config.station.ae_title, "127.0.0.1", config.station.port)


def _dataset_bytes(raw: bytes) -> tuple[str, bytes]:
    fp = io.BytesIO(raw)
    read_preamble(fp, False)
    meta = _read_file_meta_info(fp)
    return str(meta.MediaStorageSOPInstanceUID), raw[fp.tell():]


def _archive_files(o: Orthanc, study_uid: str) -> dict[str, bytes]:
    """SOP Instance UID -> the data set bytes the archive keeps, for one study."""
    found = o.request("POST", "/tools/lookup", study_uid.encode(), "text/plain")
    study_id = next(r["ID"] for r in found if r["Type"] == "Study")
    out = {}
    for inst in o.get(f"/studies/{study_id}/instances"):
        import urllib.request

        with urllib.request.urlopen(f"{o.url}/instances/{inst['ID']}/file", timeout=30) as rsp:
            uid, data = _dataset_bytes(rsp.read())
        out[uid] = data
    return out


def _stored(store: Store, study_uid: str) -> dict[str, bytes]:
    out = {}
    for row in store.index.study_instances(study_uid):
        uid, data = _dataset_bytes((store.root / row.path).read_bytes())
        out[uid] = data
    return out


def test_c_move_puts_every_instance_of_a_multi_series_study_in_the_store(
        pacs: Orthanc, tmp_path: Path, studies: dict[str, qr_data.Study]) -> None:
    config = _config(tmp_path, pacs, "move")
    _register(pacs, config)
    study = studies["doe_ct"]
    progress: list[RetrieveProgress] = []
    with Receiver(config):
        result = retrieve(config, "pacs", [study.uid], progress=progress.append)
    assert result.ok, result.message
    (item,) = result.items
    assert item.completed == item.expected == item.arrived == len(study.datasets) == 7
    store = Store(config.storage)
    assert _stored(store, study.uid) == _archive_files(pacs, study.uid)
    assert [s.modality for s in store.index.series(study.uid)] == ["CT", "CT", "SR", "DOC"]
    assert progress and progress[-1].completed == 7 and progress[-1].remaining == 0
    assert [p.done for p in progress] == sorted(p.done for p in progress)
    assert check(store).ok
    assert store.index.unsynced() == []  # the retrieve ended with them on disk


def test_c_get_puts_every_instance_in_the_store_byte_for_byte(
        pacs: Orthanc, tmp_path: Path, studies: dict[str, qr_data.Study]) -> None:
    config = _config(tmp_path, pacs, "get")  # no receiver: images come on the association
    wanted = [studies["doe_ct"], studies["odegard_ct"]]
    progress: list[RetrieveProgress] = []
    result = retrieve(config, "pacs", [s.uid for s in wanted], progress=progress.append)
    assert result.ok, result.message
    assert result.method == "get"
    store = Store(config.storage)
    for study, item in zip(wanted, result.items, strict=True):
        assert item.arrived == len(study.datasets) == item.completed
        assert _stored(store, study.uid) == _archive_files(pacs, study.uid)
    assert {p.study_index for p in progress} == {1, 2}
    rows = {r.study_uid: r for r in store.index.studies()}
    assert rows[studies["odegard_ct"].uid].patient_name == "Ødegård^Åse"
    assert rows[studies["doe_ct"].uid].sources == ("ORTHANC",)
    assert check(store).ok
    assert store.index.unsynced() == []


@pytest.mark.parametrize("how", ["move", "get"])
def test_retrieved_images_are_acknowledged_unsynced_then_made_durable_at_once(
        how: str, pacs: Orthanc, tmp_path: Path, studies: dict[str, qr_data.Study],
        monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config(tmp_path, pacs, how)
    _register(pacs, config)
    study = studies["doe_ct"]
    with Receiver(config):
        result = retrieve(config, "pacs", [study.uid], durable=False)
    assert result.ok, result.message
    store = Store(config.storage)
    marked = {uid: boot for uid, _, boot in store.index.unsynced()}
    assert marked == {uid: sync.boot_id() for uid in _stored(store, study.uid)}
    assert len(marked) == len(study.datasets)
    synced: list[Path] = []
    real = sync.sync_filesystem
    monkeypatch.setattr(sync, "sync_filesystem", lambda p: (synced.append(p), real(p)))
    assert store.make_durable() == len(study.datasets)
    assert synced == [store.root] and store.index.unsynced() == []
    assert _stored(store, study.uid) == _archive_files(pacs, study.uid)
    assert check(store).ok


@pytest.mark.parametrize("how", ["move", "get"])
def test_series_level_retrieve_brings_only_those_series(
        how: str, pacs: Orthanc, tmp_path: Path, studies: dict[str, qr_data.Study]) -> None:
    config = _config(tmp_path, pacs, how)
    _register(pacs, config)
    study = studies["smith_big"]
    second = study.series_uids[1]
    with Receiver(config):
        result = retrieve(config, "pacs", [SeriesRef(study.uid, second)])
    assert result.ok, result.message
    store = Store(config.storage)
    assert [s.series_uid for s in store.index.series(study.uid)] == [second]
    assert result.items[0].arrived == 16 == result.items[0].completed


def test_an_archive_that_does_not_know_the_station_says_what_to_register(
        pacs: Orthanc, tmp_path: Path, studies: dict[str, qr_data.Study]) -> None:
    # Orthanc 1.10 answers 0xC000 (not 0xA801) for an unknown destination; the station
    # checks that the archive holds the study and explains what is most likely wrong.
    config = _config(tmp_path, pacs, "move")
    config = dataclasses.replace(config, station=dataclasses.replace(
        config.station, ae_title="UNKNOWN_TO_PACS"))
    with Receiver(config):
        result = retrieve(config, "pacs", [studies["jane_mr"].uid])
    assert result.state is RetrieveState.FAILED
    text = result.message
    assert "does not know this station" in text
    assert ("AE title UNKNOWN_TO_PACS, IP address 127.0.0.1, port "
            f"{config.station.port}") in text
    assert 'retrieve = "get"' in text


class Dcmqrscp:
    """dcmtk's own Query/Retrieve SCP: answers 0xA801 for a destination it does not know."""

    def __init__(self, folder: Path, known: cfg.Config | None = None) -> None:
        need("dcmqrscp")
        db = folder / "db"
        db.mkdir(parents=True)
        self.cfg = folder / "dcmqrscp.cfg"
        hosts = ""
        if known is not None:  # the station as a known move destination
            s = known.station
            hosts = f"station = ({s.ae_title}, 127.0.0.1, {s.port})\n"
        log = folder / "dcmqrscp.log"
        for _attempt in range(3):  # a free port can be taken before dcmqrscp binds it
            self.port = free_port()
            self.cfg.write_text(
                f"NetworkTCPPort = {self.port}\nMaxPDUSize = 16384\nMaxAssociations = 4\n"
                f"HostTable BEGIN\n{hosts}HostTable END\nVendorTable BEGIN\nVendorTable END\n"
                f"AETable BEGIN\nQRSCP {db} RW (20, 64mb) ANY\nAETable END\n")
            with log.open("wb") as out:
                self.proc = subprocess.Popen(["dcmqrscp", "-c", str(self.cfg), str(self.port)],
                                             stdout=out, stderr=subprocess.STDOUT,
                                             env={**os.environ, "TCP_NODELAY": "1"})
            wait_until(lambda: port_open(self.port) or self.proc.poll() is not None, 20,
                       "dcmqrscp to listen")
            if self.proc.poll() is None:
                return
        raise AssertionError(f"dcmqrscp did not start: {log.read_text(errors='replace')}")

    def store(self, tmp: Path, *datasets: Dataset) -> None:
        files = []
        for i, ds in enumerate(datasets):
            files.append(tmp / f"{i}.dcm")
            files[-1].write_bytes(qr_data.part10(ds))
        dcmtk("storescu", "-aec", "QRSCP", "127.0.0.1", str(self.port), *map(str, files))

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


def test_move_destination_unknown_0xA801_gives_the_instructive_message(
        tmp_path: Path, studies: dict[str, qr_data.Study]) -> None:
    qr = Dcmqrscp(tmp_path / "qrscp")
    try:
        study = studies["muller_us"]
        qr.store(tmp_path, *study.datasets)
        archive = cfg.Archive(name="dcmqr", ae_title="QRSCP", host="127.0.0.1", port=qr.port)
        config = qr_data.config_with(tmp_path, archive)
        result = retrieve(config, "dcmqr", [study.uid])
        assert result.state is RetrieveState.FAILED
        assert result.message.startswith("The archive dcmqr (QRSCP at 127.0.0.1:"
                                          f"{qr.port}) does not know this station")
        assert (f"AE title MW_TUI, IP address 127.0.0.1, port {config.station.port}"
                in result.message)
    finally:
        qr.stop()


@pytest.mark.parametrize("how", ["get", "move"])
def test_a_cancelled_retrieve_leaves_the_store_consistent(
        how: str, pacs: Orthanc, tmp_path: Path, studies: dict[str, qr_data.Study]) -> None:
    config = _config(tmp_path, pacs, how)
    _register(pacs, config)
    study = studies["smith_big"]  # 40 images
    cancel = threading.Event()

    def progress(p: RetrieveProgress) -> None:
        if p.completed >= 3:
            cancel.set()

    with Receiver(config):
        result = retrieve(config, "pacs", [study.uid, studies["jane_mr"].uid],
                          progress=progress, cancel=cancel)
        assert result.state is RetrieveState.CANCELLED
        first, second = result.items
        assert first.state is RetrieveState.CANCELLED
        assert 3 <= first.arrived < 40
        assert f"{first.arrived} of 40 images" in first.message
        assert second.state is RetrieveState.CANCELLED and second.arrived == 0
        store = Store(config.storage)
        report = check(store)
        assert report.ok, report.lines()
        assert store.index.study(study.uid).instances == first.arrived  # type: ignore[union-attr]
        again = retrieve(config, "pacs", [study.uid])  # and the rest can still be fetched
    assert again.ok and again.items[0].arrived == 40
    assert check(Store(config.storage)).ok


def test_a_study_the_archive_does_not_hold(pacs: Orthanc, tmp_path: Path) -> None:
    for how in ("move", "get"):
        config = _config(tmp_path / how, pacs, how)
        result = retrieve(config, "pacs", ["1.2.3.4.5.6.7"])
        assert result.state is RetrieveState.FAILED
        assert "has no study 1.2.3.4.5.6.7" in result.message


def test_a_dead_archive(tmp_path: Path) -> None:
    port = free_port()
    config = qr_data.config_with(tmp_path, cfg.Archive(name="dead", ae_title="DEAD",
                                                       host="127.0.0.1", port=port))
    result = retrieve(config, "dead", ["1.2.3"])
    assert result.state is RetrieveState.FAILED
    assert result.message == (f"dead (DEAD at 127.0.0.1:{port}) refused the connection: "
                              f"nothing listens on port {port} there. Check that the archive "
                              "is running and that host and port in the configuration are "
                              "right.")


def test_c_get_contexts_stay_inside_the_limit(tmp_path: Path) -> None:
    config = qr_data.config_with(tmp_path)
    proposals = storage_proposals(config)
    assert len(proposals) + 2 <= MAX_CONTEXTS  # + Get and Find
    assert {p.abstract for p in proposals} == set(sop.STORAGE_SOP_CLASSES)
    ct = [p.transfer_syntaxes for p in proposals if p.abstract == "1.2.840.10008.5.1.4.1.1.2"]
    assert ct[0] == (sop.EXPLICIT_VR_LE, sop.IMPLICIT_VR_LE)
    assert {t for (t,) in ct[1:]} == {sop.JPEG_BASELINE, sop.JPEG_EXTENDED,
                                      sop.JPEG_LOSSLESS_SV1, sop.JPEG_2000_LOSSLESS,
                                      sop.JPEG_2000}
    extra = dataclasses.replace(config, dicom=dataclasses.replace(
        config.dicom, extra_sop_classes=[f"1.2.3.{i}" for i in range(30)],
        extra_transfer_syntaxes=["1.2.840.10008.1.2.4.80"]))
    many = storage_proposals(extra)
    assert len(many) + 2 == MAX_CONTEXTS
    assert {p.abstract for p in many} >= set(sop.STORAGE_SOP_CLASSES) | {"1.2.3.29"}


def test_images_arriving_during_a_move_keep_it_alive_and_show_progress(tmp_path: Path) -> None:
    # some archives send no pending C-MOVE responses: the store filling up is the sign of
    # life (and the progress) then
    from mw_tui.dicom.retrieve import _Run, _Watch

    archive = cfg.Archive(name="quiet", ae_title="QUIET", host="127.0.0.1", port=free_port())
    config = qr_data.config_with(tmp_path, archive)
    store = Store(config.storage)
    progress: list[RetrieveProgress] = []
    run = _Run(config, archive, store, progress.append, None)
    assoc = run.association()
    study = qr_data.generate()["muller_cr"]
    run.watching = _Watch(study.uid, (), 1, 1, before=0, seen=0)
    run.idle()
    assert progress == []  # nothing arrived yet
    for ds in study.datasets:
        sop_uid, data = _dataset_bytes(qr_data.part10(ds))
        store.store_bytes(str(ds.SOPClassUID), sop_uid, sop.EXPLICIT_VR_LE, data, "QUIET")
    touched = assoc.link._last_activity
    run.watching.checked = 0.0
    run.idle()
    assert progress == [RetrieveProgress("quiet", study.uid, 1, 1, None, 2, 0, 0)]
    assert assoc.link._last_activity > touched
    run.watching.checked, run.watching.pending_seen = 0.0, True
    run.idle()
    assert len(progress) == 1  # nothing new arrived, and the archive's own counts win


def _study_with_a_ko() -> tuple[str, list[Dataset]]:
    """Two CR images and a Key Object Selection document, which the station does not take."""
    from mw_tui.demo import synth

    study = synth.StudyInfo(description="with a KO")
    datasets = [synth.image(study, "CR", None, 1, i, 32, 32) for i in (1, 2)]
    ko = synth.image(study, "CR", None, 2, 1, 32, 32)
    ko.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.59"
    return study.study_uid, [*datasets, ko]


@pytest.mark.parametrize("how", ["get", "move"])
def test_images_the_station_cannot_take_make_a_partial_retrieve(how: str,
                                                                 tmp_path: Path) -> None:
    # dcmqrscp sends what it can: 2 of 3 images arrive, and the station says so
    config = qr_data.config_with(tmp_path)
    qr = Dcmqrscp(tmp_path / "qrscp", known=config)
    try:
        study_uid, datasets = _study_with_a_ko()
        qr.store(tmp_path, *datasets)
        archive = cfg.Archive(name="dcmqr", ae_title="QRSCP", host="127.0.0.1", port=qr.port,
                              retrieve=how)
        config = dataclasses.replace(config, archives=(archive,))
        with Receiver(config):
            result = retrieve(config, "dcmqr", [study_uid])
    finally:
        qr.stop()
    assert result.state is RetrieveState.PARTIAL
    (item,) = result.items
    assert (item.arrived, item.expected, item.completed, item.failed) == (2, 3, 2, 1)
    assert result.message == (f"Only 2 of 3 images of study {study_uid} arrived from "
                              f"dcmqr (QRSCP at 127.0.0.1:{qr.port}); the archive "
                              "reported 1 it could not send. Retrieve it again; if images "
                              "keep missing, this station's log (an image it could not "
                              "write) or the archive's log says why.")
    assert check(Store(config.storage)).ok


def test_an_archive_that_sends_nothing_of_a_study_says_why(pacs: Orthanc,
                                                           tmp_path: Path) -> None:
    # Orthanc 1.10 gives up a C-GET at the first image it cannot send
    study_uid, datasets = _study_with_a_ko()
    for ds in datasets:
        pacs.upload_dataset_bytes(qr_data.part10(ds))
    config = _config(tmp_path, pacs, "get")
    result = retrieve(config, "pacs", [study_uid])
    assert result.state is RetrieveState.FAILED
    assert result.message.startswith(f"pacs (ORTHANC at 127.0.0.1:{pacs.dicom_port}) sent "
                                     f"none of the images of study {study_uid}: it reported")
    assert "images this station does not accept" in result.message
    assert check(Store(config.storage)).ok


def test_images_acknowledged_but_not_written_make_a_partial_retrieve(
        pacs: Orthanc, tmp_path: Path, studies: dict[str, qr_data.Study]) -> None:
    """The receiver acknowledges our own retrieve's images before writing them: one that
    cannot be written then is missing, and the final count says so."""
    from mw_tui.store import layout

    config = _config(tmp_path, pacs, "move")
    _register(pacs, config)
    study = studies["doe_ct"]
    first = study.datasets[0]
    blocked = [d for d in study.datasets if d.SeriesInstanceUID == first.SeriesInstanceUID]
    folder = layout.instance_path(config.storage, study.uid, str(first.SeriesInstanceUID),
                                  str(first.SOPInstanceUID)).parent
    folder.parent.mkdir(parents=True)
    folder.write_bytes(b"a file where the series folder goes")
    with Receiver(config):
        result = retrieve(config, "pacs", [study.uid])
    (item,) = result.items
    assert item.state is RetrieveState.PARTIAL and not result.ok
    assert item.completed == len(study.datasets)  # the archive sent them all
    assert item.arrived == len(study.datasets) - len(blocked)
    assert f"Only {item.arrived} of {len(study.datasets)} images" in result.message
    assert "this station's log" in result.message
    folder.unlink()
    assert check(Store(config.storage)).ok
