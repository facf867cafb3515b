"""Crashing the station in the middle of a job, and starting it again.

A crash is `kill -9` of the whole process group of `mw-tui burn` (or `mw-tui jobs run`):
the station and the tools it runs (xorriso) go at once, as in a power cut; what a reboot
would also clear (a FUSE mount of a stick being written) is cleared before the restart.
The restart is `mw-tui jobs run --until-idle`, which resumes every job where it was.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pycdlib

from mw_tui import config as cfg
from mw_tui.jobs.audit import AuditLog
from mw_tui.jobs.models import Job, JobState
from mw_tui.jobs.queue import JobQueue
from tests.conftest import make_config, write_config
from tests.devices.conftest import Loops
from tests.jobs.conftest import STATION_AE
from tests.peers import Orthanc, port_open, wait_until

ORDER = ["queued", "retrieving", "building", "waiting for media", "writing", "verifying",
         "done", "failed", "cancelled"]
PVD = 16 * 2048  # where an ISO 9660 image has its primary volume descriptor


def cli_config(config: cfg.Config, path: Path, devices: dict[str, Any] | None = None) -> Path:
    """The configuration as the command line reads it, with a [devices] section."""
    write_config(config, path)
    if devices:
        lines = ["[devices]"] + [f"{k} = {json.dumps(v)}" for k, v in devices.items()]
        with open(path, "a") as f:
            f.write("\n".join(lines) + "\n")
    return path


def fusefat_devices(loops: Loops) -> dict[str, Any]:
    """Sticks mounted with FUSE fusefat under the test's folder (as the device tests do)."""
    return {"usb_mount_command": "fusefat -o rw+ {device} {mountpoint}",
            "usb_unmount_command": "fusermount -u {mountpoint}",
            "mount_folder": str(loops.folder / "mnt")}


class CliStation:
    """`mw-tui` commands on one configuration, each in a process group of its own."""

    def __init__(self, config_path: Path, storage: Path, ae_title: str, port: int) -> None:
        self.config_path = config_path
        self.storage = storage
        self.ae_title = ae_title
        self.port = port
        self._queue: JobQueue | None = None
        self.logs = storage.parent / "logs"
        self.logs.mkdir(exist_ok=True)

    @property
    def queue(self) -> JobQueue:
        if self._queue is None:
            db = self.storage / "jobs.sqlite"
            wait_until(db.exists, 60, "the jobs database")
            self._queue = JobQueue(db)
        return self._queue

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        name = "-".join(a for a in args[:2] if not a.startswith("-"))
        log = open(self.logs / f"{name}-{len(list(self.logs.iterdir()))}.log", "wb")  # noqa: SIM115
        return subprocess.Popen([sys.executable, "-m", "mw_tui", "--config",
                                 str(self.config_path), *args], stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "mw_tui", "--config",
                               str(self.config_path), *args], capture_output=True, text=True,
                              timeout=timeout)

    def crash(self, proc: subprocess.Popen[bytes], mount_folder: Path | None = None) -> None:
        """kill -9 of the process and of what it started; then what a reboot clears."""
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(10)
        wait_until(lambda: not port_open(self.port), 30, "the receiver to go with it")
        if mount_folder is not None and mount_folder.exists():
            for line in Path("/proc/mounts").read_text().splitlines():
                where = line.split()[1]
                if where.startswith(str(mount_folder)):
                    subprocess.run(["fusermount", "-u", where], capture_output=True, timeout=60)

    def job(self, job_id: int = 1) -> Job:
        return self.queue.get(job_id)

    def state(self, job_id: int = 1) -> str | None:
        jobs = [j for j in self.queue.list() if j.id == job_id]
        return jobs[0].state.value if jobs else None

    def reached(self, state: str, job_id: int = 1) -> Callable[[], str | None]:
        """A check for wait_until: the job's state once it is `state` or later."""
        def check() -> str | None:
            now = self.state(job_id)
            return now if now is not None and ORDER.index(now) >= ORDER.index(state) else None
        return check

    def events(self, job_id: int = 1) -> list[tuple[str, str]]:
        return [(s, m) for _, s, m in self.queue.events(job_id)]

    def written_to_media(self, job_id: int = 1) -> list[str]:
        """The volumes of the job the audit log says were written (and verified)."""
        audit = AuditLog(self.queue.path, self.ae_title, syslog=False)
        return [e.volume for e in audit.entries(job_id) if e.action == "medium written"]

    def resume(self) -> subprocess.Popen[bytes]:
        return self.start("jobs", "run", "--until-idle")


def station_for(tmp_path: Path, orthanc: Orthanc,
                devices: dict[str, object] | None = None) -> CliStation:
    config = make_config(tmp_path, ae_title=STATION_AE)
    orthanc.add_modality("mwtui", STATION_AE, "127.0.0.1",  # replaces the previous test's
                         config.station.port)
    config = dataclasses.replace(config, archives=(cfg.Archive(
        name="orthanc", ae_title=orthanc.aet, host="127.0.0.1", port=orthanc.dicom_port),))
    path = cli_config(config, tmp_path / "config.toml", devices)
    return CliStation(path, config.storage, STATION_AE, config.station.port)


def finished(proc: subprocess.Popen[bytes], station: CliStation, job_id: int = 1,
             timeout: float = 300) -> Job:
    """Wait for `jobs run --until-idle` to end; the job, which must be done."""
    assert proc.wait(timeout) == 0, f"jobs run exited with {proc.returncode}"
    job = station.job(job_id)
    assert job.state is JobState.DONE, (job.error, station.events(job_id))
    return job


def iso_files(image: Path) -> list[str]:
    """The DICOM files of an ISO image."""
    iso = pycdlib.PyCdlib()
    iso.open(str(image))
    names = [f"{root}/{f}" for root, _, files in iso.walk(iso_path="/DICOM") for f in files]
    iso.close()
    return names
