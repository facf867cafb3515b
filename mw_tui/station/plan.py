"""Planning a medium: how big a job will be, and on how many media it goes.

Studies already in the store count with their exact file sizes; studies still on an
archive are estimated from their instance count (a typical size per modality), and the
screens say so. The media count uses the media builder's own spanning rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from mw_tui.config import TargetKind
from mw_tui.devices.models import Device
from mw_tui.devices.writers import Writer
from mw_tui.dicom.query import StudyResult
from mw_tui.media import span as spanning
from mw_tui.media.profiles import SECTOR, Profile
from mw_tui.station.targets import TargetChoice
from mw_tui.store.index import StudyRow
from mw_tui.util.text import human_size

# Typical bytes per instance, uncompressed (what an archive sends for each modality).
TYPICAL_INSTANCE = {"CT": 530_000, "MR": 200_000, "CR": 8_000_000, "DX": 10_000_000,
                    "MG": 30_000_000, "US": 900_000, "NM": 300_000, "PT": 300_000,
                    "XA": 5_000_000, "RF": 2_000_000, "SR": 40_000, "DOC": 200_000,
                    "SC": 1_000_000, "OT": 1_000_000}
DEFAULT_INSTANCE = 1_000_000


@dataclass(frozen=True, slots=True)
class StudySize:
    study_uid: str
    bytes: int
    instances: int
    exact: bool  # from the store's files, not an estimate


@dataclass(frozen=True, slots=True)
class Fit:
    """The job against one medium."""

    total: int  # bytes of DICOM content
    exact: bool
    medium: str  # "CD", "DVD", "DVD-DL", "BD", "USB", "ISO (DVD size)", ...
    capacity: int | None
    media: int  # how many media (0: does not fit at all)
    problem: str = ""

    @property
    def fits_one(self) -> bool:
        return self.media == 1


def typical(modalities: Sequence[str], instances: int) -> int:
    per = max((TYPICAL_INSTANCE.get(m, DEFAULT_INSTANCE) for m in modalities if m),
              default=DEFAULT_INSTANCE)
    return per * instances


def media_count(sizes: Sequence[StudySize], capacity: int | None, block: int = SECTOR
                ) -> tuple[int, str]:
    """(media needed, problem); spread with the builder's rules, each study as one
    series of equal instances."""
    if capacity is None:
        return (1, "") if sizes else (0, "")
    studies = []
    for s in sizes:
        n = max(1, s.instances)
        studies.append([[max(1, s.bytes // n)] * n])
    try:
        return len(spanning.span(studies, capacity, block)), ""
    except spanning.DoesNotFit as exc:
        return 0, str(exc)


def fit(sizes: Sequence[StudySize], writer: type[Writer], profile: Profile | None,
        device: Device | None = None) -> Fit:
    """The job against the medium the writer cuts its volumes to."""
    medium = writer.medium(profile, device)
    total = sum(s.bytes for s in sizes)
    exact = all(s.exact for s in sizes)
    count, problem = media_count(sizes, medium.capacity, medium.block)
    name = medium.name if writer.kind is not TargetKind.ISO else f"ISO ({medium.name} size)"
    return Fit(total, exact, name, medium.capacity, count, problem)


def sizes(studies: Sequence[StudyResult], rows: Mapping[str, StudyRow]) -> list[StudySize]:
    """Each study's size: exact when the store holds all its images, else estimated."""
    out = []
    for s in studies:
        row = rows.get(s.study_uid)
        if row is not None and row.instances >= (s.instances or 0):
            out.append(StudySize(s.study_uid, row.size_bytes, row.instances, True))
        else:
            n = s.instances or 0
            out.append(StudySize(s.study_uid, typical(s.modalities, n), n, False))
    return out


class Severity(StrEnum):
    ERROR = "error"  # the job cannot be written like this
    WARNING = "warning"  # it can, but the technician should know


@dataclass(frozen=True, slots=True)
class PlanProblem:
    severity: Severity
    text: str


@dataclass(frozen=True, slots=True)
class MediumPlan:
    """A medium planned: its size against the target, and what stands in the way."""

    fit: Fit | None
    problems: tuple[PlanProblem, ...]

    @property
    def media(self) -> int:
        return self.fit.media if self.fit is not None and self.fit.media else 1

    @property
    def blocked(self) -> str:
        """Why the job cannot be queued as it is ("" when it can)."""
        if self.fit is None:
            return "Choose where to write first."
        if self.fit.media == 0:
            return f"This does not fit: {self.fit.problem}"
        return ""


def plan_medium(studies: Sequence[StudyResult], rows: Mapping[str, StudyRow],
                choice: TargetChoice | None, profile: Profile | None) -> MediumPlan:
    problems: list[PlanProblem] = []
    found: Fit | None = None
    if choice is None:
        problems.append(PlanProblem(Severity.ERROR, (
            "No target to write to: connect a drive or a USB stick, or set an ISO folder in "
            "Settings (F10).")))
    else:
        found = fit(sizes(studies, rows), choice.writer, profile, choice.device)
        if found.media == 0:
            problems.append(PlanProblem(Severity.ERROR,
                                        f"This does not fit on a {found.medium}: "
                                        f"{found.problem}"))
        elif found.capacity is not None and choice.kind is TargetKind.DISC and found.media > 1:
            problems.append(PlanProblem(Severity.WARNING, (
                f"The disc is too small for this job in one piece: it needs {found.media} "
                f"discs of {human_size(found.capacity)} (you will be asked for each one), or "
                "insert a bigger blank disc (DVD, BD).")))
        if choice.writer.needs_media and not choice.ready:
            problems.append(PlanProblem(Severity.WARNING, (
                f"Insert {choice.writer.ask_for(None)}: the job waits for it.")))
    patients = {(s.patient_name, s.patient_id) for s in studies}
    if len(patients) > 1:
        problems.append(PlanProblem(Severity.WARNING, (
            f"These studies belong to {len(patients)} different patients: check that they "
            "may share one medium.")))
    return MediumPlan(found, tuple(problems))
