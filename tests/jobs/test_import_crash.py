"""kill -9 of `mw-tui import` in the middle of the send; `mw-tui jobs run` finishes the job:
every instance is in the archive, counted, and none the archive had confirmed is sent
again (Orthanc logs every instance it receives, duplicates included)."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from mw_tui import config as cfg
from mw_tui.jobs.audit import AuditLog
from mw_tui.jobs.models import JobState
from mw_tui.jobs.queue import JobQueue
from tests.conftest import make_config, write_config
from tests.importing.conftest import ct_files, outside_ct, write_disc
from tests.peers import Orthanc, wait_until

INSTANCES = 800
ASSOCIATIONS = 2


def lines(path: Path) -> list[str]:
    """The complete lines of a file being appended to."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return text.split("\n")[:-1]


@pytest.mark.slow
def test_kill_9_while_sending_then_the_import_completes_sending_nothing_twice(
        tmp_path: Path) -> None:
    received = tmp_path / "received.txt"
    orthanc = Orthanc(tmp_path / "orthanc", lua=Orthanc.received_log(received)).start()
    try:
        disc = write_disc(tmp_path / "disc", ct_files(outside_ct(INSTANCES, rows=32)))
        config = make_config(tmp_path)
        import dataclasses

        config = dataclasses.replace(config, archives=(cfg.Archive(
            name="pacs", ae_title=orthanc.aet, host="127.0.0.1", port=orthanc.dicom_port),))
        path = write_config(config, tmp_path / "config.toml")
        with path.open("a") as f:
            f.write(f"[importing]\nassociations = {ASSOCIATIONS}\n")
        cli = [sys.executable, "-m", "mw_tui", "--config", str(path)]
        work = tmp_path / "store" / "jobs" / "1"
        importing = subprocess.Popen([*cli, "import", str(disc.iso), "--patient-id", "LOC-1"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: len(lines(work / "confirmed.txt")) >= 100, 120,
                       "the archive to confirm 100 instances", interval=0.001)
        finally:
            importing.send_signal(signal.SIGKILL)
            importing.wait(10)
        confirmed_before = set(lines(work / "confirmed.txt"))
        assert 100 <= len(confirmed_before) < INSTANCES, "the kill came too late"
        queue = JobQueue(tmp_path / "store" / "jobs.sqlite")
        assert queue.get(1).state is JobState.SENDING

        proc = subprocess.run([*cli, "jobs", "run", "--until-idle"], capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        job = queue.get(1)
        assert job.state is JobState.DONE, (job.error, queue.events(1))
        assert f"holds all {INSTANCES} instances" in job.progress.message
        assert orthanc.instance_count() == INSTANCES
        times = Counter(lines(received))
        assert len(times) == INSTANCES
        twice = {uid for uid, n in times.items() if n > 1}
        assert not twice & confirmed_before, "an instance the archive confirmed was sent again"
        assert len(twice) <= ASSOCIATIONS  # at most those in flight when the kill came
        assert any(f"{len(confirmed_before)} instances were confirmed by the archive before"
                   in m for _, _, m in queue.events(1))
        actions = [e.action for e in AuditLog(tmp_path / "store" / "jobs.sqlite", "MW_TUI",
                                              syslog=False).entries(1)]
        assert actions.count("studies imported") == 1
        assert not work.exists()
    finally:
        orthanc.stop()
