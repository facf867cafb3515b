"""The job runner with real parts: Orthanc, the receiver, the media builder, the writers."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pycdlib
import pydicom
import pytest

from mw_tui.devices.writers import base, imagecopy, isofile
from mw_tui.jobs.models import JobState, StudyRef
from mw_tui.media import iso
from mw_tui.media.imagefile import ImageFile
from mw_tui.station import Station
from tests.jobs.conftest import Archive, station_config
from tests.peers import dcmtk, free_port, need, wait_until


def finished(station: Station, job_id: int, timeout: float = 90) -> object:
    return wait_until(lambda: station.jobs.get(job_id) if station.jobs.get(job_id).state.finished
                      else None, timeout, f"job {job_id} to finish")


def iso_dicom_files(path: Path) -> list[str]:
    iso = pycdlib.PyCdlib()
    iso.open(str(path))
    names = []
    for root, _, files in iso.walk(iso_path="/"):
        names += [f"{root}/{f}" for f in files]
    iso.close()
    return [n for n in names if n.startswith("/DICOM/")]


def spy_read_backs(monkeypatch: pytest.MonkeyPatch) -> tuple[list[Path], list[Path]]:
    """(images read back while written, files read back by the ISO-file writer)."""
    while_written: list[Path] = []
    after: list[Path] = []
    make = iso.ImageFile

    def read_back(path: Path, data_start: Any, read_back: bool) -> ImageFile:
        if read_back:
            while_written.append(path)
        return make(path, data_start, read_back)

    def file_md5(path: Path, *args: Any, **kwargs: Any) -> str:
        after.append(path)
        return base.file_md5(path, *args, **kwargs)

    monkeypatch.setattr(iso, "ImageFile", read_back)
    monkeypatch.setattr(imagecopy, "file_md5", file_md5)  # where its copies are read back
    return while_written, after


def test_orthanc_to_a_verified_iso(tmp_path: Path, archive: Archive,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    out.mkdir()
    while_written, after = spy_read_backs(monkeypatch)
    station = Station(station_config(tmp_path, archive), watch_devices=False)
    station.start()
    try:
        uids = list(archive.studies)
        job = station.create_job([StudyRef(u, "orthanc", n) for u, n in archive.studies.items()],
                                 f"iso:{out}", "STD-GEN-CD", user="tech1")
        job = finished(station, job.id)
        assert job.state is JobState.DONE, job.error
        (image,) = out.glob("*.iso")
        assert hashlib.md5(image.read_bytes()).hexdigest() == job.volumes[0].md5
        assert len(iso_dicom_files(image)) == sum(archive.studies.values())
        # read back from the disk while it was written, and not read again once linked
        assert len(while_written) == 1 and after == []
        states = [s for _, s, _ in station.jobs.events(job.id)]
        assert states[:2] == ["queued", "retrieving"]
        assert {"building", "writing", "verifying", "done"} <= set(states)
        audit = {e.action: e for e in station.audit.entries(job.id)}
        assert audit["job created"].user == "tech1"
        assert audit["medium written"].md5 == job.volumes[0].md5
        assert audit["medium written"].result == "verified"
        assert set(audit["job done"].studies) == set(uids)
        assert audit["medium written"].patient_id in ("P100", "P200")
        for uid, n in archive.studies.items():
            assert station.store.index.study(uid).instances == n
        assert not list((tmp_path / "store" / "jobs").iterdir())  # work files cleaned up
    finally:
        station.stop()


def test_a_dead_archive_is_retried_then_the_job_fails_with_the_reason(tmp_path: Path) -> None:
    import dataclasses

    from mw_tui import config as cfg

    config = station_config(tmp_path, retry_delays=[0.2, 0.3])
    config = dataclasses.replace(config, archives=(cfg.Archive(
        name="gone", ae_title="GONE", host="127.0.0.1", port=free_port(), timeout=2),))
    station = Station(config, watch_devices=False)
    station.start()
    try:
        job = station.create_job([StudyRef("1.2.3.4", "gone", 5)], f"iso:{tmp_path}")
        job = finished(station, job.id, 60)
        assert job.state is JobState.FAILED
        assert "gone" in job.error and "after 3 tries" in job.error
        assert "refused" in job.error.lower() or "connect" in job.error.lower()
        retries = [m for _, _, m in station.jobs.events(job.id) if "trying again" in m]
        assert len(retries) == 2
        assert station.audit.entries(job.id)[0].action == "job failed"
    finally:
        station.stop()


def test_a_study_pushed_by_storescu_fires_an_auto_rule(tmp_path: Path) -> None:
    import dataclasses

    from mw_tui import config as cfg
    from tests.jobs.conftest import make_study

    out = tmp_path / "iso"
    out.mkdir()
    config = station_config(tmp_path)
    config = dataclasses.replace(config, rules=(
        cfg.Rule(name="ct01", target=f"iso:{out}", calling_ae="CT01", quiet_seconds=1),
        cfg.Rule(name="other", target=f"iso:{tmp_path}", calling_ae="MR99", quiet_seconds=1),
    ))
    station = Station(config, watch_devices=False)
    station.start()
    try:
        files = make_study(tmp_path / "push", "Pushed^Patient", "P9")
        dcmtk("storescu", "-aet", "CT01", "-aec", "MW_TUI", "127.0.0.1",
              str(station.receiver.port), *map(str, files))
        job = wait_until(lambda: station.jobs.list()[0] if station.jobs.list() else None, 30,
                         "the auto-rule's job")
        assert job.rule == "ct01" and job.requested_by == "rule ct01"
        job = finished(station, job.id)
        assert job.state is JobState.DONE, job.error
        (iso,) = out.glob("*.iso")
        assert len(iso_dicom_files(iso)) == len(files)
        assert len(station.jobs.list()) == 1  # the MR99 rule did not fire
        uid = str(pydicom.dcmread(files[0]).StudyInstanceUID)
        assert job.studies[0].study_uid == uid
    finally:
        station.stop()


def test_cancel_while_retrieving_leaves_the_store_consistent(tmp_path: Path,
                                                             archive: Archive) -> None:
    from mw_tui.store.check import check

    station = Station(station_config(tmp_path, archive), watch_devices=False)
    station.start()
    try:
        # cancelled the moment they are created: some before the runner takes them up,
        # some as it does (the cancel and the runner's first step race)
        for _ in range(5):
            job = station.create_job([StudyRef(u, "orthanc", n)
                                      for u, n in archive.studies.items()], f"iso:{tmp_path}")
            station.cancel_job(job.id)
            job = finished(station, job.id)
            assert job.state is JobState.CANCELLED
            actions = [e.action for e in station.audit.entries(job.id)]
            assert actions.count("job cancelled") == 1, actions
        assert check(station.store).ok
    finally:
        station.stop()


def test_burn_to_a_loop_backed_drive(tmp_path: Path, archive: Archive, udev: None,
                                     loops: object, monkeypatch: pytest.MonkeyPatch) -> None:
    need("xorriso")
    while_written, _ = spy_read_backs(monkeypatch)
    image = loops.file("drive", 4 * 1024 * 1024)  # type: ignore[attr-defined]
    drive = loops.attach(image)  # type: ignore[attr-defined]
    station = Station(station_config(tmp_path, archive, drive=drive), watch_devices=True)
    station.start()
    try:
        wait_until(lambda: any(d.devname == drive for d in station.devices.drives()), 20,
                   "the watcher to see the drive")
        uid, n = next(iter(archive.studies.items()))
        job = station.create_job([StudyRef(uid, "orthanc", n)], f"disc:{drive}", "STD-GEN-CD")
        job = finished(station, job.id, 120)
        assert job.state is JobState.DONE, job.error
        burnt = Path(drive).read_bytes()[: job.volumes[0].size]
        assert hashlib.md5(burnt).hexdigest() == job.volumes[0].md5
        assert station.audit.entries(job.id)[1].action == "medium written"
        assert while_written == []  # the disc itself is read back, not its image
        # a verified disc gets its label: no printer is set, so the PDF is kept and said
        said = wait_until(lambda: [m for _, _, m in station.jobs.events(job.id)
                                   if m.startswith("label of the disc")], 30, "the label")
        kept = station.paths.labels / str(job.id) / "label1.pdf"
        assert kept.is_file() and str(kept) in said[0] and "no printer is set" in said[0]
    finally:
        station.stop()


def test_reports_can_be_left_off_the_medium(tmp_path: Path, archive: Archive,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # and the ISO folder is on another file system (tmpfs), as a network share would be:
    # the image is copied there, then read back (not read back while it was built)
    out = Path(tempfile.mkdtemp(prefix="mw-tui-test-", dir="/dev/shm"))
    while_written, after = spy_read_backs(monkeypatch)
    station = Station(station_config(tmp_path, archive), watch_devices=False)
    station.start()
    try:
        uid, n = next(iter(archive.studies.items()))
        job = station.create_job([StudyRef(uid, "orthanc", n, include_reports=False)],
                                 f"iso:{out}", "STD-GEN-CD")
        job = finished(station, job.id)
        assert job.state is JobState.DONE, job.error
        (image,) = out.glob("*.iso")
        assert len(iso_dicom_files(image)) == n - 1  # the study's SR report stayed behind
        assert station.store.index.study(uid).instances == n  # but it is in the store
        assert while_written == [] and [a.parent for a in after] == [out]  # read back once,
        assert after[0].name.startswith(isofile.TEMP_PREFIX)  # before it got its name
        assert hashlib.md5(image.read_bytes()).hexdigest() == job.volumes[0].md5
    finally:
        station.stop()
        shutil.rmtree(out, ignore_errors=True)


def test_a_job_to_a_usb_stick_waits_for_it_then_writes_and_verifies(
        tmp_path: Path, archive: Archive, udev: None, loops: object) -> None:
    """The job waits for a stick, the stick is plugged, the File-set is written through
    fusefat, read back, the stick passes fsck and holds every instance."""
    import subprocess

    from tests.devices.test_usb import plug

    need("fusefat", "fusermount", "fsck.vfat", "mdir")
    config = station_config(tmp_path, archive, usb_mount_command="fusefat -o rw+ {device} "
                            "{mountpoint}", usb_unmount_command="fusermount -u {mountpoint}",
                            mount_folder=str(tmp_path / "mnt"))
    station = Station(config, watch_devices=True)
    station.start()
    try:
        uid, n = next(iter(archive.studies.items()))
        job = station.create_job([StudyRef(uid, "orthanc", n)], "usb", "STD-GEN-USB-JPEG")
        waiting = wait_until(lambda: station.jobs.get(job.id) if station.jobs.get(job.id).state
                             is JobState.WAITING_FOR_MEDIA else None, 60, "the job to wait")
        assert "USB stick" in waiting.progress.message
        _, part = plug(loops)  # type: ignore[arg-type]
        job = finished(station, job.id, 120)
        assert job.state is JobState.DONE, job.error
        fsck = subprocess.run(["fsck.vfat", "-n", part], capture_output=True, text=True)
        assert fsck.returncode == 0, fsck.stdout
        listing = subprocess.run(["mdir", "-/", "-b", "-i", part, "::/DICOM"],
                                 capture_output=True, text=True,
                                 env={"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/bin:/bin"})
        files = [line for line in listing.stdout.splitlines() if line.strip()
                 and not line.rstrip().endswith("/")]
        assert len(files) == n, listing.stdout
        assert "safe to remove" in " ".join(m for _, _, m in station.jobs.events(job.id))
    finally:
        station.stop()


@contextlib.contextmanager
def _one_study_to_iso(tmp_path: Path, archive: Archive) -> Iterator[tuple[Station, Any, Path]]:
    """A station that ran a job of the archive's first study to an ISO file, to its end."""
    out = tmp_path / "out"
    out.mkdir()
    station = Station(station_config(tmp_path, archive), watch_devices=False)
    station.start()
    try:
        uid, n = next(iter(archive.studies.items()))
        job = finished(station, station.create_job([StudyRef(uid, "orthanc", n)],
                                                   f"iso:{out}", "STD-GEN-CD").id)
        yield station, job, out
    finally:
        station.stop()


def test_images_a_power_cut_caught_before_the_sync_are_retrieved_again(
        tmp_path: Path, archive: Archive, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store's sync runs while the image is built; a power cut before it ends loses
    the retrieved images. Simulated: the sync never runs, and before the build the rows
    carry another boot's id (what the next boot finds) and one file lost its data."""
    from mw_tui.jobs import building
    from mw_tui.store import Store

    monkeypatch.setattr(Store, "make_durable", lambda self: 0)  # the cut comes first
    build_step = building.BuildStep.run
    cut: list[int] = []

    def power_cut_then_build(self: Any, job: Any, cancel: Any) -> None:
        if not cut:
            store = self.c.store
            marked = store.index.unsynced()
            cut.append(len(marked))
            with store.index.transaction() as db:
                db.execute("UPDATE instances SET unsynced = 'another-boot' "
                           "WHERE unsynced IS NOT NULL")
            (store.root / marked[0][1]).write_bytes(b"")
        build_step(self, job, cancel)

    monkeypatch.setattr(building.BuildStep, "run", power_cut_then_build)
    with _one_study_to_iso(tmp_path, archive) as (station, job, out):
        uid, n = job.studies[0].study_uid, job.studies[0].expected_instances
        assert job.state is JobState.DONE, job.error
        assert cut == [n]  # every retrieved image was waiting for the sync
        states = [s for _, s, _ in station.jobs.events(job.id)]
        states = [s for i, s in enumerate(states) if i == 0 or s != states[i - 1]]
        assert states[:5] == ["queued", "retrieving", "building", "retrieving", "building"]
        assert any("power cut" in m for _, _, m in station.jobs.events(job.id))
        assert station.store.index.study(uid).instances == n
        (image,) = out.glob("*.iso")
        assert len(iso_dicom_files(image)) == n


def test_the_store_is_synced_once_the_job_is_over_and_a_write_error_is_only_logged(
        tmp_path: Path, archive: Archive, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    import errno

    from mw_tui.store import Store

    with _one_study_to_iso(tmp_path, archive) as (station, job, _):
        assert job.state is JobState.DONE, job.error
        wait_until(lambda: not station.store.index.unsynced(), 30,
                   "the retrieved images to be synced after the job")

    def broken_disk(self: Store) -> int:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(Store, "make_durable", broken_disk)
    (tmp_path / "again").mkdir()
    with _one_study_to_iso(tmp_path / "again", archive) as (station, job, _):
        assert job.state is JobState.DONE, job.error  # its medium is verified on its own
        station.runner.store_sync.wait()
        assert station.store.index.unsynced()  # still marked: recovery settles them
    assert any("write error" in r.getMessage() and "dmesg" in r.getMessage()
               for r in caplog.records)
