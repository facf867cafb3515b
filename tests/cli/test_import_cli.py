"""`mw-tui import` end to end: an ISO made by dcmmkdir + genisoimage, listed (`--list`,
`--json`), reconciled against a real Orthanc that knows the patient under its local ID,
imported as a job (exit 0 only when the archive holds every instance sent), and the mistakes a
user can make, each with its message and exit code."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest

from mw_tui import config as cfg
from mw_tui.demo import synth
from tests.conftest import make_config, write_config
from tests.importing.conftest import OUTSIDE, Disc, ct_files, outside_ct, write_disc
from tests.peers import Orthanc


@pytest.fixture(scope="module")
def disc(tmp_path_factory: pytest.TempPathFactory) -> Disc:
    """6 outside CT images and one truncated file, on a dcmmkdir + genisoimage ISO."""
    files = ct_files(outside_ct(6))
    files["DICOM/BROKEN"] = next(iter(files.values()))[:400]
    return write_disc(tmp_path_factory.mktemp("cli-disc"), files, lenient=True)


@pytest.fixture
def pacs(tmp_path: Path) -> Iterator[Orthanc]:
    """Orthanc knowing the outside patient under this hospital's ID, LOC-77."""
    o = Orthanc(tmp_path / "orthanc").start()
    try:
        local = dataclasses.replace(OUTSIDE, patient_id="LOC-77")
        ds = synth.image(synth.StudyInfo(patient=local), "CT", None, 1, 1, 16, 16)
        o.upload(synth.save(ds, tmp_path / "earlier.dcm"))
        yield o
    finally:
        o.stop()


def cli(tmp_path: Path, o: Orthanc | None, *args: str) -> subprocess.CompletedProcess[str]:
    config = make_config(tmp_path)
    if o is not None:
        config = dataclasses.replace(config, archives=(cfg.Archive(
            name="pacs", ae_title=o.aet, host="127.0.0.1", port=o.dicom_port),))
    path = write_config(config, tmp_path / "config.toml")
    return subprocess.run([sys.executable, "-m", "mw_tui", "--config", str(path), "import",
                           *args], capture_output=True, text=True, timeout=300)


def stored(o: Orthanc) -> list[pydicom.Dataset]:
    out = []
    for iid in o.get("/instances"):
        with urllib.request.urlopen(f"{o.url}/instances/{iid}/file", timeout=30) as rsp:
            out.append(pydicom.dcmread(io.BytesIO(rsp.read())))
    return out


def test_list_json_is_an_array_of_studies_with_their_files(tmp_path: Path, disc: Disc) -> None:
    proc = cli(tmp_path, None, str(disc.iso), "--list", "--json")
    assert proc.returncode == 0, proc.stderr
    studies = json.loads(proc.stdout)
    (study, stray) = studies
    assert (study["PatientName"], study["PatientID"], study["IssuerOfPatientID"]) == (
        "Doe^John", "EXT-4711", "OTHER_HOSPITAL")
    assert study["NumberOfStudyRelatedInstances"] == 6 and study["ModalitiesInStudy"] == ["CT"]
    assert sorted(study["files"]) == [f"DICOM/CT{i:06d}" for i in range(1, 7)]
    assert stray["StudyInstanceUID"] is None
    assert [u["file"] for u in stray["unreadable"]] == ["DICOM/BROKEN"]
    assert "truncated" in stray["unreadable"][0]["reason"]


def test_list_shows_the_medium_and_nothing_is_sent(tmp_path: Path, disc: Disc,
                                                   pacs: Orthanc) -> None:
    proc = cli(tmp_path, pacs, str(disc.iso), "--list")
    assert proc.returncode == 0, proc.stderr
    assert "Doe^John  EXT-4711 (OTHER_HOSPITAL)  born 19600214" in proc.stdout
    assert "6 instances" in proc.stdout and "DICOM/BROKEN: truncated" in proc.stdout
    assert pacs.instance_count() == 1


def test_without_a_local_id_it_proposes_the_patient_and_asks(tmp_path: Path, disc: Disc,
                                                             pacs: Orthanc) -> None:
    proc = cli(tmp_path, pacs, str(disc.iso))
    assert proc.returncode == 2
    assert "LOC-77  Doe^John  born 19600214  name and birth date  on pacs" in proc.stdout
    assert "--patient-id LOC-77" in proc.stderr and "--keep-ids" in proc.stderr
    assert pacs.instance_count() == 1


def test_import_as_the_local_patient_counted_on_the_archive(tmp_path: Path, disc: Disc,
                                                            pacs: Orthanc) -> None:
    proc = cli(tmp_path, pacs, str(disc.iso), "--patient-id", "LOC-77", "--issuer", "OURS",
               "--to", "pacs")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "job 1 done: pacs holds all 6 instances sent (1 studies)." in proc.stdout
    assert "6 instances of 1 studies on iso file" in proc.stdout
    assert "1 files cannot be imported" in proc.stdout
    imported = [ds for ds in stored(pacs) if ds.StudyDescription == "Outside CT"]
    assert len(imported) == 6
    for ds in imported:
        assert (ds.PatientID, ds.IssuerOfPatientID) == ("LOC-77", "OURS")
        (other,) = ds.OtherPatientIDsSequence
        assert (other.PatientID, other.IssuerOfPatientID) == ("EXT-4711", "OTHER_HOSPITAL")
    # the job is in the station's history, as an import
    jobs = subprocess.run([sys.executable, "-m", "mw_tui", "--config",
                           str(tmp_path / "config.toml"), "jobs", "--json"],
                          capture_output=True, text=True, timeout=60)
    (job,) = json.loads(jobs.stdout)
    assert (job["kind"], job["state"], job["target"], job["patient_id"]) == (
        "import", "done", "pacs", "LOC-77")
    assert job["source"] == str(disc.iso)


@pytest.mark.parametrize(("args", "code", "said"), [
    (["--keep-ids", "--patient-id", "X"], 2, "--keep-ids keeps the outside identifiers"),
    (["--patient-id", "X", "--to", "nowhere"], 2, "No archive named 'nowhere'"),
    (["--patient-id", "A\\B"], 2, "no backslash"),
])
def test_mistakes_are_named(tmp_path: Path, disc: Disc, pacs: Orthanc, args: list[str],
                            code: int, said: str) -> None:
    proc = cli(tmp_path, pacs, str(disc.iso), *args)
    assert (proc.returncode, said in proc.stderr) == (code, True), proc.stderr
    assert pacs.instance_count() == 1


def test_a_source_that_is_not_there(tmp_path: Path) -> None:
    proc = cli(tmp_path, None, str(tmp_path / "nothing.iso"), "--list")
    assert proc.returncode == 1
    assert "cannot be read" in proc.stderr and "Traceback" not in proc.stderr


def test_keep_ids_with_json_prints_the_finished_job(tmp_path: Path, disc: Disc,
                                                    pacs: Orthanc) -> None:
    proc = cli(tmp_path, pacs, str(disc.iso), "--keep-ids", "--json")
    assert proc.returncode == 0, proc.stderr
    job = json.loads(proc.stdout)
    assert (job["kind"], job["state"], job["patient_id"]) == ("import", "done", "EXT-4711")
    assert "done: pacs holds all 6 instances" in proc.stderr
    assert {ds.PatientID for ds in stored(pacs)} == {"LOC-77", "EXT-4711"}
