"""Messages the services' threads post to the app (thread-safe `post_message`).

Threads never touch widgets: a service callback turns what happened into one of these,
and a handler on the app's thread updates the screens. Messages that may come in floods
say so with `can_replace` (only the newest of a run is handled).
"""

from __future__ import annotations

from typing import Any

from textual.message import Message
from textual.notifications import SeverityLevel

from mw_tui.station import StationStatus
from mw_tui.station.models import (
    ArchiveOutcome,
    Device,
    EchoResult,
    InsertedMedium,
    Job,
    Medium,
    Proposal,
    SearchResult,
    SeriesResult,
    SeriesRow,
    StudyRow,
)


class StationReady(Message):
    """The station's services run (or run partly: `problem` says what does not)."""

    def __init__(self, problem: str = "", runner_busy: str = "") -> None:
        super().__init__()
        self.problem = problem
        self.runner_busy = runner_busy  # why it does not run the jobs ("" when it does)


class JobsTaken(Message):
    """This station runs the jobs now (the process that ran them let them go)."""


class StatusUpdated(Message):
    def __init__(self, status: StationStatus) -> None:
        super().__init__()
        self.status = status

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, StatusUpdated)


class Notice(Message):
    """Something the technician should see wherever they are (a toast)."""

    def __init__(self, text: str, severity: SeverityLevel = "information",
                 timeout: float = 6.0) -> None:
        super().__init__()
        self.text = text
        self.severity = severity
        self.timeout = timeout


class StudiesChanged(Message):
    """Studies in the store changed (received or retrieved); `rows` are their new states."""

    def __init__(self, rows: tuple[StudyRow, ...], initial: bool = False) -> None:
        super().__init__()
        self.rows = rows
        self.initial = initial  # the first reading of the store, not news


class StoreTouched(Message):
    """The receiver changed a study: merged, the app reads the store once per burst."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, StoreTouched)


class JobUpdated(Message):
    def __init__(self, job: Job) -> None:
        super().__init__()
        self.job = job

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, JobUpdated) and message.job.id == self.job.id


class JobsLoaded(Message):
    def __init__(self, jobs: tuple[Job, ...]) -> None:
        super().__init__()
        self.jobs = jobs


class JobEventsLoaded(Message):
    def __init__(self, job_id: int, events: tuple[tuple[float, str, str], ...]) -> None:
        super().__init__()
        self.job_id = job_id
        self.events = events


class DeviceChanged(Message):
    """A drive or stick came (`added`), changed or went (`removed`)."""

    def __init__(self, action: str, device: Device) -> None:
        super().__init__()
        self.action = action
        self.device = device


class DeviceProblem(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class SearchResultsPending(Message):
    """Results are waiting in the screen's buffer (merged: one message per burst)."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SearchResultsPending)


class SearchOutcome(Message):
    def __init__(self, outcome: ArchiveOutcome) -> None:
        super().__init__()
        self.outcome = outcome


class SearchFinished(Message):
    def __init__(self, result: SearchResult) -> None:
        super().__init__()
        self.result = result


class TargetsFound(Message):
    """Where a job can go now (read on a worker: disc publishers' state)."""

    def __init__(self, targets: tuple[Any, ...]) -> None:
        super().__init__()
        self.targets = targets


class ReportsCounted(Message):
    """How many reports a study has (None: nobody could tell)."""

    def __init__(self, study_uid: str, count: int | None) -> None:
        super().__init__()
        self.study_uid = study_uid
        self.count = count


class SeriesListed(Message):
    """The series of one study: from the store (`local`) or from an archive."""

    def __init__(self, study_uid: str, local: tuple[SeriesRow, ...] = (),
                 remote: tuple[SeriesResult, ...] = (), problem: str = "") -> None:
        super().__init__()
        self.study_uid = study_uid
        self.local = local
        self.remote = remote
        self.problem = problem


class EchoDone(Message):
    def __init__(self, result: EchoResult) -> None:
        super().__init__()
        self.result = result


class ConfigChanged(Message):
    """Settings were saved: the new configuration (already validated and written)."""

    def __init__(self, config: Any, note: str = "") -> None:
        super().__init__()
        self.config = config
        self.note = note


class JobCreated(Message):
    """A job the technician asked for is queued."""

    def __init__(self, job: Job) -> None:
        super().__init__()
        self.job = job


class MediumChanged(Message):
    """A disc or stick holding DICOM content was inserted (or went: `medium.present` off)."""

    def __init__(self, inserted: InsertedMedium) -> None:
        super().__init__()
        self.inserted = inserted


class MediumRead(Message):
    """What an outside medium holds, or why it cannot be read (`problem`)."""

    def __init__(self, source: str, medium: Medium | None, problem: str = "") -> None:
        super().__init__()
        self.source = source
        self.medium = medium
        self.problem = problem


class MediumReading(Message):
    """How far the reading of a medium is (merged: only the newest is handled)."""

    def __init__(self, source: str, done: int, total: int) -> None:
        super().__init__()
        self.source = source
        self.done = done
        self.total = total

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, MediumReading)


class PatientsProposed(Message):
    """The local patients the archives know for each outside patient of a medium."""

    def __init__(self, source: str, proposals: tuple[Proposal, ...]) -> None:
        super().__init__()
        self.source = source
        self.proposals = proposals
