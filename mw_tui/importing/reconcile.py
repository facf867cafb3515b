"""Finding the local patient of an outside one (the station's part of IHE Import
Reconciliation): every configured archive is searched, in parallel, by the outside
family name and birth date, at PATIENT level (Patient Root) where the archive offers it,
else at STUDY level; the answers whose names and birth date really match are proposed,
the closest first. The technician picks one, types a local ID, or keeps the outside ones.
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from mw_tui.config import Archive, Config
from mw_tui.dicom import archives as arch
from mw_tui.dicom.find import find
from mw_tui.dicom.identifier import Identifier
from mw_tui.dicom.link import Problem
from mw_tui.importing.models import Medium, Patient
from mw_tui.importing.plan import LocalPatient
from mw_tui.standard import sop


class Match(StrEnum):
    NAME_AND_BIRTH_DATE = "name and birth date"
    FAMILY_AND_BIRTH_DATE = "family name and birth date"
    NAME = "name (the medium gives no birth date)"


_RANK = {Match.NAME_AND_BIRTH_DATE: 0, Match.FAMILY_AND_BIRTH_DATE: 1, Match.NAME: 2}


@dataclass(frozen=True, slots=True)
class Candidate:
    """A local patient the archives know who may be the outside one."""

    patient_id: str
    issuer: str
    name: str
    birth_date: str
    sex: str
    match: Match
    archives: tuple[str, ...]
    studies: int | None = None  # on the archive that said
    same_id: bool = False  # the archive knows the patient under the outside ID already

    def local(self) -> LocalPatient:
        """The local identity to import as."""
        return LocalPatient(self.patient_id, self.issuer, self.name, self.birth_date,
                            self.sex if self.sex in ("M", "F", "O") else "")


@dataclass(frozen=True, slots=True)
class Proposal:
    """The candidates for one outside patient of the medium, best first, and what the
    archives that could not be searched said."""

    outside: Patient
    candidates: tuple[Candidate, ...]
    errors: tuple[str, ...] = ()

    @property
    def best(self) -> Candidate | None:
        """The one candidate to preselect: the only one matching name and birth date."""
        exact = [c for c in self.candidates if c.match is Match.NAME_AND_BIRTH_DATE]
        return exact[0] if len(exact) == 1 else None


def name_parts(name: str) -> tuple[str, str]:
    """(family, given) in capitals, without accents or extra spaces, for comparing."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", name)
                    if not unicodedata.combining(c))
    parts = [" ".join(p.upper().split()) for p in plain.split("=")[0].split("^")]
    return (parts[0] if parts else "", parts[1] if len(parts) > 1 else "")


def _query(patient: Patient, level: str) -> dict[str, str]:
    parts = [p.strip().replace("*", "").replace("?", "")
             for p in patient.name.split("=")[0].split("^")]
    family, given = parts[0], parts[1] if len(parts) > 1 else ""
    name = f"{family}*" if patient.birth_date or not given else f"{family}^{given}*"
    values = {"QueryRetrieveLevel": level, "PatientName": name,
              "PatientBirthDate": patient.birth_date, "PatientID": "", "IssuerOfPatientID": "",
              "PatientSex": ""}
    if level == "PATIENT":
        values["NumberOfPatientRelatedStudies"] = ""
    else:
        values["StudyInstanceUID"] = ""
    return values


def search_archive(config: Config, archive: Archive, patient: Patient,
                   cancel: threading.Event | None = None) -> tuple[list[Identifier], str]:
    """The archive's answers (PATIENT level, else STUDY level) and an error text."""
    found: list[Identifier] = []
    outcome = find(config, archive, _query(patient, "PATIENT"), found.append, cancel,
                   root=sop.PATIENT_ROOT_FIND)
    if outcome.ok:
        return found, ""
    if outcome.problem not in (Problem.NOT_SUPPORTED, None):  # down, refused, cancelled
        return [], outcome.message
    found = []
    outcome = find(config, archive, _query(patient, "STUDY"), found.append, cancel)
    return found, "" if outcome.ok else outcome.message


def candidates(patient: Patient, answers: Iterable[tuple[str, Identifier]]
               ) -> tuple[Candidate, ...]:
    """The answers (archive name, identifier) that match `patient`, merged by patient ID
    and issuer, best first. PATIENT-level answers say how many studies the patient has;
    STUDY-level answers are counted."""
    family, given = name_parts(patient.name)
    first: dict[tuple[str, str], tuple[Identifier, Match]] = {}
    where: dict[tuple[str, str], list[str]] = {}
    counts: dict[tuple[str, str], int] = {}
    studies: dict[tuple[str, str], set[str]] = {}
    for archive, a in answers:
        key = (a.get("PatientID", ""), a.get("IssuerOfPatientID", ""))
        f, g = name_parts(a.get("PatientName", ""))
        born = a.get("PatientBirthDate", "")
        if not key[0] or not family or f != family:
            continue
        if patient.birth_date:
            if born != patient.birth_date:
                continue
            match = Match.NAME_AND_BIRTH_DATE if g == given else Match.FAMILY_AND_BIRTH_DATE
        elif g == given:
            match = Match.NAME
        else:
            continue
        first.setdefault(key, (a, match))
        where.setdefault(key, [])
        if archive not in where[key]:
            where[key].append(archive)
        n = a.get("NumberOfPatientRelatedStudies", "").strip()
        if n.isdigit():
            counts[key] = max(counts.get(key, 0), int(n))
        elif a.get("StudyInstanceUID"):
            studies.setdefault(key, set()).add(a["StudyInstanceUID"])
    out = []
    for key, (a, match) in first.items():
        count = counts.get(key, len(studies.get(key, ())) or None)
        out.append(Candidate(key[0], key[1], a.get("PatientName", ""),
                             a.get("PatientBirthDate", ""), a.get("PatientSex", ""), match,
                             tuple(where[key]), count,
                             key == (patient.patient_id, patient.issuer)))
    return tuple(sorted(out, key=lambda c: (_RANK[c.match], -(c.studies or 0), c.patient_id)))


def propose(config: Config, medium: Medium, archives: Iterable[str] | None = None,
            cancel: threading.Event | None = None) -> list[Proposal]:
    """One Proposal per outside patient of the medium (archives searched in parallel)."""
    targets = arch.resolve(config, archives)
    out = []
    for patient in medium.patients:
        answers, errors = _search_all(config, targets, patient, cancel)
        out.append(Proposal(patient, candidates(patient, answers), tuple(errors)))
    return out


def _search_all(config: Config, targets: list[Archive], patient: Patient,
                cancel: threading.Event | None) -> tuple[list[tuple[str, Identifier]], list[str]]:
    results: dict[str, tuple[list[Identifier], str]] = {}

    def run(archive: Archive) -> None:
        try:
            results[archive.name] = search_archive(config, archive, patient, cancel)
        except Exception as exc:  # one archive's bug never hides the others' answers
            results[archive.name] = [], f"{archive.name}: {exc!r}"

    threads = [threading.Thread(target=run, args=(a,), daemon=True, name=f"reconcile-{a.name}")
               for a in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    answers = [(a.name, x) for a in targets for x in results.get(a.name, ([], ""))[0]]
    errors = [results[a.name][1] for a in targets if results.get(a.name, ([], ""))[1]]
    return answers, errors
