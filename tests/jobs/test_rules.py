"""Auto-rules on studies pushed by storescu: a rule for one modality fires only for a study
of that modality, and its job has the rule's profile and copies (two discs written, JPEG
2000 kept as it arrived, as STD-GEN-DVD-J2K allows)."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pycdlib
import pydicom
import pytest
from pydicom.uid import JPEG2000Lossless, generate_uid

from mw_tui import config as cfg
from mw_tui.demo import synth
from mw_tui.station import Station
from tests.devices.conftest import Loops, settle
from tests.jobs.conftest import station_config
from tests.jobs.media import asks, done, md5_of_start, swap_disc
from tests.peers import dcmtk, need, wait_until

pytestmark = pytest.mark.root

DISC = 8 << 20


def push(station: Station, folder: Path, modality: str, pid: str) -> str:
    """A study of `modality` (JPEG 2000 lossless images) sent by CT01/MR01 with storescu."""
    study = synth.StudyInfo(patient=synth.PatientInfo(f"Rule^{pid}", pid))
    series = generate_uid()
    files = []
    for i in (1, 2, 3):
        ds = synth.image(study, modality, series, 1, i, 64, 64)
        path = synth.save(ds, folder / f"{pid}_{i}.dcm")
        ds.compress(JPEG2000Lossless)
        ds.save_as(path, enforce_file_format=True)
        files.append(str(path))
    dcmtk("storescu", "-xv", "-aet", f"{modality}01", "-aec", "MW_TUI", "127.0.0.1",
          str(station.receiver.port), *files)
    return study.study_uid


def disc_transfer_syntaxes(disc: Path, size: int) -> set[str]:
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(disc.read_bytes()[:size]))
    found = set()
    for root, _, names in iso.walk(iso_path="/DICOM"):
        for name in names:
            out = io.BytesIO()
            iso.get_file_from_iso_fp(out, iso_path=f"{root}/{name}")
            found.add(str(pydicom.dcmread(io.BytesIO(out.getvalue()), stop_before_pixels=True)
                          .file_meta.TransferSyntaxUID))
    iso.close()
    return found


def test_a_modality_rule_writes_its_copies_with_its_profile(tmp_path: Path, udev: None,
                                                             loops: Loops) -> None:
    need("xorriso", "storescu")
    first = loops.file("drive", DISC)
    drive = loops.attach(first)
    settle()
    config = station_config(tmp_path, drive=drive)
    config = dataclasses.replace(config, rules=(cfg.Rule(
        name="mr-discs", target=f"disc:{drive}", modality="MR", profile="STD-GEN-DVD-J2K",
        copies=2, quiet_seconds=1),))
    station = Station(config, watch_devices=True)
    station.start()
    try:
        ct = push(station, tmp_path / "ct", "CT", "CT1")
        mr = push(station, tmp_path / "mr", "MR", "MR1")
        job = wait_until(lambda: station.jobs.list()[0] if station.jobs.list() else None, 30,
                         "the rule's job")
        assert (job.rule, job.profile, job.copies) == ("mr-discs", "STD-GEN-DVD-J2K", 2)
        assert [s.study_uid for s in job.studies] == [mr]
        asks(station, job.id, f"into {drive} (disc 1 of 1, copy 2 of 2)")
        second = loops.file("drive", DISC)
        swap_disc(loops, drive, second)
        job = done(station, job.id)
        (volume,) = job.volumes
        assert volume.written == 2
        for disc in (first, second):
            assert md5_of_start(disc, volume.size) == volume.md5
        assert disc_transfer_syntaxes(second, volume.size) == {JPEG2000Lossless}
        assert station.store.index.study(ct) is not None  # received, but no rule for CT
        assert len(station.jobs.list()) == 1
    finally:
        station.stop()
