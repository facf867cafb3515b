"""The audit log's syslog half: each entry reaches a real rsyslogd (listening on a socket
of the test's own, in place of /dev/log), under the authpriv facility, as one AUDIT line
of JSON with who, which patient and studies, which medium and the result."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mw_tui.jobs.audit import AuditLog
from mw_tui.jobs.models import StudyRef, Target
from mw_tui.jobs.queue import JobQueue
from tests.peers import need, wait_until

CONFIG = """
global(workDirectory="{folder}")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{folder}/log.sock" CreatePath="on")
template(name="facility" type="string"
         string="%syslogfacility-text%.%syslogseverity-text% %syslogtag% %msg%\\n")
authpriv.* action(type="omfile" file="{folder}/authpriv.log" template="facility")
*.*;authpriv.none action(type="omfile" file="{folder}/other.log" template="facility")
"""


@pytest.fixture
def rsyslog(tmp_path: Path) -> Iterator[Path]:
    """rsyslogd on a socket of its own; yields the socket (its files are next to it)."""
    need("rsyslogd")
    folder = tmp_path / "rsyslog"
    folder.mkdir()
    (folder / "rsyslog.conf").write_text(CONFIG.format(folder=folder))
    proc = subprocess.Popen(["rsyslogd", "-n", "-f", str(folder / "rsyslog.conf"), "-i",
                             str(folder / "rsyslogd.pid")], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: (folder / "log.sock").is_socket() or proc.poll() is not None, 20,
                   "rsyslogd's socket")
        assert proc.poll() is None, proc.communicate()[0]
        yield folder / "log.sock"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def test_every_audit_entry_reaches_syslog_as_authpriv(tmp_path: Path, rsyslog: Path) -> None:
    queue = JobQueue(tmp_path / "jobs.sqlite")
    job = queue.create(Target.parse("disc:/dev/sr0"), "STD-GEN-CD",
                       (StudyRef("1.2.826.0.1.3680043.8.498.1", "pacs", 12),),
                       patient_name="Dubois^Amélie", patient_id="MWD-1003")
    audit = AuditLog(tmp_path / "jobs.sqlite", "MW_TUI", syslog=True, address=str(rsyslog))
    try:
        audit.record_job(job, "job created", user="tech1")
        audit.record_job(job, "medium written", volume="2601261530_1OF1", md5="0" * 32,
                         result="verified")
    finally:
        audit.close()
    received = rsyslog.parent / "authpriv.log"

    def two_lines() -> list[str] | None:
        found = received.read_text().splitlines() if received.exists() else []
        return found if len(found) >= 2 else None

    lines = wait_until(two_lines, 20, "two lines in rsyslog's authpriv file")
    assert len(lines) == 2
    sent = []
    for line in lines:
        priority, tag, message = line.split(maxsplit=2)
        assert priority == "authpriv.info" and tag == f"mw-tui[{os.getpid()}]:"
        assert message.startswith("AUDIT ")
        sent.append(json.loads(message.removeprefix("AUDIT ")))
    created, written = sent
    assert (created["action"], created["user"], created["station"]) == (
        "job created", "tech1", "MW_TUI")
    assert (written["action"], written["volume"], written["md5"], written["result"]) == (
        "medium written", "2601261530_1OF1", "0" * 32, "verified")
    for entry in sent:
        assert (entry["patient_name"], entry["patient_id"]) == ("Dubois^Amélie", "MWD-1003")
        assert entry["studies"] == ["1.2.826.0.1.3680043.8.498.1"]
        assert entry["target"] == "disc:/dev/sr0" and entry["job"] == job.id
    # and nothing of it under any other facility
    other = rsyslog.parent / "other.log"
    assert not other.exists() or "AUDIT" not in other.read_text()
    # the database half holds the same entries
    assert [e.action for e in AuditLog(tmp_path / "jobs.sqlite", "MW_TUI", syslog=False)
            .entries(job.id)] == ["medium written", "job created"]
