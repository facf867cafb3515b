"""What an outside medium holds: patients -> studies -> series -> instances, and the files
that could not be read, with why. Plain frozen values; `Medium.to_json()` is the
`--json` listing (an array of studies keyed by DICOM keyword)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class MediumKind(StrEnum):
    """What the medium is. A device's kind comes from the device (`devices.probe`): a
    disc in an optical drive is a disc whatever its file system."""

    FOLDER = "folder"
    ISO_FILE = "iso file"
    # a disc in an optical drive: ISO 9660 read straight from the device, other file
    # systems (UDF only) mounted read-only; also a device nobody describes (a loop
    # device) that holds ISO 9660
    DISC = "disc"
    # any other device (a stick): mounted read-only, or read straight when it holds
    # ISO 9660 (a disc image copied onto a stick); the value is kept for saved jobs
    MOUNTED = "mounted device"


class DicomdirState(StrEnum):
    USED = "used"  # its records list every DICOM file on the medium
    NONE = "none"  # no DICOMDIR: every file was scanned
    BROKEN = "broken"  # unreadable, or its records loop: every file was scanned
    INCOMPLETE = "incomplete"  # read, but files it does not list were found by scanning


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A file (or a DICOMDIR reference) that cannot be imported, and why. `study_uid` is
    the study it belongs to when a DICOMDIR record says so."""

    path: str
    reason: str
    study_uid: str = ""


@dataclass(frozen=True, slots=True)
class Instance:
    path: str  # on the medium, "/"-separated
    size: int
    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax: str
    number: str = ""  # Instance Number


@dataclass(frozen=True, slots=True)
class Series:
    series_uid: str
    modality: str
    number: str
    description: str
    instances: tuple[Instance, ...]

    @property
    def size(self) -> int:
        return sum(i.size for i in self.instances)


@dataclass(frozen=True, slots=True)
class Study:
    study_uid: str
    date: str
    time: str
    description: str
    accession: str
    study_id: str
    series: tuple[Series, ...]
    unreadable: tuple[Unreadable, ...] = ()

    @property
    def instance_count(self) -> int:
        return sum(len(s.instances) for s in self.series)

    @property
    def size(self) -> int:
        return sum(s.size for s in self.series)

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.modality for s in self.series if s.modality))


@dataclass(frozen=True, slots=True)
class Patient:
    """The outside patient as the medium names it."""

    name: str
    patient_id: str
    issuer: str
    birth_date: str
    sex: str
    studies: tuple[Study, ...]


@dataclass(frozen=True, slots=True)
class Located:
    """One instance with the patient, study and series it belongs to."""

    patient: Patient
    study: Study
    series: Series
    instance: Instance


@dataclass(frozen=True, slots=True)
class Medium:
    """Everything read from one medium. `source` is what was read (a folder, an ISO file
    or a device) and is opened again to send."""

    source: str
    kind: MediumKind
    label: str
    dicomdir: DicomdirState
    patients: tuple[Patient, ...]
    unreadable: tuple[Unreadable, ...]
    notes: tuple[str, ...] = ()  # what the technician should know (loops, extra files...)
    disc: str = ""  # what the drive said the disc is: "CD", "DVD", "BD" ("": it did not)

    @property
    def studies(self) -> tuple[Study, ...]:
        return tuple(s for p in self.patients for s in p.studies)

    def located(self) -> Iterator[Located]:
        for p in self.patients:
            for st in p.studies:
                for se in st.series:
                    for i in se.instances:
                        yield Located(p, st, se, i)

    @property
    def instance_count(self) -> int:
        return sum(s.instance_count for s in self.studies)

    @property
    def size(self) -> int:
        return sum(s.size for s in self.studies)

    @property
    def has_dicom(self) -> bool:
        return bool(self.patients)

    def patient_of(self, study_uid: str) -> Patient:
        for p in self.patients:
            if any(s.study_uid == study_uid for s in p.studies):
                return p
        raise KeyError(f"no study {study_uid} on this medium")

    def to_json(self) -> list[dict[str, Any]]:
        """An array of studies keyed by DICOM keyword, with `size_bytes`, `files` (paths
        on the medium) and `unreadable` (`file`, `reason`). Unreadable files that belong
        to no known study come last, in an entry whose StudyInstanceUID is null."""
        out: list[dict[str, Any]] = []
        for p in self.patients:
            for s in p.studies:
                out.append({
                    "PatientName": p.name, "PatientID": p.patient_id,
                    "IssuerOfPatientID": p.issuer, "PatientBirthDate": p.birth_date,
                    "PatientSex": p.sex, "StudyInstanceUID": s.study_uid, "StudyDate": s.date,
                    "StudyTime": s.time, "StudyDescription": s.description,
                    "AccessionNumber": s.accession, "StudyID": s.study_id,
                    "ModalitiesInStudy": list(s.modalities),
                    "NumberOfStudyRelatedSeries": len(s.series),
                    "NumberOfStudyRelatedInstances": s.instance_count, "size_bytes": s.size,
                    "files": [i.path for se in s.series for i in se.instances],
                    "unreadable": [{"file": u.path, "reason": u.reason} for u in s.unreadable],
                })
        known = {s.study_uid for s in self.studies}
        stray = [u for u in self.unreadable if u.study_uid not in known]
        if stray:
            out.append({"StudyInstanceUID": None, "NumberOfStudyRelatedInstances": 0,
                        "size_bytes": 0, "files": [],
                        "unreadable": [{"file": u.path, "reason": u.reason} for u in stray]})
        return out

    def to_dict(self) -> dict[str, Any]:
        """Everything read, as plain JSON values (`from_dict` gives the Medium back): what
        an import job keeps in its work folder between its steps."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Medium:
        def unreadable(items: Any) -> tuple[Unreadable, ...]:
            return tuple(Unreadable(**u) for u in items)

        def study(s: Mapping[str, Any]) -> Study:
            series = tuple(Series(x["series_uid"], x["modality"], x["number"],
                                  x["description"],
                                  tuple(Instance(**i) for i in x["instances"]))
                           for x in s["series"])
            return Study(s["study_uid"], s["date"], s["time"], s["description"],
                         s["accession"], s["study_id"], series, unreadable(s["unreadable"]))

        patients = tuple(Patient(p["name"], p["patient_id"], p["issuer"], p["birth_date"],
                                 p["sex"], tuple(study(s) for s in p["studies"]))
                         for p in data["patients"])
        return cls(data["source"], MediumKind(data["kind"]), data["label"],
                   DicomdirState(data["dicomdir"]), patients, unreadable(data["unreadable"]),
                   tuple(data["notes"]), str(data.get("disc", "")))
