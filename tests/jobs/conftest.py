"""Fixtures for the job tests: a real Orthanc holding studies, a station that knows it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom.uid import generate_uid

from mw_tui import config as cfg
from mw_tui.demo import synth
from tests.conftest import make_config
from tests.devices.conftest import Loops, loops, udev  # noqa: F401 - shared fixtures
from tests.importing.conftest import empty_pacs, pacs  # noqa: F401 - shared fixtures
from tests.peers import Orthanc

STATION_AE = "MW_TUI"


@dataclasses.dataclass
class Archive:
    orthanc: Orthanc
    studies: dict[str, int]  # study UID -> instances


def make_study(folder: Path, patient: str, pid: str, series: int = 2, per_series: int = 3,
               with_report: bool = True, size: int = 32) -> list[Path]:
    study = synth.StudyInfo(patient=synth.PatientInfo(patient, pid, charset="ISO_IR 192"),
                            description=f"Study of {pid}")
    files = []
    for s in range(1, series + 1):
        uid = generate_uid()
        for i in range(1, per_series + 1):
            files.append(synth.save(synth.image(study, "CT", uid, s, i, size, size),
                                    folder / f"{pid}_{s}_{i}.dcm"))
    if with_report:
        files.append(synth.save(synth.basic_text_sr(study, "No acute findings."),
                                folder / f"{pid}_sr.dcm"))
    return files


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[Archive]:
    """Orthanc with two studies; it knows the station (AE MW_TUI) as a move destination,
    at a port chosen later (`station_config` registers it)."""
    o = Orthanc(tmp_path / "orthanc").start()
    studies = {}
    try:
        for patient, pid in (("Nowak^Zofia", "P100"), ("Οικονόμου^Νίκος", "P200")):
            files = make_study(tmp_path / "in", patient, pid)
            for f in files:
                o.upload(f)
            import pydicom

            studies[str(pydicom.dcmread(files[0]).StudyInstanceUID)] = len(files)
        yield Archive(o, studies)
    finally:
        o.stop()


CRASH_INSTANCES = 240


@pytest.fixture(scope="session")
def big_study(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Orthanc, str]]:
    """Orthanc holding one JPEG 2000 study large enough for each step of a job to take a
    while (the crash tests kill the station in each of them)."""
    from pydicom.uid import JPEG2000Lossless

    folder = tmp_path_factory.mktemp("crash")
    study = synth.StudyInfo(patient=synth.PatientInfo("Crash^Test", "P666"))
    series = generate_uid()
    o = Orthanc(folder / "orthanc").start()
    try:
        for i in range(1, CRASH_INSTANCES + 1):
            ds = synth.image(study, "CT", series, 1, i, 256, 256)
            path = synth.save(ds, folder / "in" / f"{i}.dcm")
            ds.compress(JPEG2000Lossless)
            ds.save_as(path, enforce_file_format=True)
            o.upload(path)
        yield o, study.study_uid
    finally:
        o.stop()


def station_config(tmp_path: Path, archive: Archive | None = None,
                   retry_delays: list[float] | None = None, **devices: object) -> cfg.Config:
    config = make_config(tmp_path, ae_title=STATION_AE)
    archives: tuple[cfg.Archive, ...] = ()
    if archive is not None:
        o = archive.orthanc
        o.add_modality("mwtui", STATION_AE, "127.0.0.1", config.station.port)
        archives = (cfg.Archive(name="orthanc", ae_title=o.aet, host="127.0.0.1",
                                port=o.dicom_port, timeout=10),)
    jobs = dataclasses.replace(config.jobs, retry_delays=retry_delays or [0.2, 0.2],
                               syslog=False)
    out = dataclasses.replace(config, archives=archives, jobs=jobs,
                              dicom=dataclasses.replace(config.dicom, client_timeout=5))
    if devices:
        out = dataclasses.replace(out, devices=dataclasses.replace(out.devices, **devices))
    return out
