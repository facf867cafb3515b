"""Labels and disc publishers in jobs: a job to a publisher hands the robot one request
with every copy and a printed label whose barcode leads back to the job; a disc job keeps
its label PDF (printed when a printer is set), and `mw-tui label` gives it again."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from pyzbar import pyzbar

from mw_tui import config as cfg
from mw_tui.jobs.models import JobState, StudyRef
from mw_tui.station import Station
from mw_tui.store import Store
from tests.conftest import make_config, write_config
from tests.devices.robot import PtBurnRobot
from tests.jobs.test_work_folder import a_study_in_the_store
from tests.peers import need, wait_until

ROBOT_FOLDER = "C:\\\\PTBurnJobs"


@pytest.fixture
def robot(tmp_path: Path) -> Iterator[PtBurnRobot]:
    folder = tmp_path / "PTBurnJobs"
    folder.mkdir()
    r = PtBurnRobot(folder, ROBOT_FOLDER, printed=tmp_path / "printed").start()
    try:
        yield r
    finally:
        r.stop()


def test_a_job_to_a_disc_publisher_makes_every_copy_with_its_label(
        tmp_path: Path, robot: PtBurnRobot) -> None:
    base = make_config(tmp_path)
    config = dataclasses.replace(base, publishers=(cfg.Publisher(
        name="robot", folder=str(robot.folder), robot_folder=ROBOT_FOLDER, poll_seconds=0.05,
        accept_timeout=30.0, timeout_minutes=2.0),))
    uid = a_study_in_the_store(config)
    station = Station(config, watch_devices=False)
    station.start()
    try:
        (choice,) = [c for c in station.targets([]) if c.kind.value == "publisher"]
        assert choice.ready and "robot: ready" in choice.label
        job = station.create_job([StudyRef(uid)], "publisher:robot", "STD-GEN-CD", copies=2)
        done = wait_until(lambda: (j := station.job(job.id)).state.finished and j, 60,
                          "the robot's job")
    finally:
        station.stop()
    assert done.state is JobState.DONE, done.error
    (volume,) = done.volumes
    assert volume.written == 2  # both copies from one request
    ((_name, _md5, copies),) = robot.burned
    assert copies == 2 and robot.requests[0]["Copies"] == "2"
    (label,) = robot.labels
    codes = {c.data.decode() for c in pyzbar.decode(Image.open(label))}
    assert codes == {f"MW_TUI-{job.id:06d}"}


def test_a_disc_keeps_its_label_and_mw_tui_label_gives_it_again(tmp_path: Path) -> None:
    """The label of an ISO-file job is made on demand from the store (a patient copy)."""
    need("pdftotext")
    config = make_config(tmp_path)
    uid = a_study_in_the_store(config)
    (tmp_path / "iso").mkdir()
    station = Station(config, watch_devices=False)
    station.start()
    try:
        job = station.create_job([StudyRef(uid)], f"iso:{tmp_path / 'iso'}", "STD-GEN-CD")
        done = wait_until(lambda: (j := station.job(job.id)).state.finished and j, 60, "job")
        assert done.state is JobState.DONE, done.error
    finally:
        station.stop()
    path = write_config(config, tmp_path / "config.toml")
    out = tmp_path / "label.pdf"
    proc = subprocess.run([sys.executable, "-m", "mw_tui", "--config", str(path), "label",
                           f"MW_TUI-{job.id:06d}", "--pdf", str(out)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert f"disc 1: {out}" in proc.stdout
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True,
                          timeout=30).stdout
    assert "Work, Folder" in " ".join(text.split()) or "Work^Folder" in text
    kept = config.storage / "labels" / str(job.id) / "label1.pdf"
    assert kept.is_file()
    nothing = subprocess.run([sys.executable, "-m", "mw_tui", "--config", str(path), "label",
                              "999"], capture_output=True, text=True, timeout=60)
    assert nothing.returncode == 1 and "no job 999" in nothing.stderr
    # a folder gets label1.pdf; another station's barcode names none of our jobs
    folder = tmp_path / "labels-out"
    folder.mkdir()
    into = subprocess.run([sys.executable, "-m", "mw_tui", "--config", str(path), "label",
                           str(job.id), "--pdf", str(folder)], capture_output=True, text=True,
                          timeout=60)
    assert into.returncode == 0, into.stderr
    assert (folder / "label1.pdf").read_bytes()[:5] == b"%PDF-"
    other = subprocess.run([sys.executable, "-m", "mw_tui", "--config", str(path), "label",
                            f"OTHER_STATION-{job.id:06d}"], capture_output=True, text=True,
                           timeout=60)
    assert other.returncode == 2 and "MW_TUI-NNNNNN" in other.stderr
    Store(config.storage).close()
