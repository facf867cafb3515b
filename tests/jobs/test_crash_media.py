"""kill -9 of the station in each state of a job to a disc (a loop-backed drive) or to a
USB stick (a loop-backed stick written through fusefat); a restart finishes the job, and
a medium the crash caught while it was written is never trusted: the job asks for a new
one."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mw_tui.jobs.models import Job, JobState
from tests.devices.conftest import Loops, make_volume, settle
from tests.devices.test_usb import plug
from tests.jobs.conftest import CRASH_INSTANCES
from tests.jobs.crash import CliStation, finished, fusefat_devices, station_for
from tests.jobs.media import has_iso_image, md5_of_start, swap_disc
from tests.peers import Orthanc, need, wait_until

pytestmark = pytest.mark.root

DISC = 64 << 20  # the loop drive's "DVD": room for the study's image
STICK = 96 << 20
STATES = ["queued", "retrieving", "building", "waiting for media", "writing", "verifying"]
PROFILE = {"disc": "STD-GEN-CD", "usb": "STD-GEN-USB-J2K"}


@pytest.fixture(autouse=True)
def _tools() -> None:
    need("xorriso", "fusefat", "fusermount", "fsck.vfat", "mdir")


def written_disc(loops: Loops, folder: Path) -> Path:
    """A disc that holds an image already (complete, not blank)."""
    volume = make_volume(folder, instances=1)
    assert volume.iso is not None
    disc = loops.file("drive", DISC)
    with open(disc, "r+b") as f:
        f.write(volume.iso.read_bytes())
    return disc


def stick_files(part: str) -> list[str]:
    listing = subprocess.run(["mdir", "-/", "-b", "-i", part, "::/DICOM"], capture_output=True,
                             text=True, env={"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/bin:/bin"})
    return [line for line in listing.stdout.splitlines()
            if line.strip() and not line.rstrip().endswith("/")]


def fsck_clean(part: str) -> None:
    proc = subprocess.run(["fsck.vfat", "-n", part], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def waiting(station: CliStation, resumed: subprocess.Popen[bytes], what: str) -> Job:
    """The resumed station waits for a medium; its request mentions `what`."""
    def check() -> Job | None:
        assert resumed.poll() is None, f"jobs run exited with {resumed.returncode}"
        job = station.job()
        if job.state is JobState.WAITING_FOR_MEDIA and what in job.progress.message:
            return job
        return None
    return wait_until(check, 120, f"the resumed job to wait for a medium ({what!r})", 0.05)


def start_job(station: CliStation, study_uid: str, target: str, kind: str,
              tmp_path: Path) -> subprocess.Popen[bytes]:
    """`mw-tui burn` of the study; for "queued", `jobs run` of three queued jobs where the
    third (to this target) waits behind two retrieving to ISO files."""
    if kind != "queued":
        return station.start("burn", "--study", study_uid, "--to", target, "--profile",
                             PROFILE[target.split(":")[0]])
    for i in (1, 2):
        (tmp_path / f"iso{i}").mkdir()
        assert station.run("burn", "--study", study_uid, "--to", f"iso:{tmp_path / f'iso{i}'}",
                           "--no-wait").returncode == 0
    assert station.run("burn", "--study", study_uid, "--to", target, "--profile",
                       PROFILE[target.split(":")[0]], "--no-wait").returncode == 0
    return station.start("jobs", "run")


@pytest.mark.slow
@pytest.mark.parametrize("state", STATES)
def test_a_disc_job_killed_in_each_state(tmp_path: Path, big_study: tuple[Orthanc, str],
                                         udev: None, loops: Loops, state: str) -> None:
    orthanc, study_uid = big_study
    station = station_for(tmp_path, orthanc)
    first = written_disc(loops, tmp_path / "old") if state == "waiting for media" else (
        loops.file("drive", DISC))
    drive = loops.attach(first)
    settle()
    job_id = 3 if state == "queued" else 1
    proc = start_job(station, study_uid, f"disc:{drive}", state, tmp_path)
    try:
        if state == "queued":
            wait_until(lambda: station.state(2) == "retrieving", 60, "two jobs retrieving",
                       interval=0.002)
        elif state == "writing":  # the burn began: the disc is no longer blank
            wait_until(lambda: station.state() == "writing" and has_iso_image(drive), 120,
                       "the burn to begin", interval=0.0005)
        else:
            wait_until(station.reached(state), 120, f"the job to reach {state}", 0.002)
    finally:
        station.crash(proc)
    assert station.state(job_id) == state, f"the job ran past {state} before the kill"
    resumed = station.resume()
    if state in ("waiting for media", "writing", "verifying"):
        # the disc in the drive is not blank: written before, or caught by the crash
        job = waiting(station, resumed, f"Insert a blank CD into {drive}")
        if state != "waiting for media":
            stopped = [m for s, m in station.events() if "stopped while writing" in m]
            assert stopped and "insert a new blank one" in stopped[-1]
        before = md5_of_start(first, DISC)
        swap_disc(loops, drive, loops.file("drive", DISC))
    job = finished(resumed, station, job_id)
    (volume,) = job.volumes
    assert volume.written == 1 and len(station.written_to_media(job_id)) == 1
    assert md5_of_start(drive, volume.size) == volume.md5  # the disc holds the image
    if state in ("waiting for media", "writing", "verifying"):
        assert md5_of_start(first, DISC) == before  # the old disc was left alone


@pytest.mark.slow
@pytest.mark.parametrize("state", STATES)
def test_a_usb_job_killed_in_each_state(tmp_path: Path, big_study: tuple[Orthanc, str],
                                        udev: None, loops: Loops, state: str) -> None:
    orthanc, study_uid = big_study
    devices = fusefat_devices(loops)
    mount_folder = Path(str(devices["mount_folder"]))
    mount_folder.mkdir()
    station = station_for(tmp_path, orthanc, devices)
    stick = None if state == "waiting for media" else plug(loops, STICK)
    job_id = 3 if state == "queued" else 1
    proc = start_job(station, study_uid, "usb", state, tmp_path)

    def on_the_stick() -> bool:  # the File-set's first folder is there
        return any((m / "DICOM").exists() for m in mount_folder.iterdir())

    try:
        if state == "queued":
            wait_until(lambda: station.state(2) == "retrieving", 60, "two jobs retrieving",
                       interval=0.002)
        elif state == "writing":
            wait_until(lambda: station.state() == "writing" and on_the_stick(), 120,
                       "files on the stick", interval=0.002)
        else:
            wait_until(station.reached(state), 120, f"the job to reach {state}", 0.002)
    finally:
        station.crash(proc, mount_folder)
    assert station.state(job_id) == state, f"the job ran past {state} before the kill"
    resumed = station.resume()
    if state == "waiting for media":
        waiting(station, resumed, "Insert a USB stick")
        stick = plug(loops, STICK)
    elif state in ("writing", "verifying"):
        assert stick is not None
        # the stick the crash caught holds (part of) a File-set: not used again
        waiting(station, resumed, "already holds DICOM")
        assert any("stopped while writing" in m for _, m in station.events())
        loops.detach(stick[0].devname)
        stick = plug(loops, STICK)
    job = finished(resumed, station, job_id)
    assert stick is not None
    _, part = stick
    fsck_clean(part)
    assert len(stick_files(part)) == CRASH_INSTANCES
    assert job.volumes[0].written == 1 and len(station.written_to_media(job_id)) == 1
