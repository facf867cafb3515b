"""Fixtures for the demo archive: the tiny sample set (generated once per session), a
running archive on a free port, and an oracle read straight from the files."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.filereader import _read_file_meta_info, read_preamble

from mw_tui.demo.archive import ArchiveEvent, DemoArchive
from mw_tui.demo.samples import Profile, ensure_samples


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo-data")
    ensure_samples(folder, Profile.TINY)
    return folder


@pytest.fixture(scope="module")
def archive(demo_data: Path) -> Iterator[DemoArchive]:
    """A running demo archive (shared by a module's tests: stopping takes up to 0.5 s);
    `archive.events` collects what it reported."""
    events: list[ArchiveEvent] = []
    a = DemoArchive(demo_data, samples_profile=Profile.TINY, on_event=events.append)
    a.events = events  # type: ignore[attr-defined]
    a.start()
    try:
        yield a
    finally:
        a.stop()


@dataclass
class OracleSeries:
    uid: str
    modality: str
    description: str
    number: str
    files: list[Path] = field(default_factory=list)


@dataclass
class OracleStudy:
    uid: str
    first: Dataset  # the header of one of its files (patient and study attributes)
    series: dict[str, OracleSeries] = field(default_factory=dict)

    @property
    def modalities(self) -> set[str]:
        return {s.modality for s in self.series.values() if s.modality}

    @property
    def files(self) -> list[Path]:
        return [f for s in self.series.values() for f in s.files]


def read_oracle(folder: Path) -> dict[str, OracleStudy]:
    """The studies in `folder`, read with pydicom alone (independent of the archive code)."""
    studies: dict[str, OracleStudy] = {}
    files = sorted(p for p in folder.rglob("*") if p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts)
                   and p.suffix not in (".json", ".lock"))
    for path in files:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        study = studies.setdefault(ds.StudyInstanceUID, OracleStudy(ds.StudyInstanceUID, ds))
        series = study.series.setdefault(ds.SeriesInstanceUID, OracleSeries(
            ds.SeriesInstanceUID, ds.get("Modality", ""), ds.get("SeriesDescription", ""),
            str(ds.get("SeriesNumber", ""))))
        series.files.append(path)
    return studies


@pytest.fixture(scope="session")
def oracle(demo_data: Path) -> dict[str, OracleStudy]:
    return read_oracle(demo_data)


def dataset_bytes(path: Path) -> bytes:
    """The data set of a Part 10 file, without preamble and file meta information."""
    raw = path.read_bytes()
    fp = io.BytesIO(raw)
    read_preamble(fp, False)
    _read_file_meta_info(fp)
    return raw[fp.tell():]
