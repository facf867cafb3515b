"""kill -9 of the station in each state of a job to ISO files; a restart finishes the job,
and nothing is written twice. (Discs and USB sticks: test_crash_media.py.)"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mw_tui.jobs.models import Job
from mw_tui.store import Store, sync
from mw_tui.store.check import check, recover
from tests.jobs.conftest import CRASH_INSTANCES
from tests.jobs.crash import CliStation, finished, iso_files, station_for
from tests.peers import Orthanc, wait_until


@pytest.fixture
def shm() -> Iterator[Path]:
    """A folder on another file system than the test's (tmpfs)."""
    folder = Path(tempfile.mkdtemp(prefix="mw-tui-crash-", dir="/dev/shm"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def written_once(station: CliStation, out: Path, job: Job, study_uid: str) -> Path:
    """Exactly one verified image of the job in `out`, and nothing left behind."""
    isos = list(out.glob("*.iso"))
    assert len(isos) == 1, f"written {len(isos)} times: {isos}"
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temp files left"
    assert not (station.storage / "jobs" / str(job.id)).exists(), "work files left"
    assert len(station.written_to_media(job.id)) == 1
    assert len(iso_files(isos[0])) == CRASH_INSTANCES
    assert os.path.getsize(isos[0]) == job.volumes[0].size
    store = Store(station.storage)
    assert check(store).ok
    assert store.index.study(study_uid).instances == CRASH_INSTANCES
    # what the last run retrieved is synced a moment after its job (`jobs run` exits
    # first): still marked with this boot's id, which the next start settles
    assert {boot for _, _, boot in store.index.unsynced()} <= {sync.boot_id()}
    recover(store)
    assert store.index.unsynced() == [] and check(store).ok
    return isos[0]


@pytest.mark.slow
@pytest.mark.parametrize("state", ["retrieving", "building", "writing", "verifying"])
def test_kill_9_in_each_state_then_the_job_completes_once(
        tmp_path: Path, big_study: tuple[Orthanc, str], state: str, shm: Path) -> None:
    orthanc, study_uid = big_study
    station = station_for(tmp_path, orthanc)
    # on the work folder's file system the image, read back while it was built, is only
    # linked (writing and verifying take milliseconds); on another one (a network share)
    # it is copied, then read back: long enough for the kill to land in the middle
    out = shm if state in ("writing", "verifying") else tmp_path / "out"
    out.mkdir(exist_ok=True)
    burn = station.start("burn", "--study", study_uid, "--to", f"iso:{out}", "--profile",
                         "STD-GEN-CD")
    polls = [0]

    def reached() -> str | None:
        polls[0] += 1
        if state == "writing":
            # the image copy is under way while its temp file is in the target folder
            if any(p.name.startswith(".mw-tui-") for p in os.scandir(out)):
                return "writing"
            if polls[0] % 200:
                return None
        return station.reached(state)()

    try:
        wait_until(reached, 120, f"the job to reach {state}",
                   interval=0.0002 if state == "writing" else 0.002)
    finally:
        station.crash(burn)
    assert station.state() == state, f"the job ran past {state} before the kill"
    job = finished(station.resume(), station)
    written_once(station, out, job, study_uid)


@pytest.mark.slow
def test_kill_9_with_a_job_still_queued(tmp_path: Path,
                                        big_study: tuple[Orthanc, str]) -> None:
    """Three jobs queued for `jobs run`: two retrieve (the runner's limit), the third waits
    in the queue when the station dies; the restart finishes all three, each once."""
    orthanc, study_uid = big_study
    station = station_for(tmp_path, orthanc)
    outs = [tmp_path / f"out{i}" for i in (1, 2, 3)]
    for out in outs:
        out.mkdir()
        queued = station.run("burn", "--study", study_uid, "--to", f"iso:{out}", "--no-wait")
        assert queued.returncode == 0, queued.stdout + queued.stderr
    runner = station.start("jobs", "run")
    try:
        wait_until(lambda: station.state(1) == "retrieving" and station.state(2) ==
                   "retrieving", 60, "two jobs retrieving", interval=0.002)
    finally:
        station.crash(runner)
    assert station.state(3) == "queued"
    resumed = station.resume()
    for job_id, out in enumerate(outs, 1):
        job = finished(resumed, station, job_id)
        written_once(station, out, job, study_uid)
