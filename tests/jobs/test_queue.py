"""The persistent job queue and the append-only audit log."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mw_tui.jobs.audit import AuditLog
from mw_tui.jobs.models import JobState, Progress, StudyRef, Target, TargetKind, VolumeRecord
from mw_tui.jobs.queue import InvalidTransition, JobQueue


def test_target_parsing() -> None:
    assert Target.parse("iso:/srv/out") == Target(TargetKind.ISO, "/srv/out")
    assert Target.parse("disc") == Target(TargetKind.DISC, "")
    assert Target.parse("usb:/dev/sdb") == Target(TargetKind.USB, "/dev/sdb")
    assert str(Target.parse("cloud:hospital")) == "cloud:hospital"
    with pytest.raises(ValueError, match="use iso:PATH"):
        Target.parse("floppy:A")
    with pytest.raises(ValueError, match="needs a path"):
        Target.parse("iso:")


def test_jobs_survive_reopening_with_their_history(tmp_path: Path) -> None:
    q = JobQueue(tmp_path / "jobs.sqlite")
    seen = []
    q.subscribe(seen.append)
    job = q.create(Target.parse("iso:/tmp/x.iso"), "STD-GEN-CD",
                   (StudyRef("1.2.3", "pacs", 10),), patient_name="Doe^Jane", patient_id="P1",
                   copies=2, label="Knee")
    q.transition(job.id, JobState.RETRIEVING, "from pacs")
    q.progress(job.id, Progress(3, 10, "3 of 10"), persist_every=0)
    q.update(job.id, volumes=(VolumeRecord("MW1", 1, 1, "/w/1.iso", "abc", 1234),))
    q.close()
    q2 = JobQueue(tmp_path / "jobs.sqlite")
    again = q2.get(job.id)
    assert again.state is JobState.RETRIEVING
    assert again.progress == Progress(3, 10, "3 of 10")
    assert again.studies == (StudyRef("1.2.3", "pacs", 10, True),)
    assert again.volumes[0].md5 == "abc"
    assert (again.copies, again.label, again.patient_name) == (2, "Knee", "Doe^Jane")
    assert [s for _, s, _ in q2.events(job.id)] == ["queued", "retrieving"]
    assert [j.state for j in seen][:2] == [JobState.QUEUED, JobState.RETRIEVING]
    assert q2.studies_in_use() == {"1.2.3"}


def test_transitions_are_checked(tmp_path: Path) -> None:
    q = JobQueue(tmp_path / "jobs.sqlite")
    job = q.create(Target.parse("disc"), "STD-GEN-CD", (StudyRef("1.2.3"),))
    with pytest.raises(InvalidTransition):
        q.transition(job.id, JobState.VERIFYING)
    q.transition(job.id, JobState.BUILDING)
    q.transition(job.id, JobState.FAILED, error="disc too small")
    with pytest.raises(InvalidTransition, match="already failed"):
        q.transition(job.id, JobState.WRITING)
    assert q.get(job.id).error == "disc too small"


def test_cancelling_a_queued_job_is_immediate(tmp_path: Path) -> None:
    q = JobQueue(tmp_path / "jobs.sqlite")
    job = q.create(Target.parse("disc"), "STD-GEN-CD", (StudyRef("1.2.3"),))
    assert q.request_cancel(job.id).state is JobState.CANCELLED
    other = q.create(Target.parse("disc"), "STD-GEN-CD", (StudyRef("1.2.3"),))
    q.transition(other.id, JobState.BUILDING)
    running = q.request_cancel(other.id)
    assert running.state is JobState.BUILDING and running.cancel_requested
    assert [j.id for j in q.list(active_only=True)] == [other.id]


def test_bad_requests_are_refused(tmp_path: Path) -> None:
    q = JobQueue(tmp_path / "jobs.sqlite")
    with pytest.raises(ValueError, match="at least one study"):
        q.create(Target.parse("disc"), "STD-GEN-CD", ())
    with pytest.raises(ValueError, match="copies"):
        q.create(Target.parse("disc"), "STD-GEN-CD", (StudyRef("1"),), copies=0)
    with pytest.raises(KeyError, match="no job 42"):
        q.get(42)


def test_audit_log_is_append_only(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite"
    audit = AuditLog(path, "MW_TUI", syslog=False)
    audit.record("medium written", job_id=7, patient_name="Doe^Jane", patient_id="P1",
                 studies=("1.2.3",), target="iso:/srv/a.iso", volume="MW_1", md5="d41d8",
                 result="verified", user="tech")
    (entry,) = audit.entries()
    assert (entry.action, entry.user, entry.md5, entry.studies) == (
        "medium written", "tech", "d41d8", ("1.2.3",))
    db = sqlite3.connect(path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE audit SET result = 'forged'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM audit")
