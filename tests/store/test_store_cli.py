"""`mw-tui studies`, `store check` and `store reindex` on a store filled by the receiver."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pydicom
from pydicom.uid import generate_uid

from mw_tui import config as cfg
from mw_tui.demo import synth
from mw_tui.dicom.scp import Receiver
from tests.conftest import make_config
from tests.peers import dcmtk


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mw_tui", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=120)


def fill(tmp_path: Path) -> tuple[Path, cfg.Config, list[Path]]:
    config = make_config(tmp_path)
    path = tmp_path / "config.toml"
    path.write_text(f'[station]\nstorage = "{config.station.storage}"\n')
    study = synth.StudyInfo(
        patient=synth.PatientInfo("Müller^Jürgen", "P42", "19600229", "M", "ISO_IR 100"),
        accession="A77", description="Thorax", date="20260315")
    series = {1: generate_uid(), 2: generate_uid()}
    files = [synth.save(synth.image(study, "CT", series[s], s, i), tmp_path / f"in/{s}_{i}.dcm")
             for s in (1, 2) for i in (1, 2, 3)]
    files.append(synth.save(synth.basic_text_sr(study, "No findings."), tmp_path / "in/sr.dcm"))
    with Receiver(config) as r:
        dcmtk("storescu", "-aec", "MW_TUI", "127.0.0.1", str(r.port), *map(str, files))
    return path, config, files


def test_studies_json_is_keyed_by_dicom_keyword(tmp_path: Path) -> None:
    path, _, files = fill(tmp_path)
    proc = cli(path, "studies", "--json")
    assert proc.returncode == 0, proc.stderr
    (study,) = json.loads(proc.stdout)
    assert study["PatientName"] == "Müller^Jürgen"
    assert study["PatientID"] == "P42"
    assert study["PatientBirthDate"] == "19600229"
    assert study["StudyDate"] == "20260315"
    assert study["StudyDescription"] == "Thorax"
    assert study["AccessionNumber"] == "A77"
    assert study["ModalitiesInStudy"] == ["CT", "SR"]
    assert study["NumberOfStudyRelatedInstances"] == 7
    assert study["StudyInstanceUID"] == str(pydicom.dcmread(files[0]).StudyInstanceUID)
    assert study["size_bytes"] == sum(p.stat().st_size for p in
                                      (tmp_path / "store" / "studies").rglob("*.dcm"))
    table = cli(path, "studies")
    assert "Müller^Jürgen" in table.stdout and "CT/SR" in table.stdout


def test_store_check_and_reindex(tmp_path: Path) -> None:
    path, _, _ = fill(tmp_path)
    assert cli(path, "store", "check").returncode == 0
    # lose the index entirely: reindex rebuilds it from the files
    for p in (tmp_path / "store").glob("index.sqlite*"):
        p.unlink()
    broken = cli(path, "store", "check")
    assert broken.returncode == 1 and "7 files not in the index" in broken.stdout
    rebuilt = cli(path, "store", "reindex")
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert "1 studies, 3 series, 7 instances" in rebuilt.stdout
    assert cli(path, "store", "check").returncode == 0
    studies = json.loads(cli(path, "studies", "--json").stdout)
    assert studies[0]["PatientName"] == "Müller^Jürgen"
    # a file deleted behind the station's back is reported, then forgotten by reindex
    victim = next((tmp_path / "store" / "studies").rglob("*.dcm"))
    victim.unlink()
    report = cli(path, "store", "check")
    assert report.returncode == 1 and "1 index entries without a file" in report.stdout
    assert cli(path, "store", "reindex").returncode == 0
    assert json.loads(cli(path, "studies", "--json").stdout)[0][
        "NumberOfStudyRelatedInstances"] == 6
