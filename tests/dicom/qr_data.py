"""Generated studies for the Query/Retrieve tests, loaded into real Orthancs over REST.

Several patients (one with a Latin-1 name, one written in UTF-8), multi-series studies of
small (32x32) images, an SR and a PDF, dates spread over three years. `STUDIES` describes
them so tests can compute the expected matches independently of any archive.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from mw_tui import config as cfg
from mw_tui.demo import synth
from tests.conftest import make_config
from tests.peers import Orthanc


@dataclass(frozen=True)
class Planned:
    key: str  # a short name for tests
    patient: synth.PatientInfo
    date: str
    accession: str
    description: str
    series: tuple[tuple[str, int], ...]  # (modality, images) per series; "SR"/"DOC" = 1 doc


PATIENTS = {
    "doe": synth.PatientInfo("Doe^John", "P001", "19600101", "M"),
    "jane": synth.PatientInfo("Doe^Jane", "P005", "19820202", "F"),
    "muller": synth.PatientInfo("Müller^Jürgen", "P002", "19751224", "M", "ISO_IR 100"),
    "odegard": synth.PatientInfo("Ødegård^Åse", "P003", "19881111", "F", "ISO_IR 192"),
    "smith": synth.PatientInfo("Smith^Anna", "P004", "19900505", "F"),
}

PLAN = (
    Planned("doe_ct", PATIENTS["doe"], "20240115", "ACC101", "CT chest",
            (("CT", 3), ("CT", 2), ("SR", 1), ("DOC", 1))),
    Planned("doe_mr", PATIENTS["doe"], "20240302", "ACC102", "MR knee", (("MR", 2),)),
    Planned("jane_mr", PATIENTS["jane"], "20220707", "ACC501", "MR head", (("MR", 2),)),
    Planned("muller_cr", PATIENTS["muller"], "20231231", "ACC201", "Thorax pa",
            (("CR", 2),)),
    Planned("muller_us", PATIENTS["muller"], "20240601", "ACC202", "Abdomen", (("US", 1),)),
    Planned("odegard_ct", PATIENTS["odegard"], "20240210", "ACC301", "CT abdomen",
            (("CT", 2), ("CT", 1))),
    Planned("smith_big", PATIENTS["smith"], "20240820", "ACC401", "CT long",
            (("CT", 24), ("CT", 16))),
)


@dataclass(frozen=True)
class Study:
    plan: Planned
    uid: str
    datasets: tuple[Dataset, ...]

    @property
    def series_uids(self) -> list[str]:
        return list(dict.fromkeys(str(d.SeriesInstanceUID) for d in self.datasets))

    @property
    def modalities(self) -> set[str]:
        return {str(d.Modality) for d in self.datasets}


def generate() -> dict[str, Study]:
    out = {}
    for p in PLAN:
        info = synth.StudyInfo(patient=p.patient, date=p.date, accession=p.accession,
                               description=p.description, study_uid=generate_uid(),
                               referring="Ref^Erin")
        datasets: list[Dataset] = []
        for number, (modality, count) in enumerate(p.series, 1):
            if modality == "SR":
                datasets.append(synth.basic_text_sr(info, "No findings.", series_number=number))
                continue
            if modality == "DOC":
                datasets.append(synth.encapsulated_pdf(info, synth.minimal_pdf("Report"),
                                                       series_number=number))
                continue
            series_uid = generate_uid()
            for i in range(1, count + 1):
                datasets.append(synth.image(info, modality, series_uid, number, i, 32, 32,
                                            series_description=f"{p.description} {number}"))
        out[p.key] = Study(p, info.study_uid, tuple(datasets))
    return out


part10 = synth.part10


def load(orthanc: Orthanc, studies: dict[str, Study], keys: list[str] | None = None) -> None:
    for key, study in studies.items():
        if keys is not None and key not in keys:
            continue
        for ds in study.datasets:
            orthanc.upload_dataset_bytes(part10(ds))


def archive_of(o: Orthanc, name: str = "pacs", retrieve: str = "move",
               timeout: float = 10.0) -> cfg.Archive:
    return cfg.Archive(name=name, ae_title=o.aet, host="127.0.0.1", port=o.dicom_port,
                       retrieve=retrieve, timeout=timeout)


def config_with(tmp: Path, *archives: cfg.Archive, **station: object) -> cfg.Config:
    return dataclasses.replace(make_config(tmp, **station), archives=tuple(archives))


def toml_for(config: cfg.Config) -> str:
    """The configuration as a TOML file (for the CLI tests)."""
    s = config.station
    lines = ["[station]", f'ae_title = "{s.ae_title}"', f"port = {s.port}",
             f'bind = "{s.bind}"', f'storage = "{s.storage}"', f"min_free_mb = {s.min_free_mb}",
             f"receiver_processes = {s.receiver_processes}", "", "[dicom]",
             f"client_timeout = {config.dicom.client_timeout}", ""]
    for a in config.archives:
        lines += ["[[archives]]", f'name = "{a.name}"', f'ae_title = "{a.ae_title}"',
                  f'host = "{a.host}"', f"port = {a.port}", f'retrieve = "{a.retrieve}"',
                  f"timeout = {a.timeout}", ""]
    return "\n".join(lines)


@contextmanager
def loaded_pacs(folder: Path, studies: dict[str, Study],
                keys: list[str] | None = None) -> Iterator[Orthanc]:
    """A real Orthanc holding `studies` (or those named by `keys`), killed afterwards."""
    o = Orthanc(folder).start()
    try:
        load(o, studies, keys)
        yield o
    finally:
        o.kill()


@pytest.fixture(scope="module")
def studies() -> dict[str, Study]:
    return generate()


@pytest.fixture(scope="module")
def pacs(tmp_path_factory: pytest.TempPathFactory,
         studies: dict[str, Study]) -> Iterator[Orthanc]:
    """Orthanc with every generated study (import this fixture in a test module)."""
    with loaded_pacs(tmp_path_factory.mktemp("pacs"), studies) as o:
        yield o
