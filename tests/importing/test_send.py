"""Importing into a real Orthanc: every instance arrives under the local patient, the
outside ID kept, pixel data byte for byte, every instance checked on the archive; C-STORE on
several associations and STOW-RS; resuming without sending twice; conversion for an
archive that does not take a transfer syntax."""

from __future__ import annotations

import dataclasses
import io
import threading
import urllib.request
from pathlib import Path

import pydicom
import pytest

from mw_tui.demo import synth
from mw_tui.importing import (
    Confirmed,
    ImportPlan,
    LocalPatient,
    SendProgress,
    count_on_archive,
    read_medium,
    send,
)
from mw_tui.standard import sop
from tests.importing.conftest import (
    OUTSIDE,
    OUTSIDE_ISSUER,
    Disc,
    config_for,
    ct_files,
    outside_ct,
    send_and_count,
    write_disc,
)
from tests.peers import Orthanc, RecordingProxy

LOCAL = LocalPatient("LOC-0815", "OUR_HOSPITAL", "Doe^John", "19600214", "M")


def doe_study(disc: Disc) -> str:
    medium = read_medium(disc.iso)
    return next(s.study_uid for p in medium.patients if p.patient_id == OUTSIDE.patient_id
                for s in p.studies)


def stored(o: Orthanc) -> dict[str, pydicom.Dataset]:
    """SOP Instance UID -> the instance as the archive keeps it."""
    out = {}
    for iid in o.get("/instances"):
        req = o.url + f"/instances/{iid}/file"
        with urllib.request.urlopen(req, timeout=30) as rsp:
            ds = pydicom.dcmread(io.BytesIO(rsp.read()))
        out[str(ds.SOPInstanceUID)] = ds
    return out


def test_import_a_disc_into_orthanc(ct_disc: Disc, empty_pacs: Orthanc, tmp_path: Path) -> None:
    config = config_for(tmp_path, empty_pacs, associations=3)
    medium = read_medium(ct_disc.iso, config)
    study = doe_study(ct_disc)
    plan = ImportPlan.make(config, LOCAL, study_uids=(study,))
    assert plan.destination == "pacs"
    confirmed: list[Confirmed] = []
    progress: list[SendProgress] = []
    result = send_and_count(config, medium, plan, on_confirmed=confirmed.append,
                        progress=progress.append)
    assert result.ok, result.message
    assert result.sent.sent == 12 and len(confirmed) == 12
    assert [p.done for p in progress] == list(range(1, 13))
    size = sum(x.instance.size for x in medium.located() if x.study.study_uid == study)
    assert progress[-1].bytes_done == progress[-1].bytes_total == size
    assert result.count is not None and result.count.studies[0].sent == 12
    assert not result.count.missing
    assert empty_pacs.instance_count() == 12
    originals = {str(ds.SOPInstanceUID): ds for ds in
                 (pydicom.dcmread(p) for p in ct_disc.files.values()
                  if p.parts[-2] == "DICOM")}
    for uid, ds in stored(empty_pacs).items():
        assert ds.PatientID == "LOC-0815" and ds.IssuerOfPatientID == "OUR_HOSPITAL"
        (other,) = ds.OtherPatientIDsSequence
        assert (other.PatientID, other.IssuerOfPatientID) == (OUTSIDE.patient_id,
                                                              OUTSIDE_ISSUER)
        assert ds.PixelData == originals[uid].PixelData  # byte for byte
        assert ds.StudyInstanceUID == study  # the outside UIDs are kept by default
    # a second import of the same disc replaces: the count stays the same
    again = send_and_count(config, medium, plan)
    assert again.ok, again.message
    assert empty_pacs.instance_count() == 12


def test_every_transfer_syntax_of_the_disc_arrives(ct_disc: Disc, empty_pacs: Orthanc,
                                                    tmp_path: Path) -> None:
    config = config_for(tmp_path, empty_pacs)
    medium = read_medium(ct_disc.iso, config)
    result = send_and_count(config, medium, ImportPlan.make(config, LOCAL))
    assert result.ok, result.message
    assert empty_pacs.instance_count() == medium.instance_count
    assert result.sent.converted == 0  # Orthanc takes each in its own transfer syntax
    kept = stored(empty_pacs)
    by_uid = {str(pydicom.dcmread(p, force=True).SOPInstanceUID): p
              for p in ct_disc.files.values()}
    for x in medium.located():
        ds = kept[x.instance.sop_instance_uid]
        assert ds.PatientID == "LOC-0815"
        original = pydicom.dcmread(by_uid[x.instance.sop_instance_uid], force=True)
        if "PixelData" in original:
            assert ds.PixelData == original.PixelData, x.instance.path


def test_stow_rs_to_a_cloud_target(ct_disc: Disc, empty_pacs: Orthanc, tmp_path: Path) -> None:
    config = config_for(tmp_path, empty_pacs)
    medium = read_medium(ct_disc.iso)
    plan = ImportPlan.make(config, LOCAL, destination="cloud:web",
                           study_uids=(doe_study(ct_disc),))
    result = send_and_count(config, medium, plan)
    assert result.ok, result.message
    assert result.count is not None and result.count.destination == "cloud:web"
    assert "holds all 12 instances" in result.message
    assert {ds.PatientID for ds in stored(empty_pacs).values()} == {"LOC-0815"}


def test_after_a_crash_what_the_archive_confirmed_is_not_sent_again(
        tmp_path: Path, empty_pacs: Orthanc) -> None:
    disc = write_disc(tmp_path, ct_files(outside_ct(30)))
    proxy = RecordingProxy(empty_pacs.dicom_port)
    try:
        config = config_for(tmp_path, empty_pacs, associations=2)
        relayed = dataclasses.replace(config.archives[0], port=proxy.port)
        config = dataclasses.replace(config, archives=(relayed,))  # through the relay
        medium = read_medium(disc.iso)
        plan = ImportPlan.make(config, LOCAL)
        journal: list[str] = []  # what a job writes down as the archive confirms
        stop = threading.Event()

        def confirmed(c: Confirmed) -> None:
            journal.append(c.sop_instance_uid)
            if len(journal) == 10:
                stop.set()  # the "crash": nothing more is started

        first = send(config, medium, plan, cancel=stop.is_set, on_confirmed=confirmed)
        assert first.cancelled and not first.ok
        assert 10 <= first.sent < 30 and len(journal) == first.sent
        sent_before = len(proxy.datasets())
        second = send(config, medium, ImportPlan.from_dict(plan.to_dict()),
                      confirmed=journal, on_confirmed=lambda c: journal.append(c.sop_instance_uid))
        assert second.ok, second.message
        assert second.skipped == first.sent and second.sent == 30 - first.sent
        assert len(proxy.datasets()) - sent_before == 30 - first.sent  # none twice
        assert sorted(journal) == sorted(x.instance.sop_instance_uid for x in medium.located())
        count = count_on_archive(config, plan.destination, second.expected)
        assert count.ok, count.message
    finally:
        proxy.close()


def test_new_uids_are_given_and_counted(tmp_path: Path, empty_pacs: Orthanc) -> None:
    disc = write_disc(tmp_path, ct_files(outside_ct(5)))
    config = config_for(tmp_path, empty_pacs, new_uids=True)
    medium = read_medium(disc.iso)
    plan = ImportPlan.make(config, LOCAL)
    assert plan.new_uids
    result = send_and_count(config, medium, plan)
    assert result.ok, result.message
    (study,) = result.sent.expected
    assert study != medium.studies[0].study_uid and study.startswith("2.25.")
    assert empty_pacs.study_uids() == {study}


def test_an_archive_that_does_not_take_the_syntax_gets_it_converted(
        tmp_path: Path, receiver: object, station_config: object) -> None:
    """The station's own receiver takes seven transfer syntaxes, not RLE: the RLE image is
    decoded to Explicit VR Little Endian on the way; the others travel as they are."""
    from mw_tui import config as cfg
    from mw_tui.store import Store
    from tests.peers import PYDICOM_TEST_FILES

    assert isinstance(station_config, cfg.Config)
    files = {"PYD/F0000001": (PYDICOM_TEST_FILES / "SC_rgb_rle.dcm").read_bytes(),
             "PYD/F0000002": (PYDICOM_TEST_FILES / "JPEG2000.dcm").read_bytes()}
    disc = write_disc(tmp_path, files, lenient=True)
    s = station_config.station
    config = cfg.Config(station=s, archives=(cfg.Archive(name="self", ae_title=s.ae_title,
                                                         host="127.0.0.1", port=s.port),))
    medium = read_medium(disc.iso)
    result = send(config, medium, ImportPlan.make(config, LOCAL))
    assert result.ok, result.message
    assert result.converted == 1
    store = Store(Path(s.storage))
    kept = {row.sop_uid: row.transfer_syntax for uid in result.expected
            for row in store.index.study_instances(uid)}
    rle, j2k = (next(x.instance.sop_instance_uid for x in medium.located()
                     if x.instance.path == f) for f in ("PYD/F0000001", "PYD/F0000002"))
    assert kept == {rle: sop.EXPLICIT_VR_LE, j2k: sop.JPEG_2000}
    assert store.index.header(rle).PatientID == "LOC-0815"


def test_an_archive_that_is_down_fails_every_instance_with_its_message(
        tmp_path: Path) -> None:
    from mw_tui import config as cfg
    from tests.peers import free_port

    disc = write_disc(tmp_path, ct_files(outside_ct(3)))
    config = config_for(tmp_path)
    config = cfg.Config(station=config.station, archives=(
        cfg.Archive(name="down", ae_title="DOWN", host="127.0.0.1", port=free_port()),))
    result = send_and_count(config, read_medium(disc.iso), ImportPlan.make(config, LOCAL))
    assert not result.ok and result.count is None
    assert len(result.sent.failures) == 3
    assert "refused the connection" in result.message


@pytest.mark.parametrize("destination", ["pacs", "cloud:web"])
def test_disc_2_of_a_study_the_archive_partly_holds(tmp_path: Path, empty_pacs: Orthanc,
                                                    destination: str) -> None:
    """The archive holds images 1-6 of the study (disc 1, or sent before); disc 2 carries
    images 4-10: the archive then holds 10, more than the 7 sent, and that is right."""
    images = outside_ct(10)
    for ds in images[:6]:
        empty_pacs.upload_dataset_bytes(synth.part10(ds))
    disc = write_disc(tmp_path, ct_files(images[3:]))
    config = config_for(tmp_path, empty_pacs)
    medium = read_medium(disc.iso)
    result = send_and_count(config, medium, ImportPlan.make(config, None, destination=destination))
    assert result.ok, result.message
    assert result.sent.sent == 7 and empty_pacs.instance_count() == 10
    assert f"{destination} holds all 7 instances sent" in result.message


def lose(o: Orthanc, sop_instance_uid: str) -> None:
    """The archive loses one instance (deleted behind the station's back)."""
    (found,) = o.request("POST", "/tools/lookup", sop_instance_uid.encode(), "text/plain")
    o.request("DELETE", f"/instances/{found['ID']}")


@pytest.mark.parametrize("destination", ["pacs", "cloud:web"])
def test_an_instance_the_archive_lost_fails_the_count(tmp_path: Path, empty_pacs: Orthanc,
                                                      destination: str) -> None:
    images = outside_ct(5)
    for ds in images:  # the archive held the study before: the count alone would pass
        empty_pacs.upload_dataset_bytes(synth.part10(ds))
    other = outside_ct(1)[0]  # one more of the study, not on the disc: the study's count
    other.StudyInstanceUID = images[0].StudyInstanceUID
    empty_pacs.upload_dataset_bytes(synth.part10(other))
    disc = write_disc(tmp_path, ct_files(images))
    config = config_for(tmp_path, empty_pacs)
    medium = read_medium(disc.iso)
    result = send(config, medium, ImportPlan.make(config, None, destination=destination))
    assert result.ok, result.message
    lost = images[2].SOPInstanceUID
    lose(empty_pacs, lost)
    assert empty_pacs.instance_count() == 5  # as many as were sent, but not the same ones
    count = count_on_archive(config, destination, result.expected)
    assert not count.ok and not count.errors
    assert count.missing == (lost,)
    assert (f"{destination} does not hold 1 of the 5 instances sent (e.g. {lost} of study "
            f"{images[0].StudyInstanceUID})") in count.message
    assert "import the medium again" in count.message


def test_a_count_for_instances_never_sent_names_them(ct_disc: Disc, empty_pacs: Orthanc,
                                                     tmp_path: Path) -> None:
    config = config_for(tmp_path, empty_pacs)
    medium = read_medium(ct_disc.iso)
    study = doe_study(ct_disc)
    result = send(config, medium, ImportPlan.make(config, LOCAL, study_uids=(study,)))
    assert result.ok
    (sent,) = result.expected.values()
    count = count_on_archive(config, "pacs", {study: (*sent, "1.2.3.999.1"),
                                              "1.2.3.4.5": ("1.2.3.4.5.1", "1.2.3.4.5.2")})
    assert not count.ok
    assert count.missing == ("1.2.3.999.1", "1.2.3.4.5.1", "1.2.3.4.5.2")
    assert ("pacs does not hold 3 of the 15 instances sent (e.g. 1.2.3.999.1 of study "
            f"{study})") in count.message


def test_a_study_not_on_the_medium_is_refused(ct_disc: Disc, empty_pacs: Orthanc,
                                              tmp_path: Path) -> None:
    from mw_tui.importing import PlanError

    config = config_for(tmp_path, empty_pacs)
    plan = ImportPlan.make(config, LOCAL, study_uids=("1.2.3.999",))
    with pytest.raises(PlanError, match="not on this medium"):
        send(config, read_medium(ct_disc.iso), plan)


@pytest.mark.parametrize("destination, message", [
    ("nowhere", "No archive named 'nowhere'"), ("cloud:nothing", "No cloud target named"),
])
def test_unknown_destinations_are_named(tmp_path: Path, empty_pacs: Orthanc,
                                        destination: str, message: str) -> None:
    from mw_tui.importing import PlanError

    config = config_for(tmp_path, empty_pacs)
    with pytest.raises(PlanError, match=message):
        ImportPlan.make(config, LOCAL, destination=destination)
