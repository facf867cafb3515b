"""A store filled through the real receiver (dcmtk storescu): every pydicom test file it
accepts (with the extra transfer syntaxes and SOP classes they need configured) plus
generated studies with non-ASCII names, SR and PDF reports, presentation states and key
objects lacking type 1 keys, and compressed images in every family."""

from __future__ import annotations

import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.filereader import _read_file_meta_info, read_preamble
from pydicom.uid import generate_uid

from mw_tui.demo import synth
from mw_tui.dicom.scp import Receiver
from mw_tui.standard import sop
from mw_tui.store import Store
from tests.conftest import EXTRA_TS, make_config, with_dicom
from tests.media import images as imaging
from tests.peers import PYDICOM_TEST_FILES, STORESCU_PROPOSE, dcmtk

GSPS = "1.2.840.10008.5.1.4.1.1.11.1"
KO = "1.2.840.10008.5.1.4.1.1.88.59"
EXTRA_CLASSES = [
    "1.2.840.10008.5.1.4.1.1.481.2",  # RT Dose
    "1.2.840.10008.5.1.4.1.1.481.5",  # RT Plan
    "1.2.840.10008.5.1.4.1.1.66.4",  # Segmentation
    "1.2.840.10008.5.1.4.1.1.9.1.1",  # 12-lead ECG
    GSPS, KO,
    imaging.ENHANCED_MR,  # multi-frame, its window in its functional groups
]
LATIN1_NAME = "Müller^Jürgen"
UTF8_NAME = "Ωμέγα^Ελένη"


@dataclass
class Corpus:
    """The filled store and what went into it."""

    root: Path
    generated: dict[str, str] = field(default_factory=dict)  # name -> study UID
    pydicom_studies: list[str] = field(default_factory=list)
    corrupt_study: str = ""

    @cached_property
    def store(self) -> Store:
        return Store(self.root)

    @property
    def good_studies(self) -> list[str]:
        """Every study that every profile can write."""
        return [*self.generated.values(), *self.pydicom_studies]


def transfer_syntax(path: Path) -> str:
    with open(path, "rb") as f:
        read_preamble(f, False)
        return str(_read_file_meta_info(f).TransferSyntaxUID)


def pydicom_files() -> list[Path]:
    """pydicom's test files that dcmtk can read and that carry the identifying UIDs."""
    out = []
    for f in sorted(PYDICOM_TEST_FILES.glob("*.dcm")):
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True)
            ts = ds.file_meta.TransferSyntaxUID
        except Exception:
            continue
        if not ts or str(ts) not in STORESCU_PROPOSE or not all(
                ds.get(k) for k in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")):
            continue
        if ds.SOPClassUID not in sop.STORAGE_SOP_CLASSES and ds.SOPClassUID not in EXTRA_CLASSES:
            continue
        if subprocess.run(["dcmdump", "-q", str(f)], capture_output=True).returncode != 0:
            continue  # dcmtk itself cannot read it, so cannot send it
        out.append(f)
    return out


def generate(folder: Path) -> tuple[dict[str, str], list[Path], str]:
    """Generated studies: (name -> study UID, files, UID of the corrupt study)."""
    files: list[Path] = []
    latin = synth.StudyInfo(patient=synth.PatientInfo(LATIN1_NAME, "PID-LATIN",
                                                      charset="ISO_IR 100"),
                            description="Thorax Übersicht", accession="ACC100")
    ct = [generate_uid(), generate_uid()]
    for se in (0, 1):
        for i in range(1, 4):
            ds = synth.image(latin, "CT", ct[se], se + 1, i, rows=32, columns=32)
            files.append(synth.save(ds, folder / f"ct{se}{i}"))
    mr = generate_uid()
    for i in range(1, 3):
        ds = synth.image(latin, "MR", mr, 3, i, rows=32, columns=32)
        files.append(synth.save(ds, folder / f"mr_implicit{i}", sop.IMPLICIT_VR_LE))
    for n, ts in enumerate((sop.JPEG_2000_LOSSLESS, "1.2.840.10008.1.2.5",
                            "1.2.840.10008.1.2.4.80"), 4):
        ds = synth.image(latin, "CT", None, n, 1, rows=32, columns=32)
        synth.save(ds, folder / f"uncompressed{n}")  # gives it file meta
        ds.compress(ts)
        ds.file_meta.TransferSyntaxUID = ts
        files.append(_save_as_is(ds, folder / f"compressed{n}"))
    files.append(synth.save(synth.basic_text_sr(latin, "Keine Auffälligkeiten.\nNo findings."),
                            folder / "sr"))
    files.append(synth.save(synth.encapsulated_pdf(latin, synth.minimal_pdf("Report PDF")),
                            folder / "pdf"))

    utf8 = synth.StudyInfo(patient=synth.PatientInfo(UTF8_NAME, "PID-UTF8",
                                                     charset="ISO_IR 192"),
                           description="頭部 MRI", accession="ACC192")
    mr2 = generate_uid()
    images = []
    for i in range(1, 3):
        ds = synth.image(utf8, "MR", mr2, 1, i, rows=32, columns=32)
        images.append(ds)
        files.append(synth.save(ds, folder / f"mr_utf8_{i}"))
    files.append(synth.save(_gsps(utf8, images[0]), folder / "gsps"))
    files.append(synth.save(_ko(utf8, images), folder / "ko"))

    spanned = {}
    for name, series_sizes in (("span_a", (4,)), ("span_b", (3, 3)), ("span_c", (4,))):
        study = synth.StudyInfo(patient=synth.PatientInfo(f"Span^{name[-1].upper()}",
                                                          f"PID-{name}"))
        spanned[name] = study.study_uid
        for se, count in enumerate(series_sizes, 1):
            uid = generate_uid()
            for i in range(1, count + 1):
                ds = synth.image(study, "CT", uid, se, i, rows=128, columns=128)
                files.append(synth.save(ds, folder / f"{name}_{se}_{i}"))

    mr_mf = synth.StudyInfo(patient=synth.PatientInfo("Multi^Frame", "PID-MF"),
                            description="Enhanced MR", accession="ACCMF")
    files.append(synth.save(imaging.enhanced_mr(mr_mf, 12), folder / "mr_multiframe"))
    us = synth.StudyInfo(patient=synth.PatientInfo("Colour^Echo", "PID-US"),
                         description="Ultrasound", accession="ACCUS")
    us_series = imaging.new_series()
    files.append(_save_as_is(imaging.us_jpeg(us, us_series), folder / "us_jpeg"))
    files.append(synth.save(imaging.us_native_422(us, us_series), folder / "us_ybr422"))

    corrupt = synth.StudyInfo(patient=synth.PatientInfo("Broken^Stream", "PID-BAD"))
    files.append(_save_as_is(_corrupt_jpeg(corrupt), folder / "corrupt"))
    return ({"latin1": latin.study_uid, "utf8": utf8.study_uid, "mr_multiframe":
             mr_mf.study_uid, "ultrasound": us.study_uid, **spanned}, files, corrupt.study_uid)


def _save_as_is(ds: Dataset, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path


def _gsps(study: synth.StudyInfo, image: Dataset) -> Dataset:
    """A presentation state lacking ContentLabel and its creation date and time."""
    ds = synth._base(study, GSPS, "PR", None, 50, 1, "Presentation")
    ref_image = Dataset()
    ref_image.ReferencedSOPClassUID = image.SOPClassUID
    ref_image.ReferencedSOPInstanceUID = image.SOPInstanceUID
    ref_series = Dataset()
    ref_series.SeriesInstanceUID = image.SeriesInstanceUID
    ref_series.ReferencedImageSequence = [ref_image]
    ds.ReferencedSeriesSequence = [ref_series]
    del ds.InstanceNumber
    return ds


def _ko(study: synth.StudyInfo, images: list[Dataset]) -> Dataset:
    """A key object selection lacking its content date, time and document title."""
    ds = synth._base(study, KO, "KO", None, 51, 1, "Key images")
    del ds.ContentDate
    del ds.ContentTime
    ds.ValueType = "CONTAINER"
    ds.ContinuityOfContent = "SEPARATE"
    return ds


def _corrupt_jpeg(study: synth.StudyInfo) -> Dataset:
    """A JPEG Baseline image whose code-stream is damaged beyond decoding."""
    ds = synth.image(study, "OT", None, 1, 1, rows=16, columns=16, bits=8)
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xdb\x00\x43" + b"\x11" * 40 + b"\xff\xd9"])
    ds["PixelData"].VR = "OB"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = sop.JPEG_BASELINE
    ds.file_meta = meta
    return ds


def send(port: int, files: list[Path]) -> None:
    by_ts: dict[str, list[str]] = defaultdict(list)
    for f in files:
        by_ts[transfer_syntax(f)].append(str(f))
    for ts, group in by_ts.items():
        # --no-halt: a file storescu itself cannot load is skipped (and not expected)
        dcmtk("storescu", "-R", "--no-halt", STORESCU_PROPOSE[ts], "-aec", "MW_TUI", "127.0.0.1",
              str(port), *group, check=False)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    tmp = tmp_path_factory.mktemp("media-corpus")
    config = with_dicom(make_config(tmp), extra_transfer_syntaxes=EXTRA_TS,
                        extra_sop_classes=EXTRA_CLASSES)
    generated, files, corrupt = generate(tmp / "generated")
    theirs = pydicom_files()
    with Receiver(config) as r:
        send(r.port, theirs + files)
    store = Store(config.storage)
    known = {s.study_uid for s in store.index.studies()}
    stored = [f for f in theirs if store.index.instance(
        str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID)) is not None]
    assert len(stored) >= 45, f"only {len(stored)} of pydicom's files were stored"
    for name, uid in generated.items():
        assert uid in known, f"the generated {name} study was not stored"
    corpus = Corpus(config.storage, generated, corrupt_study=corrupt)
    corpus.pydicom_studies = sorted(known - set(generated.values()) - {corrupt})
    store.close()
    return corpus

