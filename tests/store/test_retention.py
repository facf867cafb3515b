"""Retention: studies go N days after their last use, never while a job holds them."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydicom.filewriter import dcmwrite

from mw_tui import config as cfg
from mw_tui.demo import synth
from mw_tui.jobs.models import JobState, StudyRef, Target
from mw_tui.jobs.queue import JobQueue
from mw_tui.standard import sop
from mw_tui.station import Station
from mw_tui.store import Refused, Store, layout
from mw_tui.store.check import check
from mw_tui.store.retention import DAY, Retention
from tests.conftest import make_config
from tests.peers import wait_until


def add_study(store: Store, instances: int = 2, name: str = "Test^Patient") -> str:
    """A small study stored the way the receiver stores one; returns its UID."""
    study = synth.StudyInfo(patient=synth.PatientInfo(name=name))
    series = synth.image(study).SeriesInstanceUID
    for n in range(instances):
        ds = synth.image(study, series_uid=series, instance_number=n + 1, rows=8, columns=8)
        buf = io.BytesIO()
        dcmwrite(buf, ds, implicit_vr=False, little_endian=True)
        store.store_bytes(ds.SOPClassUID, ds.SOPInstanceUID, sop.EXPLICIT_VR_LE,
                          buf.getvalue())
    return study.study_uid


def age(store: Store, study_uid: str, days: float) -> None:
    """Pretend the study was last received `days` days ago."""
    with store.index.transaction() as db:
        db.execute("UPDATE studies SET updated_at = ? WHERE study_uid = ?",
                   (time.time() - days * DAY, study_uid))


def on_disk(store: Store, study_uid: str) -> bool:
    return layout.study_dir(store.root, study_uid).exists()


def test_purge_deletes_expired_studies_but_never_a_held_one(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    retention = Retention(store)
    expired, held, used, fresh = (add_study(store) for _ in range(4))
    for uid in (expired, held, used):
        age(store, uid, 40)
    retention.hold(held, "job-17")
    retention.touch(used, time.time() - 5 * DAY)  # a job ran with it five days ago

    dry = retention.purge(30, dry_run=True)
    assert [s.study_uid for s in dry.deleted] == [expired]
    assert all(on_disk(store, u) for u in (expired, held, used, fresh))

    report = retention.purge(30)
    assert [s.study_uid for s in report.deleted] == [expired]
    assert report.files == 2 and report.size_bytes > 0
    assert [(s.study_uid, s.held_by) for s in report.kept] == [(held, ("job-17",))]
    assert store.index.study(expired) is None and not on_disk(store, expired)
    for uid in (held, used, fresh):
        assert store.index.study(uid) is not None and on_disk(store, uid)
    assert check(store).ok, check(store).lines()  # index and files agree
    assert not list((store.root / "trash").iterdir())

    assert retention.release("job-17") == 1  # the job ended
    assert [s.study_uid for s in retention.purge(30).deleted] == [held]
    assert not on_disk(store, held) and check(store).ok
    assert [s.study_uid for s in retention.purge(30, now=time.time() + 26 * DAY).deleted] \
        == [used]  # 31 days after its last use
    assert store.index.counts()[0] == 1 and check(store).ok


def test_holds_are_per_job_and_survive_reopening(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    uid = add_study(store, 1)
    age(store, uid, 100)
    r = Retention(store)
    r.hold(uid, "job-1")
    r.hold(uid, "job-2")
    r.hold(uid, "job-2")  # twice is once
    store.close()
    store = Store(tmp_path / "store")
    r = Retention(store)
    assert r.holders(uid) == ("job-1", "job-2")
    assert r.release("job-1", uid) == 1
    assert not r.purge(1).deleted
    assert r.release("job-2") == 1
    assert r.purge(1).deleted[0].study_uid == uid


def test_an_instance_arriving_while_its_study_is_purged_is_refused_not_lost(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path / "store")
    study = synth.StudyInfo()
    first = synth.image(study, instance_number=1, rows=8, columns=8)
    buf = io.BytesIO()
    dcmwrite(buf, first, implicit_vr=False, little_endian=True)
    store.store_bytes(first.SOPClassUID, first.SOPInstanceUID, sop.EXPLICIT_VR_LE,
                      buf.getvalue())
    age(store, study.study_uid, 40)
    late = synth.image(study, series_uid=first.SeriesInstanceUID, instance_number=2, rows=8,
                       columns=8)
    buf = io.BytesIO()
    dcmwrite(buf, late, implicit_vr=False, little_endian=True)
    add = store.index.add

    def purge_then_add(rec: object) -> object:  # the purge runs between rename and index
        Retention(store).purge(30)
        return add(rec)  # type: ignore[arg-type]

    monkeypatch.setattr(store.index, "add", purge_then_add)
    with pytest.raises(Refused, match="send it again"):
        store.store_bytes(late.SOPClassUID, late.SOPInstanceUID, sop.EXPLICIT_VR_LE,
                          buf.getvalue())
    monkeypatch.undo()
    assert store.index.instance(late.SOPInstanceUID) is None  # nothing acknowledged is gone
    assert check(store).ok, check(store).lines()
    store.store_bytes(late.SOPClassUID, late.SOPInstanceUID, sop.EXPLICIT_VR_LE,
                      buf.getvalue())  # the sender's retry is stored
    assert store.index.instance(late.SOPInstanceUID) is not None and check(store).ok


def write_config(tmp_path: Path, days: int) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[station]\nstorage = "{tmp_path / "store"}"\nmin_free_mb = 1\n'
                    f'[retention]\ndays = {days}\n')
    return path


def mw_tui(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mw_tui", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=60)


def test_store_purge_command(tmp_path: Path) -> None:
    config = write_config(tmp_path, 30)
    store = Store(tmp_path / "store")
    old, held, new = add_study(store), add_study(store), add_study(store)
    age(store, old, 31)
    age(store, held, 31)
    Retention(store).hold(held, "job-3")
    store.close()

    dry = mw_tui(config, "store", "purge", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"would delete {old}" in dry.stdout and f"kept {held}" in dry.stdout
    assert new not in dry.stdout
    assert Store(tmp_path / "store").index.study(old) is not None

    done = mw_tui(config, "store", "purge")
    assert done.returncode == 0, done.stderr
    assert f"deleted {old}" in done.stdout and "deleted 1 studies" in done.stdout
    store = Store(tmp_path / "store")
    assert store.index.study(old) is None and store.index.study(held) is not None
    assert mw_tui(config, "store", "check").returncode == 0

    off = mw_tui(write_config(tmp_path, 0), "store", "purge")
    assert off.returncode == 0 and "retention is off" in off.stdout


def test_a_study_an_unfinished_job_needs_is_kept_until_the_job_ends(tmp_path: Path) -> None:
    config = write_config(tmp_path, 30)
    store = Store(tmp_path / "store")
    needed = add_study(store)
    age(store, needed, 31)
    store.close()
    queue = JobQueue(tmp_path / "store" / "jobs.sqlite")  # where the station keeps its jobs
    job = queue.create(Target.parse(f"iso:{tmp_path / 'out.iso'}"), "STD-GEN-CD",
                       (StudyRef(needed),))

    kept = mw_tui(config, "store", "purge")
    assert kept.returncode == 0, kept.stderr
    assert f"kept {needed}: expired, but held by an unfinished job" in kept.stdout
    assert Store(tmp_path / "store").index.study(needed) is not None

    queue.transition(job.id, JobState.CANCELLED, "cancelled by the technician")
    gone = mw_tui(config, "store", "purge")
    assert f"deleted {needed}" in gone.stdout
    store = Store(tmp_path / "store")
    assert store.index.study(needed) is None and check(store).ok


def test_the_station_purges_at_start(tmp_path: Path) -> None:
    """Retention is the station's housekeeping: started with the receiver, not by it."""
    base = make_config(tmp_path)
    store = Store(base.storage)
    old, kept = add_study(store), add_study(store)
    age(store, old, 10)
    store.close()
    config = cfg.Config(station=base.station, retention=cfg.RetentionConfig(days=7))
    station = Station(config, watch_devices=False, run_jobs=False)
    station.start()
    try:
        assert station.receiver.status().listening
        store = Store(config.storage)
        wait_until(lambda: store.index.study(old) is None, what="the expired study purged")
        assert store.index.study(kept) is not None
        assert check(store).ok
    finally:
        station.stop()
