"""Media Creation Management against a real station: the tests' RIS (a pynetdicom SCU)
asks for media with N-CREATE, starts and cancels requests with N-ACTION and follows them
with N-GET; the station retrieves from a real Orthanc what it lacks and writes ISO files
holding exactly the instances referenced."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pycdlib
import pydicom
import pytest
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from mw_tui import config as cfg
from mw_tui.dicom import mcm_codec, scp
from mw_tui.dicom.instances import InstanceLocation, InstancesLocated
from mw_tui.dicom.mcm import MediaRequest, Reference
from mw_tui.media import profiles
from mw_tui.standard import sop
from mw_tui.station import Station
from mw_tui.station.mcm import MediaRequests
from mw_tui.station.models import Job, JobState
from mw_tui.store import Store
from tests.jobs.conftest import Archive, make_study, station_config
from tests.peers import wait_until
from tests.station.ris import CANCEL, INITIATE, MCM, refused, ris

CT = "1.2.840.10008.5.1.4.1.1.2"
SR = "1.2.840.10008.5.1.4.1.1.88.11"
LABEL = "Für Dr. Müller — Knie links"


def mcm_config(tmp_path: Path, archive: Archive | None = None,
               **mcm: object) -> cfg.Config:
    base = station_config(tmp_path, archive)
    values: dict[str, object] = {"enabled": True, "allowed_callers": ["RIS"],
                                 "target": f"iso:{tmp_path / 'iso'}", "profile": "STD-GEN-CD"}
    values.update(mcm)
    (tmp_path / "iso").mkdir(exist_ok=True)
    return dataclasses.replace(base, mcm=cfg.McmConfig(**values))  # type: ignore[arg-type]


@pytest.fixture
def station(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Station]:
    archive = request.getfixturevalue("archive") if "archive" in request.fixturenames else None
    s = Station(mcm_config(tmp_path, archive), watch_devices=False)
    s.start()
    try:
        yield s
    finally:
        s.stop()


def local_study(tmp_path: Path, pid: str, size: int = 32) -> list[Path]:
    return make_study(tmp_path / pid, f"Kowalski^{pid}", pid, with_report=False, size=size)


def refs_of(files: list[Path]) -> list[tuple[str, str]]:
    out = []
    for f in files:
        ds = pydicom.dcmread(f, stop_before_pixels=True)
        out.append((str(ds.SOPClassUID), str(ds.SOPInstanceUID)))
    return out


def iso_content(folder: Path) -> tuple[set[str], str, str]:
    """(SOP Instance UIDs of the DICOM files, README.TXT, volume id) of the one ISO."""
    (image,) = folder.glob("*.iso")
    iso = pycdlib.PyCdlib()
    iso.open(str(image))
    try:
        uids = set()
        for root, _, files in iso.walk(iso_path="/DICOM"):
            for name in files:
                with iso.open_file_from_iso(iso_path=f"{root}/{name}") as f:
                    uids.add(str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID))
        with iso.open_file_from_iso(iso_path="/README.TXT;1") as f:
            readme = f.read().decode("utf-8")
        volume = iso.pvd.volume_identifier.decode().strip()
    finally:
        iso.close()
    return uids, readme, volume


def test_the_ris_gets_an_iso_of_exactly_the_instances_it_named(
        tmp_path: Path, archive: Archive, station: Station) -> None:
    local = local_study(tmp_path, "P300")
    on_orthanc = [f for f in (tmp_path / "in").glob("P100_*.dcm")]
    wanted = refs_of(local[:2]) + refs_of(sorted(on_orthanc)[:3])
    heard: list[Job] = []
    station.on_job(heard.append)  # the screens hear of jobs the receiver's workers make
    with ris(station.receiver.port, storage=[CT]) as r:
        r.store(local)  # the PACS sent the station one study; the others are on Orthanc
        code, uid = r.create(wanted, LabelText=LABEL, StorageMediaFileSetID="RIS_4711",
                             RequestPriority="HIGH", NumberOfCopies=1,
                             AllowMediaSplitting="NO", SpecificCharacterSet="ISO_IR 192")
        assert code == 0x0000
        code, ds = r.get(uid)
        assert code == 0x0000 and ds.ExecutionStatus == "IDLE"
        assert ds.LabelText == LABEL and len(ds.ReferencedSOPSequence) == len(wanted)
        (job,) = station.job_list()
        assert job.state is JobState.HELD and job.requested_by == "RIS"
        wait_until(lambda: any(j.id == job.id for j in heard), 10, "the job to be heard of")
        assert job.label == LABEL and job.options.request_uid == uid
        assert {s.archive for s in job.studies} == {"", "orthanc"}

        assert r.action(uid, INITIATE).Status == 0x0000
        done = r.wait_for(uid, "DONE", "FAILURE")
        assert done.ExecutionStatus == "DONE", (done.ExecutionStatusInfo, station.job(job.id))
        assert done.ExecutionStatusInfo == "NORMAL"
        assert done.TotalNumberOfPiecesOfMediaCreated == 1
        assert [m.StorageMediaFileSetID for m in done.ReferencedStorageMediaSequence] == [
            "RIS_4711"]
        assert r.action(uid, INITIATE).Status == 0xA510  # initiated already
        assert r.action(uid, CANCEL).Status == 0xC201  # nothing left to cancel
        code, some = r.get(uid, [0x21000020, 0x2200000B])
        # what was asked for, and the character set of the non-ASCII label
        assert code == 0x0000 and set(some.keys()) == {0x21000020, 0x2200000B, 0x00080005}
    uids, readme, volume = iso_content(tmp_path / "iso")
    assert uids == {u for _, u in wanted}
    assert LABEL in readme and volume == "RIS_4711"
    assert station.job(job.id).state is JobState.DONE


def test_requests_cancelled_refused_and_failing(tmp_path: Path, station: Station,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    small = local_study(tmp_path, "P400")
    large = local_study(tmp_path, "P500", size=256)  # 6 x 128 KiB
    unknown = (CT, generate_uid())
    # a "CD" of 700 KiB: the large study needs two of them
    monkeypatch.setitem(profiles.MEDIA, "CD", profiles.Medium("CD", 700 * 1024))
    with ris(station.receiver.port, storage=[CT]) as r:
        r.store(small + large)
        # cancelled before it was initiated: it never starts
        code, cancelled = r.create(refs_of(small))
        assert code == 0x0000 and r.action(cancelled, CANCEL).Status == 0x0000
        ds = r.wait_for(cancelled, "FAILURE")
        assert ds.ExecutionStatusInfo == "CANCELLED"
        assert r.action(cancelled, INITIATE).Status == 0xC201
        # an instance nobody has: the request fails, saying which one
        code, missing = r.create([*refs_of(small[:1]), unknown])
        assert code == 0x0000 and r.get(missing)[1].ExecutionStatus == "IDLE"
        assert r.action(missing, INITIATE).Status == 0x0110
        ds = r.wait_for(missing, "FAILURE")
        assert ds.ExecutionStatusInfo == "NO_INSTANCE"
        assert [(f.ReferencedSOPInstanceUID, f.FailureReason)
                for f in ds.FailedSOPSequence] == [(unknown[1], 0x0112)]
        # two media needed, splitting refused: the standard's status, nothing written
        code, split = r.create(refs_of(large), AllowMediaSplitting="NO")
        assert code == 0x0000 and r.action(split, INITIATE).Status == 0x0000
        ds = r.wait_for(split, "DONE", "FAILURE")
        assert (ds.ExecutionStatus, ds.ExecutionStatusInfo) == ("FAILURE", "SET_OVERSIZED")
        assert ds.TotalNumberOfPiecesOfMediaCreated == 0
        assert not list((tmp_path / "iso").glob("*.iso"))
        # ... and allowed: two media
        code, two = r.create(refs_of(large), AllowMediaSplitting="YES",
                             IncludeNonDICOMObjects="NO")
        assert code == 0x0000 and r.action(two, INITIATE).Status == 0x0000
        ds = r.wait_for(two, "DONE", "FAILURE")
        assert ds.ExecutionStatus == "DONE" and ds.TotalNumberOfPiecesOfMediaCreated == 2
        assert len(list((tmp_path / "iso").glob("*.iso"))) == 2
        # requests the station cannot take
        assert r.create([])[0] == 0x0121  # no instance referenced
        assert r.create(refs_of(small), NumberOfCopies=500)[0] == 0x0106
        assert r.create(refs_of(small), uid=two)[0] == 0xA510  # that request exists
        code, chosen = r.create(refs_of(small), uid=None)  # the station makes the UID
        assert code == 0x0000 and r.get(chosen)[1].ExecutionStatus == "IDLE"
        assert r.get(generate_uid())[0] == 0x0112
        assert r.action(chosen, 7).Status == 0x0123
        assert r.assoc.send_n_delete(MCM, chosen).Status == 0x0211  # not in the service
        assert r.assoc.send_n_get([], CT, chosen, meta_uid=MCM)[0].Status == 0x0118


def test_a_request_for_thousands_of_instances_in_small_pdus(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """N-CREATE and N-GET data sets far larger than the PDUs both sides accept, with the
    receiver's workers spawned (as the kiosk starts them): the factory crosses over."""
    monkeypatch.setattr(scp, "start_method", lambda: "spawn")
    station = Station(mcm_config(tmp_path), watch_devices=False)
    station.start()
    refs = [(CT, generate_uid()) for _ in range(3000)]
    try:
        with ris(station.receiver.port, max_pdu=4096) as r:
            code, uid = r.create(refs, MediaDisposition="Dr. Nowak, Ward 3")
            assert code == 0x0000
            code, ds = r.get(uid)
            assert code == 0x0000 and ds.ExecutionStatus == "IDLE"
            assert [(i.ReferencedSOPClassUID, i.ReferencedSOPInstanceUID)
                    for i in ds.ReferencedSOPSequence] == refs
            assert ds.MediaDisposition == "Dr. Nowak, Ward 3"
    finally:
        station.stop()


def test_a_caller_not_allowed_cannot_ask_for_media(tmp_path: Path, station: Station) -> None:
    assert refused(station.receiver.port, "INTRUDER")
    assert not refused(station.receiver.port, "RIS")


def test_without_mcm_the_service_is_not_offered(tmp_path: Path) -> None:
    s = Station(mcm_config(tmp_path, enabled=False), watch_devices=False)
    s.start()
    try:
        assert refused(s.receiver.port, "RIS")
    finally:
        s.stop()



class Archives:
    """The `locate` of `MediaRequests`: what the archives answer, counting the questions."""

    def __init__(self) -> None:
        self.asked = 0
        self.found: dict[str, InstanceLocation] = {}
        self.errors: tuple[str, ...] = ()

    def __call__(self, config: cfg.Config, uids: object) -> InstancesLocated:
        self.asked += 1
        return InstancesLocated(dict(self.found), self.errors)

    def hold(self, ref: Reference) -> None:
        self.found[ref.sop_instance] = InstanceLocation(
            ref.sop_instance, ref.sop_class, "1.2.3.4", "1.2.3.4.5", "orthanc")


def broken(*args: object, **kwargs: object) -> NoReturn:
    raise OSError("disk I/O error")


@pytest.fixture
def requests(tmp_path: Path) -> Iterator[tuple[MediaRequests, Archives]]:
    """The station's side of Media Creation Management, on archives of the test's making."""
    archives = Archives()
    store = Store(mcm_config(tmp_path).storage)
    try:
        yield MediaRequests(mcm_config(tmp_path), store, locate=archives), archives
    finally:
        store.close()


def test_an_archive_not_reachable_leaves_the_request_to_be_initiated_again(
        requests: tuple[MediaRequests, Archives]) -> None:
    media, archives = requests
    ref = Reference(CT, generate_uid())
    archives.errors = ("orthanc: association rejected",)
    assert media.create(MediaRequest((ref,)), "1.2.3.77", "RIS").ok
    asked = archives.asked
    outcome = media.initiate("1.2.3.77", "RIS")
    assert archives.asked == asked + 1  # asked once by this Initiate
    assert (outcome.status, outcome.job_id) == (0x0213, 0) and "orthanc" in outcome.comment
    state = media.state("1.2.3.77")
    assert state is not None and (state.status.value, state.info.value) == ("IDLE", "NORMAL")
    archives.errors = ()  # the archive is back, and has it
    archives.hold(ref)
    outcome = media.initiate("1.2.3.77", "RIS")
    assert outcome.ok and media.jobs.get(outcome.job_id).state is JobState.QUEUED


def test_a_failure_while_initiating_leaves_the_request_to_be_initiated_again(
        requests: tuple[MediaRequests, Archives], monkeypatch: pytest.MonkeyPatch) -> None:
    media, archives = requests
    ref = Reference(CT, generate_uid())
    archives.hold(ref)
    created = media.create(MediaRequest((ref,)), "1.2.3.78", "RIS")
    assert created.ok and media.jobs.get(created.job_id).state is JobState.HELD
    with monkeypatch.context() as m:
        m.setattr(media.jobs, "transition", broken)
        with pytest.raises(OSError, match="disk I/O error"):
            media.initiate("1.2.3.78", "RIS", priority="HIGH")
    record = media.book.get("1.2.3.78")
    assert record is not None and not record.initiated
    outcome = media.initiate("1.2.3.78", "RIS")
    assert outcome.ok and media.jobs.get(created.job_id).state is JobState.QUEUED


def test_a_failure_while_creating_leaves_neither_request_nor_held_job(
        requests: tuple[MediaRequests, Archives], monkeypatch: pytest.MonkeyPatch) -> None:
    media, archives = requests
    ref = Reference(CT, generate_uid())
    archives.hold(ref)
    with monkeypatch.context() as m:
        m.setattr(media.audit, "record_job", broken)
        with pytest.raises(OSError, match="disk I/O error"):
            media.create(MediaRequest((ref,)), "1.2.3.79", "RIS")
    assert media.book.get("1.2.3.79") is None
    (job,) = media.jobs.list()
    assert job.state is JobState.CANCELLED
    assert media.create(MediaRequest((ref,)), "1.2.3.79", "RIS").ok  # sent again


def n_create(**elements: tuple[str, object]) -> Dataset:
    """An N-CREATE attribute list as the station reads it off the wire (explicit VR)."""
    ds = Dataset()
    for keyword, (vr, value) in elements.items():
        ds.add(DataElement(keyword, vr, value))
    return mcm_codec.read(mcm_codec.encode(ds, sop.EXPLICIT_VR_LE), sop.EXPLICIT_VR_LE)


def item(sop_class: str, sop_instance: str) -> Dataset:
    ds = Dataset()
    ds.ReferencedSOPClassUID = sop_class
    ds.ReferencedSOPInstanceUID = sop_instance
    return ds


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
@pytest.mark.parametrize(("elements", "code", "comment"), [
    ({"ReferencedSOPSequence": ("LO", "1.2.3.4")}, 0x0106,
     "ReferencedSOPSequence is not a sequence"),
    ({"ReferencedSOPSequence": ("UI", ["1.2.3.4", "1.2.3.5"])}, 0x0106,
     "ReferencedSOPSequence is not a sequence"),
    ({"ReferencedSOPSequence": ("SQ", [item(CT, "1.2.03.4")])}, 0x0106,
     "ReferencedSOPInstanceUID is not a UID"),  # a leading zero
    ({"ReferencedSOPSequence": ("SQ", [item("1", "1.2.3.4")])}, 0x0106,
     "ReferencedSOPClassUID is not a UID"),  # one component
])
def test_a_request_with_a_malformed_reference_is_refused_by_name(
        elements: dict[str, tuple[str, object]], code: int, comment: str) -> None:
    with pytest.raises(mcm_codec.Refused) as refused:
        mcm_codec.request_of(n_create(**elements))
    assert (refused.value.status, refused.value.comment) == (code, comment)


def test_a_request_never_goes_identified_to_an_external_target(tmp_path: Path) -> None:
    # `config check` refuses such a configuration; one built in code is refused here too
    base = mcm_config(tmp_path)
    cloud = cfg.CloudTarget(name="research", url="https://research.example/dicomweb",
                            external=True)
    config = dataclasses.replace(base, targets=(cloud,), mcm=dataclasses.replace(
        base.mcm, target="cloud:research"))
    archives = Archives()
    ref = Reference(CT, generate_uid())
    archives.hold(ref)
    store = Store(config.storage)
    try:
        media = MediaRequests(config, store, locate=archives)
        with pytest.raises(ValueError, match="outside the hospital"):
            media.create(MediaRequest((ref,)), "1.2.3.80", "RIS")
        assert [j.state for j in media.jobs.list()] in ([], [JobState.CANCELLED])
        assert media.book.get("1.2.3.80") is None
    finally:
        store.close()


def test_a_receiver_whose_service_failed_to_start_says_so_when_asked(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The requests' database cannot be opened: the workers go on with Storage and
    Verification, and a RIS asking for media is told no, with the log saying why (not
    that the RIS is not allowed: it is)."""
    config = mcm_config(tmp_path)
    cfg_paths = cfg.StoragePaths.of(config)
    cfg_paths.media_requests.mkdir(parents=True)  # a folder where the database goes
    s = Station(config, watch_devices=False)
    s.start()
    try:
        with caplog.at_level("WARNING"):
            assert refused(s.receiver.port, "RIS")
            wait_until(lambda: any("asked for Media Creation Management" in r.getMessage()
                                   for r in caplog.records), 20, "the warning")
        said = [r.getMessage() for r in caplog.records
                if "asked for Media Creation Management" in r.getMessage()]
        assert "could not start" in said[0] and "allowed_callers" not in said[0]
    finally:
        s.stop()
