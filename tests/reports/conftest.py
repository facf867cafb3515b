"""Fixtures for the report tests: a store holding a study's images, a running broker."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

from mw_tui import config as cfg
from mw_tui.demo import synth
from mw_tui.standard import sop
from mw_tui.store import Store
from tests.conftest import make_config
from tests.reports.broker import Broker

PATIENT = synth.PatientInfo("Ødegård^Åse", "P003", "19881111", "F", "ISO_IR 192")


def encode(ds: Dataset, ts: str = sop.EXPLICIT_VR_LE) -> bytes:
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = ts == sop.IMPLICIT_VR_LE
    write_dataset(fp, ds)
    return fp.getvalue()


def put(store: Store, ds: Dataset, ts: str = sop.EXPLICIT_VR_LE) -> None:
    store.store_bytes(ds.SOPClassUID, ds.SOPInstanceUID, ts, encode(ds, ts))


def put_images(store: Store, study: synth.StudyInfo, count: int = 2) -> list[Dataset]:
    series = synth.generate_uid()
    out = []
    for i in range(1, count + 1):
        ds = synth.image(study, "CT", series, 3, i, 16, 16)
        ds.InstitutionName = "St. Elsewhere"
        put(store, ds, sop.IMPLICIT_VR_LE)
        out.append(ds)
    return out


def source_for(broker: Broker, name: str = "broker", **kw: object) -> cfg.ReportSource:
    values: dict[str, object] = {"name": name, "ae_title": broker.ae_title,
                                 "host": "127.0.0.1", "port": broker.port, "timeout": 5.0}
    values.update(kw)
    return cfg.ReportSource(**values)  # type: ignore[arg-type]


def config_for(tmp: Path, sources: tuple[cfg.ReportSource, ...] = (),
               archives: tuple[cfg.Archive, ...] = ()) -> cfg.Config:
    return dataclasses.replace(make_config(tmp), report_sources=sources, archives=archives)


@pytest.fixture
def study() -> synth.StudyInfo:
    return synth.StudyInfo(patient=PATIENT, accession="ACC301", description="CT abdomen",
                           date="20240210", time="083000")


@pytest.fixture
def store(tmp_path: Path, study: synth.StudyInfo) -> Iterator[Store]:
    s = Store(tmp_path / "store")
    put_images(s, study)
    yield s
    s.close()


@pytest.fixture
def broker() -> Iterator[Broker]:
    b = Broker().start()
    yield b
    b.stop()
