"""Labels and disc publishers in jobs: a job to a publisher hands the robot one request
with every copy and a printed label whose barcode leads back to the job; a disc job keeps
its label PDF (printed when a printer is set), and `mw-tui label` gives it again."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime, tzinfo
from pathlib import Path

import pytest
from PIL import Image
from pyzbar import pyzbar

from mw_tui import config as cfg
from mw_tui.jobs.models import JobOptions, JobState, StudyRef
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


class BuiltInThePast(datetime):
    """The builder's clock on 5 March 2024, 10:00: the job's discs were made that day."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
        return datetime(2024, 3, 5, 10, 0, tzinfo=tz)


def a_dicom_only_iso_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                         ) -> tuple[cfg.Config, int, Path]:
    """A done ISO-file job that asked for DICOM objects only (no web images on its
    medium), built on 5 March 2024; the configuration as a file for the command line."""
    config = make_config(tmp_path)
    uid = a_study_in_the_store(config)
    (tmp_path / "iso").mkdir()
    monkeypatch.setattr("mw_tui.media.builder.datetime", BuiltInThePast)
    station = Station(config, watch_devices=False)
    station.start()
    try:
        job = station.create_job([StudyRef(uid)], f"iso:{tmp_path / 'iso'}", "STD-GEN-CD",
                                 options=JobOptions(web=False))
        done = wait_until(lambda: (j := station.job(job.id)).state.finished and j, 60, "job")
        assert done.state is JobState.DONE, done.error
    finally:
        station.stop()
    return config, job.id, write_config(config, tmp_path / "config.toml")


def label_again(path: Path, job_id: int) -> tuple[subprocess.CompletedProcess[str], str]:
    """`mw-tui label JOB` and the text of the kept PDF it gives."""
    proc = subprocess.run([sys.executable, "-m", "mw_tui", "--config", str(path), "label",
                           str(job_id)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    pdf = Path(proc.stdout.split("disc 1: ", 1)[1].split()[0])
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                          check=True, timeout=30).stdout
    return proc, " ".join(text.split())


def test_a_label_made_again_says_what_the_disc_holds_and_the_day_it_was_made(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its PDF deleted, a job's label is made again as the job made it: DICOM ONLY for a
    medium without web images, dated the day the disc was made (not today)."""
    need("pdftotext")
    config, job_id, path = a_dicom_only_iso_job(tmp_path, monkeypatch)
    kept = config.storage / "labels" / str(job_id) / "label1.pdf"
    kept.unlink(missing_ok=True)
    proc, text = label_again(path, job_id)
    assert f"disc 1: {kept}" in proc.stdout and kept.is_file()
    assert "DICOM ONLY" in text and "DICOM PLUS WEB" not in text
    assert "2024-03-05" in text and date.today().isoformat() not in text
    assert "check it against the disc" not in proc.stdout  # nothing was guessed


def test_a_label_of_a_job_from_before_labels_kept_their_kind_and_day_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A job recorded before its volumes kept their label's kind and day: the label comes
    from the job's settings and the day it last changed, and `mw-tui label` says so."""
    need("pdftotext")
    config, job_id, path = a_dicom_only_iso_job(tmp_path, monkeypatch)
    db = sqlite3.connect(config.storage / "jobs.sqlite")
    try:
        (volumes,) = db.execute("SELECT volumes FROM jobs WHERE id = ?", (job_id,)).fetchone()
        old = [row[:8] for row in json.loads(volumes)]  # label ... details, as before
        day = datetime(2024, 3, 6, 12, 0).timestamp()
        db.execute("UPDATE jobs SET volumes = ?, created_at = ?, updated_at = ? WHERE id = ?",
                   (json.dumps(old), day - 3600, day, job_id))
        db.commit()
    finally:
        db.close()
    (config.storage / "labels" / str(job_id) / "label1.pdf").unlink(missing_ok=True)
    proc, text = label_again(path, job_id)
    assert "DICOM ONLY" in text and "DICOM PLUS WEB" not in text
    assert "2024-03-06" in text and date.today().isoformat() not in text
    assert "check it against the disc" in proc.stdout
