"""An import job of the queue: the runner reads the outside disc, sends it to a real
Orthanc under the local patient and counts it there; its history, its audit log, retries
when the archive is down, a refusal to merge two outside patients, a cancel."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from mw_tui import config as cfg
from mw_tui.demo import synth
from mw_tui.importing import LocalPatient
from mw_tui.jobs.models import Job, JobKind, JobState
from mw_tui.station import Station
from tests.importing.conftest import config_for, ct_files, outside_ct, write_disc
from tests.peers import Orthanc, free_port, wait_until

LOCAL = LocalPatient("LOC-0815", "OUR_HOSPITAL", "Local^Johnny")


def quick(config: cfg.Config, retry_delays: list[float] | None = None,
          **importing: object) -> cfg.Config:
    return dataclasses.replace(
        config, jobs=dataclasses.replace(config.jobs, retry_delays=retry_delays or [],
                                         syslog=False),
        importing=dataclasses.replace(config.importing, **importing))


@pytest.fixture
def station(tmp_path: Path, empty_pacs: Orthanc) -> Iterator[Station]:
    s = Station(quick(config_for(tmp_path, empty_pacs)), receive=False, watch_devices=False)
    s.start()
    try:
        yield s
    finally:
        s.stop()


def finished(station: Station, job_id: int, timeout: float = 90) -> JobState:
    wait_until(lambda: station.job(job_id).state.finished, timeout, f"job {job_id} to end")
    return station.job(job_id).state


def patient_ids(o: Orthanc) -> set[str]:
    return {o.get(f"/patients/{p}")["MainDicomTags"]["PatientID"] for p in o.get("/patients")}


def test_an_import_job_reads_the_disc_sends_it_and_counts_it(
        station: Station, tmp_path: Path, empty_pacs: Orthanc) -> None:
    disc = write_disc(tmp_path / "disc", ct_files(outside_ct(8)))
    medium = station.read_medium(disc.iso)
    (study,) = medium.studies
    plan = station.import_plan(LOCAL, study_uids=[study.study_uid])
    job = station.create_import_job(disc.iso, plan, medium)
    assert job.kind is JobKind.IMPORT and job.target is None
    assert (job.patient_id, job.destination) == ("LOC-0815", "pacs")
    assert finished(station, job.id) is JobState.DONE, station.job(job.id).error
    assert empty_pacs.instance_count() == 8
    assert patient_ids(empty_pacs) == {"LOC-0815"}
    states = [s for _, s, _ in station.job_history(job.id)]
    assert states[0] == "queued" and states[-1] == "done"
    assert {"reading", "sending", "counting"} <= set(states)
    done = station.job(job.id)
    assert "holds all 8 instances" in done.progress.message
    assert [(s.study_uid, s.expected_instances) for s in done.studies] == [(study.study_uid, 8)]
    entries = {e.action: e for e in station.audit.entries(job.id)}
    created, imported = entries["import job created"], entries["studies imported"]
    assert created.patient_id == imported.patient_id == "LOC-0815"
    assert created.target == imported.target == "pacs"
    assert "Doe^John (EXT-4711, issuer OTHER_HOSPITAL)" in imported.details
    assert "local patient LOC-0815, issuer OUR_HOSPITAL" in imported.details
    assert str(disc.iso) in imported.details and "8 instances of 1 studies" in imported.details
    assert not station.paths.job_work(job.id).exists()  # the work folder goes with the job


def test_keeping_the_outside_ids_and_importing_the_same_disc_again(
        station: Station, tmp_path: Path, empty_pacs: Orthanc) -> None:
    disc = write_disc(tmp_path / "disc", ct_files(outside_ct(4)))
    plan = station.import_plan(None)  # no medium read first: the job reads it
    first = station.create_import_job(disc.iso, plan)
    assert finished(station, first.id) is JobState.DONE, station.job(first.id).error
    assert station.job(first.id).patient_id == "EXT-4711"  # known once the job read it
    again = station.write_again(first.id)
    assert again.kind is JobKind.IMPORT and again.id != first.id
    assert finished(station, again.id) is JobState.DONE, station.job(again.id).error
    assert empty_pacs.instance_count() == 4 and patient_ids(empty_pacs) == {"EXT-4711"}


def test_disc_2_of_a_study_the_archive_partly_holds_is_imported(
        station: Station, tmp_path: Path, empty_pacs: Orthanc) -> None:
    images = outside_ct(6)
    for ds in images[:4]:  # disc 1, imported before
        empty_pacs.upload_dataset_bytes(synth.part10(ds))
    disc = write_disc(tmp_path / "disc", ct_files(images[2:]))
    job = station.create_import_job(disc.iso, station.import_plan(None))
    assert finished(station, job.id) is JobState.DONE, station.job(job.id).error
    assert empty_pacs.instance_count() == 6
    assert "holds all 4 instances sent" in station.job(job.id).progress.message


def test_an_archive_that_does_not_answer_is_tried_again_then_the_job_fails(
        tmp_path: Path) -> None:
    dead = cfg.Archive(name="pacs", ae_title="NOBODY", host="127.0.0.1", port=free_port(),
                       timeout=2)
    config = quick(dataclasses.replace(config_for(tmp_path), archives=(dead,)), [0.1])
    disc = write_disc(tmp_path / "disc", ct_files(outside_ct(3)))
    station = Station(config, receive=False, watch_devices=False)
    station.start()
    try:
        job = station.create_import_job(disc.iso, station.import_plan(LOCAL))
        assert finished(station, job.id) is JobState.FAILED
        failed = station.job(job.id)
        assert "not imported" in failed.error and "after 2 tries" in failed.error
        assert any("trying again" in m for _, _, m in station.job_history(job.id))
        assert next(e.action for e in station.audit.entries(job.id)) == "job failed"
    finally:
        station.stop()


def test_two_outside_patients_are_never_merged_into_one_local_patient(
        station: Station, tmp_path: Path, empty_pacs: Orthanc) -> None:
    other = synth.PatientInfo(name="Roe^Jane", patient_id="EXT-9", birth_date="19700101")
    files = ct_files(outside_ct(2)) | ct_files(outside_ct(2, patient=other), prefix="JR")
    disc = write_disc(tmp_path / "disc", files)
    job = station.create_import_job(disc.iso, station.import_plan(LOCAL))
    assert finished(station, job.id) is JobState.FAILED
    assert "holds 2 patients" in station.job(job.id).error
    assert empty_pacs.instance_count() == 0


def test_a_folder_without_dicom_fails_with_what_to_do(station: Station, tmp_path: Path) -> None:
    (tmp_path / "empty" / "docs").mkdir(parents=True)
    (tmp_path / "empty" / "docs" / "letter.txt").write_text("Dear colleague")
    job = station.create_import_job(tmp_path / "empty", station.import_plan(LOCAL))
    assert finished(station, job.id) is JobState.FAILED
    assert "holds no DICOM file" in station.job(job.id).error


def test_cancelling_an_import_while_it_sends(tmp_path: Path, empty_pacs: Orthanc) -> None:
    config = quick(config_for(tmp_path, empty_pacs), associations=1)
    disc = write_disc(tmp_path / "disc", ct_files(outside_ct(600, rows=16)))
    station = Station(config, receive=False, watch_devices=False)
    station.start()
    asked: list[int] = []

    def cancel_once_sending(job: Job) -> None:  # told on the sending thread
        if job.state is JobState.SENDING and job.progress.done > 0 and not asked:
            asked.append(job.id)
            station.cancel_job(job.id)

    station.on_job(cancel_once_sending)
    try:
        job = station.create_import_job(disc.iso, station.import_plan(LOCAL))
        assert finished(station, job.id) is JobState.CANCELLED, station.job_history(job.id)
        assert asked == [job.id]
        assert 0 < empty_pacs.instance_count() < 600
        assert next(e.action for e in station.audit.entries(job.id)) == "job cancelled"
    finally:
        station.stop()
