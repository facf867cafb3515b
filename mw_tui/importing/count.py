"""The final check of an import: every instance it sent is on the archive, asked per
instance (C-FIND at IMAGE level by SOP Instance UID, or QIDO-RS for a cloud target).

The archive holding more of a study than was sent is right: disc 2 of a study whose
disc 1 was imported before, or a study the archive had already. Only an instance sent
and not found fails the import; its UID is named, so the archive's log can be searched.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from mw_tui.config import Config
from mw_tui.devices.writers import qido
from mw_tui.devices.writers.stow import session_for
from mw_tui.dicom.instances import locate_instances
from mw_tui.importing.plan import Destination, DestinationKind


@dataclass(frozen=True, slots=True)
class StudyCount:
    study_uid: str
    sent: int  # instances of the plan in this study
    missing: tuple[str, ...] = ()  # SOP Instance UIDs sent that the archive does not hold

    @property
    def ok(self) -> bool:
        return not self.missing


@dataclass(frozen=True, slots=True)
class ArchiveCount:
    destination: str
    studies: tuple[StudyCount, ...]
    errors: tuple[str, ...] = ()  # the archive could not be asked

    @property
    def ok(self) -> bool:
        return not self.errors and all(s.ok for s in self.studies)

    @property
    def missing(self) -> tuple[str, ...]:
        """Every SOP Instance UID sent that the archive does not hold, study by study."""
        return tuple(uid for s in self.studies for uid in s.missing)

    @property
    def message(self) -> str:
        if self.errors:
            return f"The count on {self.destination} failed: {self.errors[0]}"
        total = sum(s.sent for s in self.studies)
        missing = self.missing
        if not missing:
            return (f"{self.destination} holds all {total} instances sent "
                    f"({len(self.studies)} studies).")
        first = next(s for s in self.studies if s.missing)
        return (f"{self.destination} does not hold {len(missing)} of the {total} instances "
                f"sent (e.g. {first.missing[0]} of study {first.study_uid}): import the "
                "medium again (what the archive holds is replaced, not doubled), or ask the "
                "archive's administrator why it lost them.")


def count_on_archive(config: Config, destination: str,
                     expected: Mapping[str, Collection[str]],
                     cancel: threading.Event | None = None) -> ArchiveCount:
    """Ask `destination` (an archive name or cloud:NAME) for every instance in `expected`
    (study UID -> SOP Instance UIDs sent, e.g. `SendResult.expected`)."""
    dest = Destination.parse(destination, config)
    if dest.kind is DestinationKind.CLOUD:
        found, errors = _qido(config, dest.name, expected)
    else:
        found, errors = _cfind(config, dest.name, expected, cancel)
    studies = tuple(StudyCount(study, len(uids), tuple(u for u in uids if u not in found))
                    for study, uids in expected.items())
    return ArchiveCount(str(dest), studies, tuple(errors))


def _cfind(config: Config, name: str, expected: Mapping[str, Collection[str]],
           cancel: threading.Event | None) -> tuple[set[str], list[str]]:
    """The SOP Instance UIDs the archive finds (Study Root C-FIND at IMAGE level, a list
    of UIDs a query, one by one when the archive takes no lists)."""
    archive = config.archive(name)
    uids = [u for study in expected.values() for u in study]
    located = locate_instances(config, uids, cancel, archives=[archive])
    errors = [e.removeprefix(f"{archive.name}: ") for e in located.errors]
    return set(located.found), errors


def _qido(config: Config, name: str, expected: Mapping[str, Collection[str]]
          ) -> tuple[set[str], list[str]]:
    """The SOP Instance UIDs QIDO-RS lists in each study (see `qido.listed`)."""
    import requests

    target = next(t for t in config.targets if t.name == name)
    found: set[str] = set()
    errors: list[str] = []
    with session_for(target) as session:
        for study, uids in expected.items():
            try:
                found |= qido.listed(session, target.url, study, uids, target.timeout)
            except requests.exceptions.HTTPError as exc:
                code = exc.response.status_code if exc.response is not None else "?"
                errors.append(f"{target.url} answered HTTP {code} to QIDO-RS")
            except ValueError:  # (before RequestException: requests' JSON error is both)
                errors.append(f"{target.url} answered QIDO-RS with something that is "
                              "not DICOM JSON: ask the archive's administrator")
            except requests.exceptions.RequestException as exc:
                errors.append(f"cannot reach {target.url} ({str(exc)[:150]})")
    return found, errors
