"""Reading a medium into the model: the DICOMDIR's references first, then every other
file that looks like DICOM (all of them when there is no usable DICOMDIR).

Each DICOM file's own header is read (bounded, see `elements`) and is what counts: the
DICOMDIR says which files to read and where an unreadable one belonged. A file that
cannot be read is listed with the reason; nothing stops the reading but a medium that
cannot be opened at all (`MediumError`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from mw_tui.config import is_valid_uid
from mw_tui.importing.dicomdir import Directory, read_dicomdir
from mw_tui.importing.elements import BadFile, FileHeader, looks_like_dicom, read_header
from mw_tui.importing.models import (
    DicomdirState,
    Instance,
    Medium,
    Patient,
    Series,
    Study,
    Unreadable,
)
from mw_tui.importing.sources import FileEntry, Source, key_of, medium_gone

log = logging.getLogger(__name__)

ReadProgress = Callable[[int, int], None]  # (files read, files to read)
_REQUIRED = (("SOPClassUID", "SOP Class UID"), ("SOPInstanceUID", "SOP Instance UID"),
             ("StudyInstanceUID", "Study Instance UID"),
             ("SeriesInstanceUID", "Series Instance UID"))


class Cancelled(Exception):
    """Reading the medium was cancelled."""


@dataclass(frozen=True, slots=True)
class _Found:
    entry: FileEntry
    header: FileHeader


def read_header_of(source: Source, entry: FileEntry) -> FileHeader:
    """The header of one file of the medium; BadFile or OSError when it cannot be read."""
    with source.opened(entry) as read_at:
        return read_header(read_at, entry.size)


def has_dicom(source: Source, probes: int = 200) -> bool:
    """A quick look: a DICOMDIR, or one of the first `probes` files looks like DICOM."""
    files = source.listing().files
    if any(f.key.rsplit("/", 1)[-1] == "DICOMDIR" for f in files):
        return True
    return any(_probe(source, f) for f in files[:probes])


def scan(source: Source, progress: ReadProgress | None = None,
         cancel: Callable[[], bool] | None = None) -> Medium:
    """Everything `source` holds, as a Medium."""
    listing = source.listing()
    unreadable = list(listing.refused)
    notes: list[str] = []
    if listing.truncated:
        notes.append("The medium holds too many files: only the first ones were read.")
    by_key = {f.key: f for f in listing.files}
    directory, state = _directory(source, by_key.get("DICOMDIR"), notes)
    todo: list[tuple[FileEntry, str]] = []  # (file, study UID its record gives)
    listed: set[str] = set()
    if directory is not None:
        unreadable += directory.refused
        for ref in directory.references:
            entry = by_key.get(key_of(ref.file_id))
            if entry is None:
                unreadable.append(Unreadable(ref.path, "listed in the DICOMDIR but not on "
                                                       "the medium", ref.study_uid))
            elif entry.key not in listed:
                listed.add(entry.key)
                todo.append((entry, ref.study_uid))
    others = [f for f in listing.files  # other DICOMDIRs (a copied disc) only list files
              if f.key not in listed and f.key.rsplit("/", 1)[-1] != "DICOMDIR"]
    total = len(todo) + len(others)
    found: list[_Found] = []
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if cancel is not None and cancel():
            raise Cancelled("reading the medium was cancelled")
        if progress is not None and (done % 50 == 0 or done == total):
            progress(done, total)

    for entry, study_uid in todo:
        _read_one(source, entry, study_uid, found, unreadable)
        step()
    extra = 0
    for entry in others:
        if _probe(source, entry):
            before = len(found) + len(unreadable)
            _read_one(source, entry, "", found, unreadable)
            extra += len(found) + len(unreadable) - before
        step()
    if directory is not None and extra:
        state = DicomdirState.INCOMPLETE
        notes.append(f"{extra} DICOM files on the medium are not in its DICOMDIR: they were "
                     "read too.")
    patients, dupes = _hierarchy(found, unreadable)
    if dupes:
        notes.append(f"{dupes} files are second copies of instances already on the medium: "
                     "each instance is imported once.")
    return Medium(source.origin, source.kind, source.label, state, patients,
                  tuple(unreadable), tuple(notes), source.disc)


def _directory(source: Source, entry: FileEntry | None, notes: list[str]
               ) -> tuple[Directory | None, DicomdirState]:
    if entry is None:
        return None, DicomdirState.NONE
    try:
        with source.opened(entry) as read_at:
            data = read_at(0, min(entry.size, 64 * 1024 * 1024 + 1))
        directory = read_dicomdir(data)
    except (BadFile, OSError) as exc:
        if isinstance(exc, OSError) and (gone := medium_gone(exc, entry.path)) is not None:
            raise gone from exc
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        notes.append(f"The DICOMDIR cannot be read ({why}): every file was scanned instead.")
        return None, DicomdirState.BROKEN
    if not directory.complete:
        notes.append("The DICOMDIR is damaged (" + "; ".join(directory.problems[:3])
                     + "): every file was scanned too.")
        return directory, DicomdirState.BROKEN
    return directory, DicomdirState.USED


def _probe(source: Source, entry: FileEntry) -> bool:
    if entry.size < 8:
        return False
    try:
        with source.opened(entry) as read_at:
            return looks_like_dicom(read_at(0, 136))
    except OSError as exc:
        if (gone := medium_gone(exc, entry.path)) is not None:
            raise gone from exc
        return False


def _read_one(source: Source, entry: FileEntry, study_uid: str, found: list[_Found],
              unreadable: list[Unreadable]) -> None:
    try:
        header = read_header_of(source, entry)
    except BadFile as exc:
        unreadable.append(Unreadable(entry.path, str(exc), study_uid))
        return
    except OSError as exc:
        if (gone := medium_gone(exc, entry.path)) is not None:
            raise gone from exc
        unreadable.append(Unreadable(entry.path, f"cannot be read ({exc.strerror or exc})",
                                     study_uid))
        return
    except Exception as exc:  # a reader bug must not end the import
        log.exception("reading %s", entry.path)
        unreadable.append(Unreadable(entry.path, f"cannot be read ({exc!r})", study_uid))
        return
    missing = [name for key, name in _REQUIRED if not header.get(key)]
    if missing:
        unreadable.append(Unreadable(entry.path, f"no {' and no '.join(missing)}: cannot be "
                                                 "imported", header.get("StudyInstanceUID")
                                     or study_uid))
        return
    bad = [f"its {name} {header.get(key)!r} is not a valid UID" for key, name in _REQUIRED[:2]
           if not is_valid_uid(header.get(key))]
    if bad:  # the archive could not be sent it (a UID is ASCII digits and dots)
        unreadable.append(Unreadable(entry.path, f"{' and '.join(bad)}: cannot be imported",
                                     header.get("StudyInstanceUID") or study_uid))
        return
    found.append(_Found(entry, header))


def _number(text: str) -> tuple[int, str]:
    try:
        return int(text), text
    except ValueError:
        return 1 << 30, text


def _hierarchy(found: list[_Found], unreadable: list[Unreadable]
               ) -> tuple[tuple[Patient, ...], int]:
    """Group the files by patient, study and series; (patients, second copies)."""
    seen: set[str] = set()
    dupes = 0
    studies: dict[str, list[_Found]] = {}
    for f in found:
        uid = f.header.get("SOPInstanceUID")
        if uid in seen:
            dupes += 1
            continue
        seen.add(uid)
        studies.setdefault(f.header.get("StudyInstanceUID"), []).append(f)
    by_patient: dict[tuple[str, ...], list[Study]] = {}
    first: dict[tuple[str, ...], FileHeader] = {}
    for study_uid, files in studies.items():
        h = files[0].header
        key: tuple[str, ...] = (h.get("PatientID"), h.get("IssuerOfPatientID"))
        if not key[0]:
            key = ("", "", h.get("PatientName"), h.get("PatientBirthDate"))
        first.setdefault(key, h)
        by_patient.setdefault(key, []).append(_study(study_uid, files, unreadable))
    patients = []
    for key, sts in by_patient.items():
        h = first[key]
        patients.append(Patient(h.get("PatientName"), h.get("PatientID"),
                                h.get("IssuerOfPatientID"), h.get("PatientBirthDate"),
                                h.get("PatientSex"),
                                tuple(sorted(sts, key=lambda s: (s.date, s.time, s.study_uid)))))
    return tuple(sorted(patients, key=lambda p: (p.name, p.patient_id))), dupes


def _study(study_uid: str, files: list[_Found], unreadable: list[Unreadable]) -> Study:
    series: dict[str, list[_Found]] = {}
    for f in files:
        series.setdefault(f.header.get("SeriesInstanceUID"), []).append(f)
    built = []
    for series_uid, members in series.items():
        h = members[0].header
        instances = sorted(
            (Instance(f.entry.path, f.entry.size, f.header.get("SOPClassUID"),
                      f.header.get("SOPInstanceUID"), f.header.transfer_syntax,
                      f.header.get("InstanceNumber")) for f in members),
            key=lambda i: (_number(i.number), i.path))
        built.append(Series(series_uid, h.get("Modality"), h.get("SeriesNumber"),
                            h.get("SeriesDescription"), tuple(instances)))
    built.sort(key=lambda s: (_number(s.number), s.series_uid))
    h = files[0].header
    return Study(study_uid, h.get("StudyDate"), h.get("StudyTime"), h.get("StudyDescription"),
                 h.get("AccessionNumber"), h.get("StudyID"), tuple(built),
                 tuple(u for u in unreadable if u.study_uid == study_uid))
