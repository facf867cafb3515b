"""Every client path over DICOM TLS, against a real TLS archive that requires client
certificates (Orthanc with its DICOM TLS options): echo, find, retrieve by C-MOVE and by
C-GET, and the search for report objects; the same without this station's certificate
fails with a message about TLS. Through the command line, as a technician runs them."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mw_tui.demo import synth
from mw_tui.store import Store
from tests.peers import Orthanc, free_port, need
from tests.pki import issue

STATION_AE = "MW_TUI"
ROOT = Path(__file__).resolve().parents[2]


@dataclasses.dataclass
class SecurePacs:
    orthanc: Orthanc
    pki: Path
    study_uid: str
    instances: int  # images and the two report objects


@pytest.fixture(scope="module")
def secure_pacs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecurePacs]:
    need("openssl")
    pki = tmp_path_factory.mktemp("pki")
    issue(pki, "ca", "mw-tui test CA", None)
    issue(pki, "archive", "localhost", "ca", "DNS:localhost,IP:127.0.0.1")
    issue(pki, "station", STATION_AE, "ca")
    orthanc = Orthanc(tmp_path_factory.mktemp("secure-pacs"), settings={
        "DicomTlsEnabled": True,
        "DicomTlsCertificate": str(pki / "archive.crt"),
        "DicomTlsPrivateKey": str(pki / "archive.key"),
        "DicomTlsTrustedCertificates": str(pki / "ca.crt"),
        "DicomTlsRemoteCertificateRequired": True,
    }).start()
    try:
        study = synth.StudyInfo(patient=synth.PatientInfo("Secure^Sam", "TLS-1"))
        datasets = [synth.image(study, "CT", None, 1, i, 32, 32) for i in (1, 2, 3)]
        datasets.append(synth.basic_text_sr(study, "Nothing to report.", series_number=2))
        datasets.append(synth.encapsulated_pdf(study, synth.minimal_pdf("Report"),
                                               series_number=3))
        for ds in datasets:
            orthanc.upload_dataset_bytes(synth.part10(ds))
        yield SecurePacs(orthanc, pki, study.study_uid, len(datasets))
    finally:
        orthanc.stop()


def configure(folder: Path, pacs: SecurePacs, certificate: bool = True) -> Path:
    """A station with the archive twice (C-MOVE and C-GET), both over TLS; `certificate`:
    whether the station has a certificate of its own to show."""
    port = free_port()
    pacs.orthanc.add_modality("mwtui", STATION_AE, "127.0.0.1", port)  # the way back
    own = (f'certificate = "{pacs.pki / "station.crt"}"\nkey = "{pacs.pki / "station.key"}"\n'
           if certificate else "")
    archives = "".join(
        f'[[archives]]\nname = "{name}"\nae_title = "{pacs.orthanc.aet}"\nhost = "localhost"\n'
        f'port = {pacs.orthanc.dicom_port}\nretrieve = "{how}"\ntls = true\ntimeout = 10\n\n'
        for name, how in (("tlsmove", "move"), ("tlsget", "get")))
    path = folder / "config.toml"
    path.write_text(
        f'[station]\nae_title = "{STATION_AE}"\nport = {port}\nbind = "127.0.0.1"\n'
        f'storage = "{folder / "store"}"\nmin_free_mb = 1\nreceiver_processes = 1\n\n'
        f'[dicom]\nclient_timeout = 10\n\n[tls]\n{own}ca = "{pacs.pki / "ca.crt"}"\n\n'
        f"{archives}")
    return path


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mw_tui", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_echo_and_find_over_tls(tmp_path: Path, secure_pacs: SecurePacs) -> None:
    config = configure(tmp_path, secure_pacs)
    echo = cli(config, "echo")
    assert echo.returncode == 0, echo.stdout + echo.stderr
    found = cli(config, "find", "--patient-id", "TLS-1", "--json")
    assert found.returncode == 0, found.stderr
    (study,) = json.loads(found.stdout)
    assert study["StudyInstanceUID"] == secure_pacs.study_uid
    assert study["PatientName"] == "Secure^Sam"
    assert sorted(study["archives"]) == ["tlsget", "tlsmove"]


@pytest.mark.parametrize("archive", ["tlsmove", "tlsget"])
def test_retrieve_over_tls(tmp_path: Path, secure_pacs: SecurePacs, archive: str) -> None:
    config = configure(tmp_path, secure_pacs)
    proc = cli(config, "retrieve", "--archive", archive, secure_pacs.study_uid)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    store = Store(tmp_path / "store")
    row = store.index.study(secure_pacs.study_uid)
    assert row is not None and row.instances == secure_pacs.instances
    store.close()


def test_report_objects_are_found_and_fetched_over_tls(tmp_path: Path,
                                                       secure_pacs: SecurePacs) -> None:
    config = configure(tmp_path, secure_pacs)
    proc = cli(config, "reports", secure_pacs.study_uid, "--archive", "tlsget", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    reports = json.loads(proc.stdout)
    assert sorted(r["source"] for r in reports) == ["pdf", "sr"]
    assert all(r["origin"] == "tlsget" and r["added"] for r in reports)
    assert next(r for r in reports if r["source"] == "sr")["text"] == "Nothing to report."


def test_without_the_station_certificate_the_archive_refuses_and_it_is_said(
        tmp_path: Path, secure_pacs: SecurePacs) -> None:
    config = configure(tmp_path, secure_pacs, certificate=False)
    found = cli(config, "find", "--patient-id", "TLS-1", "--archive", "tlsmove")
    assert found.returncode == 1
    assert "ended the DICOM TLS session before answering" in found.stderr, found.stderr
    assert "Check [tls] certificate, key and ca" in found.stderr
    echo = cli(config, "echo", "tlsget")
    assert echo.returncode == 1 and "DICOM TLS session" in echo.stdout + echo.stderr
    retrieve = cli(config, "retrieve", "--archive", "tlsget", secure_pacs.study_uid)
    assert retrieve.returncode == 1
    assert "DICOM TLS session" in retrieve.stdout + retrieve.stderr
