"""Outside media made by other tools (dcmtk dcmmkdir, genisoimage), never by mw-tui, a
real Orthanc to import into, and `send_and_count`: an import job's two steps in one call."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydicom.dataset import Dataset

from mw_tui import config as cfg
from mw_tui.demo import synth
from mw_tui.importing import ArchiveCount, ImportPlan, Medium, SendResult, count_on_archive, send
from tests.conftest import make_config
from tests.devices.conftest import loops, udev  # noqa: F401 - shared fixtures
from tests.peers import PYDICOM_TEST_FILES, Orthanc, dcmtk, need

OUTSIDE = synth.PatientInfo(name="Doe^John", patient_id="EXT-4711", birth_date="19600214",
                            sex="M")
OUTSIDE_ISSUER = "OTHER_HOSPITAL"
# pydicom's own files, one per SOP instance (MR_small_* share theirs), in many transfer
# syntaxes: explicit/implicit/big endian, deflated, JPEG, JPEG 2000, RLE; RT, ECG, SR
PYDICOM_FILES = ("CT_small.dcm", "MR_small_bigendian.dcm", "JPEG2000.dcm", "SC_rgb_rle.dcm",
                 "image_dfl.dcm", "JPEG-lossy.dcm", "rtplan.dcm", "waveform_ecg.dcm",
                 "test-SR.dcm", "SC_rgb_jpeg_dcmtk.dcm")


@dataclass
class Disc:
    tree: Path  # the files, with the DICOMDIR dcmmkdir wrote
    iso: Path  # genisoimage's image of the tree
    files: dict[str, Path]  # file ID ("DICOM/CT000001") -> the file in `tree`


def outside_ct(count: int, rows: int = 32, patient: synth.PatientInfo = OUTSIDE,
               issuer: str = OUTSIDE_ISSUER, description: str = "Outside CT") -> list[Dataset]:
    """One study of CT images as another hospital sent them (with its issuer)."""
    study = synth.StudyInfo(patient=patient, description=description, accession="OUT777")
    series = None
    out = []
    for i in range(1, count + 1):
        ds = synth.image(study, "CT", series, 1, i, rows, rows)
        series = ds.SeriesInstanceUID
        if issuer:
            ds.IssuerOfPatientID = issuer
        out.append(ds)
    return out


def write_disc(folder: Path, files: dict[str, bytes], label: str = "OUTSIDE",
               dicomdir: bool = True, lenient: bool = False) -> Disc:
    """`files` (file ID -> Part 10 bytes) on a disc: DICOMDIR by dcmmkdir, ISO 9660 +
    Joliet by genisoimage, as another hospital's station burns them."""
    need("dcmmkdir", "genisoimage")
    tree = folder / "tree"
    written = {}
    for file_id, data in files.items():
        path = tree / file_id
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written[file_id] = path
    if dicomdir:
        tops = sorted({f.split("/")[0] for f in files})
        extra = ["+I", "-Nxc", "-Nec", "-Nrc", "+Nrs", "-W"] if lenient else ["+I"]
        dcmtk("dcmmkdir", "+r", "-Pgp", *extra, "-q", "+F", label, *tops, cwd=tree)
    iso = folder / f"{label}.iso"
    subprocess.run(["genisoimage", "-quiet", "-J", "-V", label, "-o", str(iso), str(tree)],
                   check=True, capture_output=True, timeout=120)
    return Disc(tree, iso, written)


def ct_files(datasets: list[Dataset], folder: str = "DICOM", prefix: str = "CT"
             ) -> dict[str, bytes]:
    return {f"{folder}/{prefix}{i:06d}": synth.part10(ds) for i, ds in enumerate(datasets, 1)}


def pydicom_files() -> dict[str, bytes]:
    return {f"PYD/F{i:07d}": (PYDICOM_TEST_FILES / name).read_bytes()
            for i, name in enumerate(PYDICOM_FILES, 1)}


@pytest.fixture(scope="module")
def ct_disc(tmp_path_factory: pytest.TempPathFactory) -> Disc:
    """12 outside CT images plus pydicom's test files, on a dcmmkdir + genisoimage disc."""
    files = ct_files(outside_ct(12)) | pydicom_files()
    return write_disc(tmp_path_factory.mktemp("ct-disc"), files, lenient=True)


@pytest.fixture(scope="module")
def pacs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    """A real Orthanc (with DICOMweb) shared by a module's tests; `empty_pacs` clears it."""
    o = Orthanc(tmp_path_factory.mktemp("orthanc"), dicomweb=True).start()
    try:
        yield o
    finally:
        o.stop()


def clear(o: Orthanc) -> None:
    for pid in o.get("/patients"):
        o.request("DELETE", f"/patients/{pid}")


@pytest.fixture
def empty_pacs(pacs: Orthanc) -> Orthanc:
    clear(pacs)
    return pacs


def config_for(tmp: Path, o: Orthanc | None = None, **importing: object) -> cfg.Config:
    """The station's configuration with `o` as archive "pacs" and cloud target "web"."""
    base = make_config(tmp)
    archives: tuple[cfg.Archive, ...] = ()
    targets: tuple[cfg.Target, ...] = ()
    if o is not None:
        archives = (cfg.Archive(name="pacs", ae_title=o.aet, host="127.0.0.1",
                                port=o.dicom_port),)
        targets = (cfg.CloudTarget(name="web", url=o.url + "/dicom-web"),)
    values = {"mount_folder": str(tmp / "mnt")}
    return cfg.Config(station=base.station, archives=archives, targets=targets,
                      devices=cfg.DevicesConfig(**values),  # type: ignore[arg-type]
                      importing=cfg.ImportingConfig(**importing))  # type: ignore[arg-type]


def copy_tree(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest


@dataclass(frozen=True)
class Imported:
    sent: SendResult
    count: ArchiveCount | None  # None when the send did not succeed (nothing to check)

    @property
    def ok(self) -> bool:
        return self.sent.ok and self.count is not None and self.count.ok

    @property
    def message(self) -> str:
        if self.count is None:
            return self.sent.message
        return self.count.message if not self.count.ok else (
            f"{self.sent.message} {self.count.message}")


def send_and_count(config: cfg.Config, medium: Medium, plan: ImportPlan,
                   **kw: Any) -> Imported:
    """What an import job's SENDING and COUNTING steps do: `send` (`kw` are its keyword
    arguments), then `count_on_archive` when every instance went."""
    result = send(config, medium, plan, **kw)
    if not result.ok:
        return Imported(result, None)
    return Imported(result, count_on_archive(config, plan.destination, result.expected))
