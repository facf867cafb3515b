"""The demo archive's sample studies: generated at first use into a cache folder.

Several patients (realistic names, some non-ASCII written in ISO_IR 100 or ISO_IR 192),
CT, MR, CR and US studies with several series each, SR and PDF reports, spread over
several years; plus the real files pydicom ships whose SOP class is in the station's
table. Everything is deterministic: the same profile always gives the same bytes (UIDs
are derived from names, pixels from seeds), so nothing needs to be committed.

Profiles: `full` (the demo: about 750 instances, 64x64 to 256x256 pixels, a couple of
seconds) and `tiny` (the same patients and studies with at most three instances per
series and 32x32 pixels, for tests).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset

from mw_tui.demo import conformance, synth
from mw_tui.demo.catalog import quiet_pydicom
from mw_tui.standard import sop

log = logging.getLogger(__name__)

SAMPLES_VERSION = 2  # bump when the generated content changes: caches are regenerated
MANIFEST = "samples.json"
_NAMESPACE = uuid.UUID("5b0e7f7e-3c41-4c53-9d0a-6d77772d7475")  # mw-tui demo samples
PYDICOM_TEST_FILES = Path(str(__import__("pydicom").__file__)).parent / "data" / "test_files"


class Profile(StrEnum):
    FULL = "full"
    TINY = "tiny"


def uid(*parts: object) -> str:
    """A deterministic UID (2.25 + a name-based UUID) for the sample named by `parts`."""
    return "2.25." + str(uuid.uuid5(_NAMESPACE, "/".join(map(str, parts))).int)


def default_data_dir() -> Path:
    """$MW_TUI_DEMO_DATA, else $XDG_CACHE_HOME/mw-tui/demo, else ~/.cache/mw-tui/demo."""
    env = os.environ.get("MW_TUI_DEMO_DATA")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mw-tui" / "demo"


# -- what is generated -------------------------------------------------------------------

P = synth.PatientInfo
PATIENTS = {
    "smith": P("Smith^John^A", "MWD-1001", "19560312", "M"),
    "mueller": P("Müller^Jürgen", "MWD-1002", "19610723", "M", "ISO_IR 100"),
    "dubois": P("Dubois^Amélie", "MWD-1003", "19880205", "F", "ISO_IR 100"),
    "odegard": P("Ødegård^Ingrid", "MWD-1004", "19740918", "F", "ISO_IR 100"),
    "konstantinou": P("Κωνσταντίνου^Ελένη", "MWD-1005", "19900430", "F", "ISO_IR 192"),
    "yamada": P("Yamada^Tarou=山田^太郎=やまだ^たろう", "MWD-1006", "19450101", "M",
                "ISO_IR 192"),
    "nowak": P("Nowak^Łukasz", "MWD-1007", "20010611", "M", "ISO_IR 192"),
    "obrien": P("O'Brien^Siobhan", "MWD-1008", "19921127", "F"),
}


@dataclass(frozen=True)
class SeriesPlan:
    modality: str  # CT, MR, CR, US; SR = a Basic Text SR report; DOC = an encapsulated PDF
    description: str
    count: int = 1
    size: int = 128


@dataclass(frozen=True)
class StudyPlan:
    key: str
    patient: str
    date: str
    time: str
    accession: str
    description: str
    referring: str
    series: tuple[SeriesPlan, ...]
    report: str = ""


S = SeriesPlan
STUDIES: tuple[StudyPlan, ...] = (
    StudyPlan("S01", "smith", "20240312", "091512", "A24031201",
              "CT CHEST ABDOMEN PELVIS W CONTRAST", "Patel^Anita^^Dr.",
              (S("CT", "Topogram", 2, 256), S("CT", "Chest 5mm", 60),
               S("CT", "Abdomen Pelvis 5mm", 80), S("SR", "Report")),
              "No evidence of metastatic disease. Stable 4 mm pulmonary nodule."),
    StudyPlan("S02", "smith", "20210602", "141030", "A21060207", "MR LUMBAR SPINE",
              "Okafor^Chidi", (S("MR", "Sag T1", 15), S("MR", "Sag T2", 15),
                               S("MR", "Ax T2", 24), S("DOC", "Report")),
              "Mild L4-L5 disc bulge without nerve root compression."),
    StudyPlan("S03", "mueller", "20231120", "080245", "B23112003", "MRT Schädel nativ",
              "Schäfer^Thomas^^Dr. med.",
              (S("MR", "T1 sagittal", 24), S("MR", "T2 axial", 24), S("MR", "FLAIR axial", 24),
               S("MR", "DWI", 24), S("SR", "Befund")),
              "Kein Nachweis einer akuten Ischämie. Altersentsprechender Befund."),
    StudyPlan("S04", "mueller", "20231119", "223817", "B23111911", "CT Schädel nativ",
              "Schäfer^Thomas^^Dr. med.", (S("CT", "Schädel 5mm", 40), S("DOC", "Befund")),
              "Keine intrakranielle Blutung."),
    StudyPlan("S05", "dubois", "20250114", "103000", "C25011402", "Échographie abdominale",
              "Lefèvre^Hélène", (S("US", "Foie", 10, 128), S("US", "Reins", 8, 128),
                                 S("DOC", "Compte rendu")),
              "Foie de taille normale, pas de lésion focale."),
    StudyPlan("S06", "odegard", "20220208", "133009", "D22020805", "Røntgen thorax og ribben",
              "Haugen^Lars", (S("CR", "Thorax PA", 4, 256), S("CR", "Thorax lateral", 4, 256),
                              S("CR", "Ribben", 4, 256), S("SR", "Svar")),
              "Ingen fraktur påvist."),
    StudyPlan("S07", "konstantinou", "20200930", "191544", "E20093012",
              "ΑΞΟΝΙΚΗ ΤΟΜΟΓΡΑΦΙΑ ΕΓΚΕΦΑΛΟΥ", "Παπαδόπουλος^Γιώργος",
              (S("CT", "Εγκέφαλος 5mm", 40), S("SR", "Γνωμάτευση")),
              "Χωρίς παθολογικά ευρήματα."),
    StudyPlan("S08", "konstantinou", "20250201", "071205", "E25020103", "CT ANGIO CHEST",
              "Papadopoulos^Giorgos",
              (S("CT", "Arterial 1mm", 150, 64), S("CT", "Venous 2mm", 120, 64)),
              ""),
    StudyPlan("S09", "yamada", "20180417", "095500", "F18041704", "MR KNEE LEFT",
              "Suzuki^Hanako", (S("MR", "Sag PD", 20), S("MR", "Cor T1", 20),
                                S("MR", "Ax PD FS", 20)), ""),
    StudyPlan("S10", "nowak", "20030520", "111111", "G03052001", "RTG kościec przeglądowy",
              "Kowalska^Zofia", (S("CR", "Czaszka", 2, 256), S("CR", "Klatka piersiowa", 2, 256),
                                 S("CR", "Kręgosłup", 2, 256), S("CR", "Kończyny", 6, 256),
                                 S("DOC", "Opis")),
              "Bez zmian urazowych."),
    StudyPlan("S11", "obrien", "20240809", "150230", "H24080906", "US OB 2ND TRIMESTER",
              "Byrne^Ciaran", (S("US", "Fetal biometry", 24, 128), S("SR", "Report"),
                               S("DOC", "Report")),
              "Single live intrauterine pregnancy, biometry consistent with 20 weeks."),
)

_WINDOW = {"CT": ("40", "400"), "MR": ("500", "1000"), "CR": ("2048", "4096")}


def _phantom(modality: str, size: int, index: int, count: int) -> np.ndarray:
    """A body-like picture that changes from slice to slice (not noise: viewers show it)."""
    yy, xx = np.mgrid[-1:1:size * 1j, -1:1:size * 1j]
    z = (index / max(count - 1, 1)) * 2 - 1  # -1..1 through the volume
    rng = np.random.default_rng(index * 7919 + size)
    body = (xx / 0.85) ** 2 + (yy / 0.65) ** 2 <= 1 - 0.3 * z * z
    organ = ((xx - 0.3 * z) / 0.25) ** 2 + ((yy + 0.1) / 0.2) ** 2 <= 1
    ring = np.abs(np.hypot(xx / 0.8, yy / 0.6) - 0.72) < 0.05
    if modality == "CT":  # stored = HU + 1024
        img = np.where(body, 1064, 0) + np.where(organ & body, 60, 0) + np.where(ring, 900, 0)
        img = img + rng.normal(0, 8, img.shape) * body
        return np.clip(img, 0, 4095).astype(np.uint16)
    if modality == "MR":
        img = np.where(body, 450, 0) + np.where(organ & body, 350, 0) - np.where(ring, 300, 0)
        img = img + rng.normal(0, 15, img.shape) * body
        return np.clip(img, 0, 4095).astype(np.uint16)
    if modality == "US":
        fan = (yy + 1 > 0.1) & (np.abs(xx) < (yy + 1) * 0.6)
        speckle = rng.rayleigh(40, (size, size))
        img = np.where(fan, speckle + np.where(organ, 60, 0), 0)
        return np.clip(img, 0, 255).astype(np.uint8)
    lungs = (((np.abs(xx) - 0.35) / 0.25) ** 2 + (yy / 0.6) ** 2 <= 1)  # CR: a chest-ish view
    img = 3000 - np.where(body, 1200, 0) + np.where(lungs & body, 700, 0) + np.where(ring, 500, 0)
    return np.clip(img + rng.normal(0, 20, (size, size)), 0, 4095).astype(np.uint16)


def _study_info(plan: StudyPlan) -> synth.StudyInfo:
    return synth.StudyInfo(patient=PATIENTS[plan.patient], study_uid=uid(plan.key),
                           date=plan.date, time=plan.time, accession=plan.accession,
                           description=plan.description, study_id=plan.key[1:],
                           referring=plan.referring)


def _series_datasets(plan: StudyPlan, number: int, sp: SeriesPlan,
                     profile: Profile) -> Iterator[Dataset]:
    study = _study_info(plan)
    series_uid = uid(plan.key, number)
    if sp.modality == "SR":
        text = plan.report or sp.description
        yield synth.basic_text_sr(study, text, title=sp.description, series_uid=series_uid,
                                  series_number=number)
        return
    if sp.modality == "DOC":
        pdf = synth.minimal_pdf(f"{plan.description}: {plan.report}")
        ds = synth.encapsulated_pdf(study, pdf, title=sp.description, series_number=number)
        ds.SeriesInstanceUID = series_uid
        yield ds
        return
    count = sp.count if profile == Profile.FULL else min(sp.count, 3)
    size = sp.size if profile == Profile.FULL else 32
    bits = 8 if sp.modality == "US" else 16
    for i in range(1, count + 1):
        ds = synth.image(study, sp.modality, series_uid, number, i, size, size, bits,
                         sp.description)
        ds.PixelData = _phantom(sp.modality, size, i - 1, count).tobytes()
        if sp.modality in ("CR", "US"):
            ds.ImageType = ["ORIGINAL", "PRIMARY"]
        if sp.modality in _WINDOW:
            ds.WindowCenter, ds.WindowWidth = _WINDOW[sp.modality]
        if sp.modality in ("CT", "MR"):
            ds.SliceThickness = "5"
            ds.ImagePositionPatient = [0, 0, i * 5]
            ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
            ds.PixelSpacing = [f"{400 / size:.4g}", f"{400 / size:.4g}"]
        yield conformance.complete_image(ds, uid(plan.key, number, "frame of reference"),
                                         conformance.laterality_of(plan.description))


def _finish(ds: Dataset, plan: StudyPlan, number: int) -> Dataset:
    ds.SOPInstanceUID = uid(plan.key, number, ds.InstanceNumber)
    ds.InstitutionName = "mw-tui Demo Hospital"
    ds.StationName = f"DEMO{ds.Modality}"
    if plan.patient == "mueller" or plan.patient == "odegard":
        ds.PatientAge = f"{int(plan.date[:4]) - int(PATIENTS[plan.patient].birth_date[:4]):03d}Y"
    return ds


def generate_studies(folder: Path, profile: Profile = Profile.FULL) -> int:
    """Write the generated studies under `folder`; returns the number of instances."""
    n = 0
    for plan in STUDIES:
        for number, sp in enumerate(plan.series, 1):
            for ds in _series_datasets(plan, number, sp, profile):
                _finish(ds, plan, number)
                synth.save(ds, folder / plan.key / f"SE{number:03d}" /
                           f"IM{int(ds.InstanceNumber):04d}.dcm")
                n += 1
    return n


# -- the real files pydicom ships ------------------------------------------------------


def pydicom_files(source: Path = PYDICOM_TEST_FILES) -> list[Path]:
    """pydicom's test files the station can receive as they are: a SOP class in the
    station's table, a transfer syntax it accepts by default, Study/Series/SOP Instance
    UIDs, complete pixel data; one file per SOP Instance UID (Explicit VR LE preferred)."""
    ts_rank = {ts: i for i, ts in enumerate(sop.STORAGE_TRANSFER_SYNTAXES)}
    best: dict[str, tuple[tuple[int, int, str], Path]] = {}
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        try:
            with quiet_pydicom():
                ds = dcmread(path)
            ts = str(ds.file_meta.TransferSyntaxUID)
            sop_uid = str(ds.SOPInstanceUID)
            ok = (str(ds.SOPClassUID) in sop.STORAGE_SOP_CLASSES and ts in ts_rank
                  and ds.StudyInstanceUID and ds.SeriesInstanceUID and sop_uid
                  and _pixels_complete(ds))
        except Exception:
            continue
        if ok:
            rel = str(path.relative_to(source))
            rank = (ts_rank[ts], len(rel), rel)
            if sop_uid not in best or rank < best[sop_uid][0]:
                best[sop_uid] = (rank, path)
    return sorted(p for _, p in best.values())


def _pixels_complete(ds: Dataset) -> bool:
    if "PixelData" not in ds or ds.file_meta.TransferSyntaxUID.is_compressed:
        return True
    expected = (int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1))
                * int(ds.BitsAllocated) // 8 * int(ds.get("NumberOfFrames", 1) or 1))
    return len(ds.PixelData) >= expected


def copy_pydicom_files(folder: Path, source: Path = PYDICOM_TEST_FILES) -> int:
    files = pydicom_files(source)
    for path in files:
        dest = folder / path.relative_to(source)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
    return len(files)


# -- first use: generate once into the cache folder -------------------------------------


@dataclass(frozen=True, slots=True)
class SampleSet:
    folder: Path
    profile: Profile
    generated: int  # instances generated
    pydicom: int  # pydicom test files copied
    seconds: float  # time spent generating now (0 when the cache was already there)


def _manifest(folder: Path) -> dict[str, object]:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    with open(folder / ".samples.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_samples(folder: Path | None = None, profile: Profile = Profile.FULL) -> SampleSet:
    """Generate the sample data into `folder` unless it is already there (same profile and
    version). Other files in the folder are left alone (and served by the archive)."""
    folder = folder or default_data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder):
        m = _manifest(folder)
        if m.get("version") == SAMPLES_VERSION and m.get("profile") == str(profile):
            return SampleSet(folder, profile, int(str(m.get("generated", 0))),
                             int(str(m.get("pydicom", 0))), 0.0)
        start = time.monotonic()
        (folder / MANIFEST).unlink(missing_ok=True)
        for sub in ("samples", "pydicom"):
            shutil.rmtree(folder / sub, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(dir=folder, prefix=".generating-"))
        try:
            generated = generate_studies(tmp / "samples", profile)
            copied = copy_pydicom_files(tmp / "pydicom")
            for sub in ("samples", "pydicom"):
                if (tmp / sub).exists():
                    os.replace(tmp / sub, folder / sub)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        (folder / MANIFEST).write_text(json.dumps({
            "version": SAMPLES_VERSION, "profile": str(profile), "generated": generated,
            "pydicom": copied}, indent=1), encoding="utf-8")
        seconds = time.monotonic() - start
        log.info("demo samples: %d instances generated and %d pydicom files copied into %s "
                 "in %.1f s", generated, copied, folder, seconds)
        return SampleSet(folder, profile, generated, copied, seconds)
