"""The demo archive's catalog: the DICOM files of a folder, indexed by patient, study,
series and instance.

Headers are read once (`stop_before_pixels`) and cached in a JSON file next to the data
(`.mw-tui-index.json`); on the next start only files whose size or modification time
changed are read again, so starting over already-indexed data takes milliseconds.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.datadict import dictionary_VR
from pydicom.errors import InvalidDicomError

log = logging.getLogger(__name__)

INDEX_NAME = ".mw-tui-index.json"
INDEX_VERSION = 1

# What is kept of each file, by level (keyword lists; values are kept as text).
PATIENT_KEYS = ("PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate",
                "PatientSex")
STUDY_KEYS = ("StudyInstanceUID", "StudyDate", "StudyTime", "AccessionNumber", "StudyID",
              "StudyDescription", "ReferringPhysicianName", "PatientAge")
SERIES_KEYS = ("SeriesInstanceUID", "Modality", "SeriesNumber", "SeriesDescription",
               "SeriesDate", "SeriesTime", "BodyPartExamined")
INSTANCE_KEYS = ("SOPInstanceUID", "SOPClassUID", "InstanceNumber", "ContentDate",
                 "ContentTime", "NumberOfFrames", "Rows", "Columns")
ALL_KEYS = ("SpecificCharacterSet", *PATIENT_KEYS, *STUDY_KEYS, *SERIES_KEYS,
            *INSTANCE_KEYS)


def vr_of(keyword: str) -> str:
    try:
        return str(dictionary_VR(keyword))
    except KeyError:
        return "LO"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(_text(v) for v in value)
    return str(value)


@contextlib.contextmanager
def quiet_pydicom() -> Iterator[None]:
    """Silence pydicom's warnings about oddities of real files (they are served as is)."""
    logger = logging.getLogger("pydicom")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def read_entry(path: Path) -> dict[str, str] | None:
    """The catalog entry of one file (None when it is not a usable Part 10 DICOM file)."""
    try:
        with quiet_pydicom():
            ds = dcmread(path, stop_before_pixels=True, specific_tags=list(ALL_KEYS))
    except (InvalidDicomError, OSError, ValueError, EOFError, KeyError, TypeError,
            AttributeError) as exc:
        log.debug("not indexed: %s (%s)", path, exc)
        return None
    meta = getattr(ds, "file_meta", None)
    ts = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    entry = {"TransferSyntaxUID": ts}
    for kw in ALL_KEYS:
        try:
            entry[kw] = _text(ds.get(kw)).strip()
        except (ValueError, TypeError, LookupError) as exc:  # a value pydicom cannot decode
            log.debug("%s: %s unreadable (%s)", path, kw, exc)
            entry[kw] = ""
    if not entry["SOPClassUID"] and meta is not None:
        entry["SOPClassUID"] = str(meta.get("MediaStorageSOPClassUID", ""))
    if not all(entry[k] for k in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID",
                                  "SOPClassUID", "TransferSyntaxUID")):
        log.debug("not indexed: %s (no file meta or no Study/Series/SOP Instance UID)", path)
        return None
    return entry


@dataclass(slots=True)
class Instance:
    path: Path
    values: dict[str, str]
    series: Series

    @property
    def sop_uid(self) -> str:
        return self.values["SOPInstanceUID"]

    @property
    def sop_class(self) -> str:
        return self.values["SOPClassUID"]

    @property
    def transfer_syntax(self) -> str:
        return self.values["TransferSyntaxUID"]


@dataclass(slots=True)
class Series:
    values: dict[str, str]
    study: Study
    instances: list[Instance] = field(default_factory=list)


@dataclass(slots=True)
class Study:
    values: dict[str, str]
    charset: str
    patient: Patient
    series: list[Series] = field(default_factory=list)

    @property
    def uid(self) -> str:
        return self.values["StudyInstanceUID"]

    def instances(self) -> list[Instance]:
        return [i for s in self.series for i in s.instances]


@dataclass(slots=True)
class Patient:
    values: dict[str, str]
    charset: str
    studies: list[Study] = field(default_factory=list)


def _number(value: str) -> int:
    try:
        return int(float(value))
    except ValueError:
        return 0


class Catalog:
    """Patients, studies, series and instances of a data folder, with computed counts."""

    def __init__(self, root: Path, entries: Iterable[tuple[str, dict[str, str]]]) -> None:
        self.root = root
        self.patients: dict[str, Patient] = {}
        self.studies: dict[str, Study] = {}
        self.series: dict[str, Series] = {}
        self.instances: dict[str, Instance] = {}
        for rel, entry in sorted(entries):
            self._add(root / rel, entry)
        self._finish()

    def _add(self, path: Path, e: dict[str, str]) -> None:
        if e["SOPInstanceUID"] in self.instances:
            log.warning("%s: SOP Instance UID %s already served from %s; ignored", path,
                        e["SOPInstanceUID"], self.instances[e["SOPInstanceUID"]].path)
            return
        charset = e.get("SpecificCharacterSet", "")
        study = self.studies.get(e["StudyInstanceUID"])
        if study is None:
            pkey = e["PatientID"] + "\0" + e["PatientName"]
            patient = self.patients.get(pkey)
            if patient is None:
                patient = Patient({k: e[k] for k in PATIENT_KEYS}, charset)
                self.patients[pkey] = patient
            study = Study({k: e[k] for k in STUDY_KEYS}, charset, patient)
            patient.studies.append(study)
            self.studies[study.uid] = study
        series = self.series.get(e["SeriesInstanceUID"])
        if series is None:
            series = Series({k: e[k] for k in SERIES_KEYS}, study)
            study.series.append(series)
            self.series[e["SeriesInstanceUID"]] = series
        values = {k: e[k] for k in (*INSTANCE_KEYS, "TransferSyntaxUID")}
        inst = Instance(path, values, series)
        series.instances.append(inst)
        self.instances[inst.sop_uid] = inst

    def _finish(self) -> None:
        for series in self.series.values():
            series.instances.sort(key=lambda i: (_number(i.values["InstanceNumber"]),
                                                 i.sop_uid))
            series.values["NumberOfSeriesRelatedInstances"] = str(len(series.instances))
        for study in self.studies.values():
            study.series.sort(key=lambda s: (_number(s.values["SeriesNumber"]),
                                             s.values["SeriesInstanceUID"]))
            mods = list(dict.fromkeys(s.values["Modality"] for s in study.series
                                      if s.values["Modality"]))
            classes = list(dict.fromkeys(i.sop_class for i in study.instances()))
            study.values.update(
                ModalitiesInStudy="\\".join(mods),
                SOPClassesInStudy="\\".join(classes),
                NumberOfStudyRelatedSeries=str(len(study.series)),
                NumberOfStudyRelatedInstances=str(sum(len(s.instances) for s in study.series)),
            )
        for patient in self.patients.values():
            patient.studies.sort(key=lambda s: (s.values["StudyDate"], s.values["StudyTime"],
                                                s.uid))
            patient.values.update(
                NumberOfPatientRelatedStudies=str(len(patient.studies)),
                NumberOfPatientRelatedSeries=str(sum(len(s.series) for s in patient.studies)),
                NumberOfPatientRelatedInstances=str(
                    sum(len(s.instances()) for s in patient.studies)),
            )

    def counts(self) -> tuple[int, int, int, int]:
        """(patients, studies, series, instances)."""
        return (len(self.patients), len(self.studies), len(self.series), len(self.instances))

    def sop_classes(self) -> set[str]:
        return {i.sop_class for i in self.instances.values()}

    def transfer_syntaxes(self) -> set[str]:
        return {i.transfer_syntax for i in self.instances.values()}


# -- the cached index --------------------------------------------------------------------


def _walk(root: Path) -> dict[str, tuple[int, int]]:
    """relative path -> (size, mtime_ns) of every candidate file (hidden ones skipped)."""
    found: dict[str, tuple[int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.startswith(".") or name.endswith((".json", ".txt", ".lock")):
                continue
            full = os.path.join(dirpath, name)
            try:
                st = os.stat(full)
            except OSError:
                continue
            found[os.path.relpath(full, root)] = (st.st_size, st.st_mtime_ns)
    return found


def _load_cache(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != INDEX_VERSION:
        return {}
    files = data.get("files")
    return files if isinstance(files, dict) else {}


def _save_cache(path: Path, files: dict[str, Any]) -> None:
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".index-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"version": INDEX_VERSION, "files": files}, f, ensure_ascii=False,
                      separators=(",", ":"))
        os.replace(tmp, path)
    except OSError as exc:  # a read-only data folder: index again next time
        log.info("cannot keep the demo index in %s (%s); it is rebuilt at each start",
                 path.parent, exc)


@dataclass(frozen=True, slots=True)
class LoadReport:
    files: int
    read: int  # headers read now (not taken from the cache)
    seconds: float


def load(root: Path) -> tuple[Catalog, LoadReport]:
    """The catalog of `root`, reading only the headers the cached index does not have."""
    start = time.monotonic()
    cache_path = root / INDEX_NAME
    cached = _load_cache(cache_path)
    current = _walk(root)
    files: dict[str, Any] = {}
    read = 0
    for rel, (size, mtime) in current.items():
        old = cached.get(rel)
        if isinstance(old, dict) and old.get("size") == size and old.get("mtime") == mtime:
            files[rel] = old
            continue
        read += 1
        files[rel] = {"size": size, "mtime": mtime, "entry": read_entry(root / rel)}
    if read or set(cached) != set(files):
        _save_cache(cache_path, files)
    entries = [(rel, f["entry"]) for rel, f in files.items() if f.get("entry")]
    catalog = Catalog(root, entries)
    return catalog, LoadReport(len(current), read, time.monotonic() - start)
