"""kill -9 of `mw-tui burn` in each state; a restart finishes the job, nothing twice."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom.uid import JPEG2000Lossless, generate_uid

from mw_tui import config as cfg
from mw_tui.demo import synth
from mw_tui.jobs.audit import AuditLog
from mw_tui.jobs.models import JobState
from mw_tui.jobs.queue import JobQueue
from mw_tui.store import Store, sync
from mw_tui.store.check import check, recover
from tests.conftest import make_config, write_config
from tests.jobs.conftest import STATION_AE
from tests.peers import Orthanc, port_open, wait_until

INSTANCES = 240
ORDER = ["queued", "retrieving", "building", "waiting for media", "writing", "verifying",
         "done", "failed", "cancelled"]


@pytest.fixture(scope="module")
def big_study(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Orthanc, str]]:
    """Orthanc holding one JPEG 2000 study large enough for each step to take a while."""
    folder = tmp_path_factory.mktemp("crash")
    study = synth.StudyInfo(patient=synth.PatientInfo("Crash^Test", "P666"))
    series = generate_uid()
    o = Orthanc(folder / "orthanc").start()
    try:
        for i in range(1, INSTANCES + 1):
            ds = synth.image(study, "CT", series, 1, i, 256, 256)
            path = synth.save(ds, folder / "in" / f"{i}.dcm")
            ds.compress(JPEG2000Lossless)
            ds.save_as(path, enforce_file_format=True)
            o.upload(path)
        yield o, study.study_uid
    finally:
        o.stop()


@pytest.fixture
def shm() -> Iterator[Path]:
    """A folder on another file system than the test's (tmpfs)."""
    folder = Path(tempfile.mkdtemp(prefix="mw-tui-crash-", dir="/dev/shm"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.parametrize("state", ["retrieving", "building", "writing"])
def test_kill_9_in_each_state_then_the_job_completes_once(
        tmp_path: Path, big_study: tuple[Orthanc, str], state: str, shm: Path) -> None:
    orthanc, study_uid = big_study
    config = make_config(tmp_path, ae_title=STATION_AE)
    orthanc.add_modality("mwtui", STATION_AE, "127.0.0.1",  # replaces the previous test's
                         config.station.port)
    import dataclasses

    config = dataclasses.replace(config, archives=(cfg.Archive(
        name="orthanc", ae_title=orthanc.aet, host="127.0.0.1", port=orthanc.dicom_port),))
    path = write_config(config, tmp_path / "config.toml")
    # on the work folder's file system the image, read back while it was built, is only
    # linked (the writing step takes milliseconds); on another one (a network share) it
    # is copied and read back: long enough for the kill to land in the middle
    out = shm if state == "writing" else tmp_path / "out"
    out.mkdir(exist_ok=True)
    cli = [sys.executable, "-m", "mw_tui", "--config", str(path)]
    burn = subprocess.Popen([*cli, "burn", "--study", study_uid, "--to", f"iso:{out}",
                             "--profile", "STD-GEN-CD"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    db = tmp_path / "store" / "jobs.sqlite"
    wait_until(db.exists, 60, "the jobs database")
    queue = JobQueue(db)

    polls = [0]

    def reached() -> str | None:
        polls[0] += 1
        if state == "writing":
            # the image copy is under way while its temp file is in the target folder
            if any(p.name.startswith(".mw-tui-") for p in os.scandir(out)):
                return "writing"
            if polls[0] % 200:
                return None
        jobs = queue.list()
        if not jobs:
            return None
        now = jobs[0].state.value
        return now if ORDER.index(now) >= ORDER.index(state) else None

    try:
        killed_in = wait_until(reached, 120, f"the job to reach {state}",
                               interval=0.0002 if state == "writing" else 0.002)
    finally:
        burn.send_signal(signal.SIGKILL)
        burn.wait(10)
    assert killed_in == state, f"the job ran past {state} before the kill ({killed_in})"
    wait_until(lambda: not port_open(config.station.port), 30, "the receiver to go with it")

    # restart: `jobs run` resumes the job where it was and finishes it
    proc = subprocess.run([*cli, "jobs", "run", "--until-idle"], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    job = queue.get(1)
    assert job.state is JobState.DONE, (job.error, queue.events(1))
    isos = list(out.glob("*.iso"))
    assert len(isos) == 1, f"written {len(isos)} times: {isos}"
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temp files left"
    assert not list((tmp_path / "store" / "jobs").iterdir()), "work files left"
    store = Store(tmp_path / "store")
    assert check(store).ok
    assert store.index.study(study_uid).instances == INSTANCES
    # what the last run retrieved is synced a moment after its job (`jobs run` exits
    # first): still marked with this boot's id, which the next start settles
    assert {boot for _, _, boot in store.index.unsynced()} <= {sync.boot_id()}
    recover(store)
    assert store.index.unsynced() == [] and check(store).ok
    written = [e for e in AuditLog(db, STATION_AE, syslog=False).entries(1)
               if e.action == "medium written"]
    assert len(written) == 1
    import pycdlib

    iso = pycdlib.PyCdlib()
    iso.open(str(isos[0]))
    files = [f for root, _, names in iso.walk(iso_path="/DICOM") for f in names]
    iso.close()
    assert len(files) == INSTANCES
    assert os.path.getsize(isos[0]) == job.volumes[0].size
