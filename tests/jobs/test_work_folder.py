"""A job's work folder lives under `[media] work` when it is set, and goes with the job:
whoever cancels it, a running station or the command line."""

from __future__ import annotations

import dataclasses
import io
import subprocess
import sys
from pathlib import Path

from pydicom.filewriter import dcmwrite
from pydicom.uid import generate_uid

from mw_tui import config as cfg
from mw_tui.demo import synth
from mw_tui.jobs.models import JobState, StudyRef
from mw_tui.standard import sop
from mw_tui.station import Station
from mw_tui.store import Store
from tests.conftest import make_config, write_config
from tests.peers import wait_until


def a_study_in_the_store(config: cfg.Config) -> str:
    study = synth.StudyInfo(patient=synth.PatientInfo("Work^Folder", "WF1"))
    series = generate_uid()
    store = Store(config.storage)
    try:
        for i in range(1, 4):
            ds = synth.image(study, "CT", series, 1, i, 32, 32)
            data = io.BytesIO()
            dcmwrite(data, ds, implicit_vr=False, little_endian=True)  # as a C-STORE sends it
            store.store_bytes(ds.SOPClassUID, ds.SOPInstanceUID, sop.EXPLICIT_VR_LE,
                              data.getvalue())
        return str(ds.StudyInstanceUID)
    finally:
        store.close()


def test_a_cancelled_job_leaves_no_work_folder_under_media_work(tmp_path: Path) -> None:
    base = make_config(tmp_path)
    config = dataclasses.replace(base, media=dataclasses.replace(
        base.media, work=str(tmp_path / "elsewhere")))
    uid = a_study_in_the_store(config)
    station = Station(config, watch_devices=False)
    station.start()
    try:  # a disc job to a drive that is not there: built, then it waits for the disc
        job = station.create_job([StudyRef(uid)], "disc:/dev/no-such-drive", "STD-GEN-CD")
        wait_until(lambda: station.job(job.id).state is JobState.WAITING_FOR_MEDIA, 60,
                   "the job to wait for its disc")
    finally:
        station.stop()
    work = tmp_path / "elsewhere" / "jobs" / str(job.id)
    assert (work / "volume1.iso").is_file()  # the image was built under [media] work
    assert not (config.storage / "jobs" / str(job.id)).exists()
    path = write_config(config, tmp_path / "config.toml")
    with path.open("a") as f:
        f.write(f'[media]\nwork = "{tmp_path / "elsewhere"}"\n')
    proc = subprocess.run([sys.executable, "-m", "mw_tui", "--config", str(path), "jobs",
                           "cancel", str(job.id)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert f"job {job.id} cancelled" in proc.stdout
    assert not work.exists()  # no station ran the job: the command removed its folder
