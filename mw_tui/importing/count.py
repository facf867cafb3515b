"""The final check of an import: how many instances of each study the archive holds
(C-FIND Number of Study Related Instances, or QIDO-RS for a cloud target), which must
equal what the import sent; otherwise the import failed, and the numbers say how."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mw_tui.config import Config
from mw_tui.devices.writers.stow import session_for
from mw_tui.dicom.find import find
from mw_tui.dicom.identifier import Identifier
from mw_tui.importing.plan import Destination, DestinationKind


@dataclass(frozen=True, slots=True)
class StudyCount:
    study_uid: str
    sent: int  # instances of the plan in this study
    found: int | None  # what the archive says it holds (None: it did not say)

    @property
    def ok(self) -> bool:
        return self.found == self.sent


@dataclass(frozen=True, slots=True)
class ArchiveCount:
    destination: str
    studies: tuple[StudyCount, ...]
    errors: tuple[str, ...] = ()  # the archive could not be asked

    @property
    def ok(self) -> bool:
        return not self.errors and all(s.ok for s in self.studies)

    @property
    def message(self) -> str:
        if self.errors:
            return f"The count on {self.destination} failed: {self.errors[0]}"
        wrong = [s for s in self.studies if not s.ok]
        if not wrong:
            total = sum(s.sent for s in self.studies)
            return (f"{self.destination} holds all {total} instances sent "
                    f"({len(self.studies)} studies).")
        parts = []
        for s in wrong:
            if s.found is None:
                parts.append(f"study {s.study_uid}: the archive does not say how many "
                             f"instances it holds ({s.sent} were sent)")
            elif s.found < s.sent:
                parts.append(f"study {s.study_uid}: the archive holds {s.found} instances, "
                             f"{s.sent} were sent")
            else:
                parts.append(f"study {s.study_uid}: the archive holds {s.found} instances, "
                             f"{s.sent} were sent (it holds others of this study too)")
        return "The archive's count does not match: " + "; ".join(parts) + "."


def count_on_archive(config: Config, destination: str, expected: Mapping[str, int],
                     cancel: threading.Event | None = None) -> ArchiveCount:
    """Ask `destination` (an archive name or cloud:NAME) how many instances it holds of
    each study in `expected` (study UID -> instances sent, e.g. `SendResult.expected`)."""
    dest = Destination.parse(destination, config)
    if dest.kind is DestinationKind.CLOUD:
        found, errors = _qido(config, dest.name, list(expected))
    else:
        found, errors = _cfind(config, dest.name, list(expected), cancel)
    studies = tuple(StudyCount(uid, n, found.get(uid)) for uid, n in expected.items())
    return ArchiveCount(str(dest), studies, tuple(errors))


def _number(text: Any) -> int | None:
    try:
        return int(str(text).strip())
    except ValueError:
        return None


def _cfind(config: Config, name: str, uids: list[str], cancel: threading.Event | None
           ) -> tuple[dict[str, int], list[str]]:
    archive = config.archive(name)
    found: dict[str, int] = {}
    errors: list[str] = []
    for uid in uids:
        answers: list[Identifier] = []
        outcome = find(config, archive, {"QueryRetrieveLevel": "STUDY", "StudyInstanceUID": uid,
                                         "NumberOfStudyRelatedInstances": ""},
                       answers.append, cancel)
        if not outcome.ok:
            errors.append(outcome.message or str(outcome.state))
            continue
        counts = [_number(a.get("NumberOfStudyRelatedInstances", "")) for a in answers
                  if a.get("StudyInstanceUID") == uid]
        if not answers:
            found[uid] = 0
        elif counts and counts[0] is not None:
            found[uid] = counts[0]
    return found, errors


def _qido(config: Config, name: str, uids: list[str]) -> tuple[dict[str, int], list[str]]:
    import requests

    target = next(t for t in config.targets if t.name == name)
    session = session_for(target)
    found: dict[str, int] = {}
    errors: list[str] = []
    with session:
        for uid in uids:
            try:
                rsp = session.get(target.url.rstrip("/") + "/studies",
                                  params={"StudyInstanceUID": uid, "includefield": "00201208"},
                                  headers={"Accept": "application/dicom+json"},
                                  timeout=target.timeout)
            except requests.exceptions.RequestException as exc:
                errors.append(f"cannot reach {target.url} ({str(exc)[:150]})")
                continue
            if rsp.status_code == 204:
                found[uid] = 0
                continue
            if rsp.status_code != 200:
                errors.append(f"{target.url} answered HTTP {rsp.status_code} to QIDO-RS")
                continue
            try:
                items = rsp.json()
                value = items[0]["00201208"]["Value"][0] if items else 0
            except (ValueError, LookupError, TypeError):
                continue  # no count in the answer: reported as not said
            n = _number(value)
            if n is not None:
                found[uid] = n
    return found, errors
