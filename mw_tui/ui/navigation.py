"""What the screens know of the app: the station's picture it keeps, and routes by name.

Screens never import `app.py` or another screen: they read `StationApp` (this protocol,
which `MwApp` fulfils) and move with `go(route, ...)`. The routes:

| route | what |
| --- | --- |
| "search", "received", "jobs", "import" | the four modes (F2, F3, F4, F9) |
| "new-search" | back to an empty search, every other screen closed |
| "review" | `studies=[StudyResult, ...]`: what to write, where, how |
| "writing" | `job_id=N`: one job live |
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any, Protocol

from textual.signal import Signal
from textual.worker import Worker

from mw_tui.config import Config
from mw_tui.station import Station, StationStatus
from mw_tui.station.models import Device, InsertedMedium, Job, StudyRow
from mw_tui.station.pin import PinGate


class Route(StrEnum):
    SEARCH = "search"
    RECEIVED = "received"
    JOBS = "jobs"
    IMPORT = "import"
    NEW_SEARCH = "new-search"
    REVIEW = "review"
    WRITING = "writing"


class StationApp(Protocol):
    station: Station
    start_services: bool
    clock: Callable[[], float]
    ready: bool
    problem: str
    status: StationStatus | None
    store_rows: dict[str, StudyRow]
    jobs: dict[int, Job]
    inserted: dict[str, InsertedMedium]  # DEVPATH -> a disc or stick with DICOM content
    pin_gate: PinGate
    status_signal: Signal[None]
    store_signal: Signal[tuple[StudyRow, ...]]
    jobs_signal: Signal[Job | None]
    devices_signal: Signal[None]
    config_signal: Signal[None]
    ready_signal: Signal[None]
    media_signal: Signal[InsertedMedium]

    @property
    def config(self) -> Config: ...

    @property
    def device_list(self) -> list[Device]: ...

    def go(self, route: Route, *, replace: bool = False, **params: Any) -> None:
        """Show the screen of `route` (pushed, or in place of this one with `replace`)."""

    def report_failure(self, worker: Worker[Any]) -> None: ...
