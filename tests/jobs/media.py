"""The loop-backed drive and stick in job tests: swapping the disc, reading what a disc
holds, waiting for what a job asks for."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from mw_tui.jobs.models import Job, JobState
from mw_tui.station import Station
from tests.devices.conftest import Loops, settle
from tests.jobs.crash import PVD
from tests.peers import wait_until


def swap_disc(loops: Loops, drive: str, disc: Path) -> None:
    """The technician takes the disc out and puts `disc` in (same drive, new backing)."""
    loops.detach(drive)
    wait_until(lambda: _attach(loops, disc, drive), 20, f"{disc.name} in {drive}")
    settle()


def _attach(loops: Loops, disc: Path, drive: str) -> bool:
    try:
        loops.attach(disc, device=drive)
        return True
    except subprocess.CalledProcessError:  # the old one is still being let go
        return False


def has_iso_image(device: str) -> bool:
    """Whether a drive's disc holds an ISO 9660 volume descriptor (the burn began)."""
    try:
        with open(device, "rb") as f:
            f.seek(PVD)
            return f.read(6)[1:6] == b"CD001"
    except OSError:
        return False


def md5_of_start(path: Path | str, size: int) -> str:
    """The md5 of the first `size` bytes (a disc holding an image, and what follows)."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        while size > 0 and (chunk := f.read(min(size, 1 << 20))):
            h.update(chunk)
            size -= len(chunk)
    return h.hexdigest()


def asks(station: Station, job_id: int, *words: str) -> Job:
    """The job waits for a disc, and its request says `words`."""
    def check() -> Job | None:
        job = station.jobs.get(job_id)
        assert not job.state.finished, (job.state, job.error)
        if job.state is JobState.WAITING_FOR_MEDIA and all(
                w in job.progress.message for w in words):
            return job
        return None
    try:
        return wait_until(check, 60, f"the job to ask for a disc ({words})", 0.05)
    except AssertionError as exc:
        job = station.jobs.get(job_id)
        raise AssertionError(f"{exc}; the job is {job.state.value}: {job.progress.message!r}, "
                             f"{job.volumes}; {station.jobs.events(job_id)}") from None


def done(station: Station, job_id: int) -> Job:
    job = wait_until(lambda: station.jobs.get(job_id) if station.jobs.get(job_id).state
                     .finished else None, 120, f"job {job_id} to finish")
    assert job.state is JobState.DONE, job.error
    return job
