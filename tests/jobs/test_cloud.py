"""A job to `cloud:NAME` through the runner: retrieved from one Orthanc, sent with STOW-RS
to another (its DICOMweb plugin), confirmed there with QIDO-RS."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from mw_tui import config as cfg
from mw_tui.jobs.models import JobState, StudyRef
from mw_tui.station import Station
from tests.jobs.conftest import Archive, station_config
from tests.peers import Orthanc, wait_until


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Orthanc]:
    o = Orthanc(tmp_path / "cloud", aet="CLOUD", dicomweb=True).start()
    try:
        yield o
    finally:
        o.stop()


def instances_of(orthanc: Orthanc, study_uid: str) -> set[str]:
    query = {"Level": "Instance", "Query": {"StudyInstanceUID": study_uid}, "Expand": True}
    found = orthanc.request("POST", "/tools/find", json.dumps(query).encode())
    return {i["MainDicomTags"]["SOPInstanceUID"] for i in found}


def test_a_job_to_a_cloud_target(tmp_path: Path, archive: Archive, cloud: Orthanc) -> None:
    config = station_config(tmp_path, archive)
    config = dataclasses.replace(config, targets=(
        cfg.CloudTarget(name="regional", url=f"{cloud.url}/dicom-web", timeout=30,
                        external=False),))  # the hospital's own: identified data may go
    station = Station(config, watch_devices=False)
    station.start()
    try:
        uid, n = next(iter(archive.studies.items()))
        job = station.create_job([StudyRef(uid, "orthanc", n)], "cloud:regional")
        job = wait_until(lambda: station.jobs.get(job.id) if station.jobs.get(job.id).state
                         .finished else None, 120, "the job to finish")
        assert job.state is JobState.DONE, job.error
        held = instances_of(archive.orthanc, uid)
        assert len(held) == n and instances_of(cloud, uid) == held  # every one, the same
        states = [s for _, s, _ in station.jobs.events(job.id)]
        assert "waiting for media" not in states  # nothing to insert for a cloud target
        (written,) = [e for e in station.audit.entries(job.id) if e.action == "medium written"]
        assert written.result == "verified" and written.target == "cloud:regional"
        assert written.details == f"{cloud.url}/dicom-web"  # where they went
    finally:
        station.stop()
