"""The kiosk app: Textual wiring only (screens and their routes, starting and stopping
the station, routing what the station's threads report to the screens).

Service callbacks run on their own threads: each one only posts a message (thread-safe);
the handlers below keep the app's picture of the station (status, devices, studies in
the store, jobs) and publish it to the screens through signals.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from textual import events, work
from textual.app import App
from textual.binding import Binding
from textual.signal import Signal
from textual.worker import Worker, WorkerState

from mw_tui.station import Station, StationStatus
from mw_tui.station.models import (
    AssociationRejected,
    Device,
    InsertedMedium,
    InstanceRefused,
    Job,
    ReceiverEvent,
    StudyRow,
)
from mw_tui.ui import messages as msg
from mw_tui.ui.navigation import Route
from mw_tui.ui.screens.burn import BurnScreen
from mw_tui.ui.screens.importing import ImportScreen
from mw_tui.ui.screens.jobs import JobsScreen
from mw_tui.ui.screens.received import ReceivedScreen
from mw_tui.ui.screens.review import ReviewScreen
from mw_tui.ui.screens.search import SearchScreen
from mw_tui.ui.screens.small import TooSmallScreen

log = logging.getLogger(__name__)
STYLES = Path(__file__).parent / "ui" / "styles"
MIN_SIZE = (80, 24)
SWITCH_DELAY = 0.005  # seconds


class MwApp(App[None]):
    """`station` is started by the app (in a worker) and stopped by whoever made it."""

    TITLE = "mw-tui"
    CSS_PATH: ClassVar[list[str | Path]] = sorted(STYLES.glob("*.tcss"))  # type: ignore[assignment]
    ENABLE_COMMAND_PALETTE = False
    MODES: ClassVar[dict[str, Any]] = {"search": SearchScreen, "received": ReceivedScreen,
                                       "jobs": JobsScreen, "import": ImportScreen}
    DEFAULT_MODE = "search"
    ROUTES: ClassVar[dict[Route, Any]] = {Route.REVIEW: ReviewScreen, Route.WRITING: BurnScreen}
    BINDINGS: ClassVar[list[Any]] = [
        Binding("f2", "mode('search')", "Find", priority=True),
        Binding("f3", "mode('received')", "Received", priority=True),
        Binding("f4", "mode('jobs')", "Jobs", priority=True),
        Binding("f9", "mode('import')", "Import"),  # not priority: a form's F9 saves it
        Binding("f10", "settings", "Settings", priority=True),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(self, station: Station, *, start_services: bool = True,
                 clock: Callable[[], float] = time.time,
                 status_interval: float = 1.5) -> None:
        super().__init__()
        self.station = station
        self.start_services = start_services
        self.clock = clock
        self.status_interval = status_interval
        self.ready = False
        self.problem = ""  # why the station does not (fully) work
        self.elsewhere = False  # another mw-tui (the kiosk) receives and runs the jobs
        self._runner_busy = ""  # why this station did not run the jobs when it started
        self.status: StationStatus | None = None
        self.devices: dict[str, Device] = {}
        self.store_rows: dict[str, StudyRow] = {}
        self.jobs: dict[int, Job] = {}
        self.inserted: dict[str, InsertedMedium] = {}
        self.status_signal: Signal[None] = Signal(self, "status")
        self.store_signal: Signal[tuple[StudyRow, ...]] = Signal(self, "store")
        self.jobs_signal: Signal[Job | None] = Signal(self, "jobs")
        self.devices_signal: Signal[None] = Signal(self, "devices")
        self.config_signal: Signal[None] = Signal(self, "config")
        self.ready_signal: Signal[None] = Signal(self, "ready")
        self.media_signal: Signal[InsertedMedium] = Signal(self, "media")
        self.pin_gate = station.pin_gate()
        if start_services:
            # While Textual runs, sys.stderr is a capture whose fileno() is -1, and
            # multiprocessing's resource tracker (which the receiver's worker processes
            # need) hands sys.stderr's descriptor to its own process: start it now.
            from multiprocessing import resource_tracker

            resource_tracker.ensure_running()
        self._store_since = 0.0
        self._store_read = False
        self._store_lock = threading.Lock()
        self._last_input = time.monotonic()
        self._refusals = [0.0, 0]  # last notice time, refusals since

    # -- the station's picture ----------------------------------------------------------

    @property
    def config(self) -> Any:
        return self.station.config

    @property
    def device_list(self) -> list[Device]:
        return sorted(self.devices.values(), key=lambda d: (d.kind.value, d.devname))

    # -- life cycle -------------------------------------------------------------------------

    def on_mount(self) -> None:
        if not self.start_services:
            return
        for mode in ("received", "jobs", "import", "search"):  # composed now: quick switch
            self.switch_mode(mode)
        self.station.on_study_changed(self._study_changed)
        self.station.on_receiver_event(self._receiver_event)
        self.station.on_job(self._job_changed)
        self.station.on_device(self._device_event)
        self.station.on_device_problem(self._device_problem)
        self.station.on_medium(self._medium_changed)
        self.station.on_jobs_taken(lambda _: self.post_message(msg.JobsTaken()))
        self._start_station()
        if self.status_interval:
            self.set_interval(self.status_interval, self._poll_status)
        if self.config.ui.idle_minutes:  # looked at four times per idle time, at most 30 s
            self.set_interval(min(30.0, self.config.ui.idle_minutes * 15), self._check_idle)

    def on_unmount(self) -> None:
        self.station.off_job(self._job_changed)

    @work(thread=True, exclusive=True, group="station", exit_on_error=False)
    def _start_station(self) -> None:
        problem = ""
        try:
            self.station.start()
            problem = self.station.receiver_error
        except Exception as exc:  # DemoArchiveError, ...: the message says why
            log.warning("station start: %s", exc)
            problem = str(exc)
        if self.station.port_taken and self.station.another_station_answers():
            problem = (f"Another mw-tui on this machine receives on port "
                       f"{self.config.station.port} and runs the jobs (the kiosk); "
                       "this window searches and queues jobs for it.")
        for device in self.station.device_list():
            self._device_event("added", device)
        busy = self.station.runner_busy
        self.post_message(msg.StationReady(problem or busy, runner_busy=busy))
        self._load_store()
        self._load_jobs()

    def on_station_ready(self, message: msg.StationReady) -> None:
        self.ready = True
        self.problem = message.problem
        self.elsewhere = bool(message.problem)
        self._runner_busy = message.runner_busy
        if message.problem:
            self.notify(message.problem, title="The station does not fully run",
                        severity="error", timeout=30)
        self._poll_status()
        self.config_signal.publish(None)
        self.ready_signal.publish(None)

    def on_jobs_taken(self, _message: msg.JobsTaken) -> None:
        """The process that ran the jobs (a burn command, `mw-tui jobs run`) let them go,
        and this station runs them now."""
        if self.problem and self.problem == self._runner_busy:
            self.problem = ""
            self.elsewhere = False
        self._runner_busy = ""
        self.notify("This station runs the jobs now: the other mw-tui that ran them "
                    "has stopped.", title="Jobs", timeout=10)
        self._load_jobs()

    # -- status -------------------------------------------------------------------------

    def _poll_status(self) -> None:
        if self.ready:
            self.run_worker(self._read_status, thread=True, exclusive=True, group="status",
                            exit_on_error=False)

    def _read_status(self) -> None:
        self.post_message(msg.StatusUpdated(self.station.status()))
        if self.elsewhere:  # another mw-tui receives and runs the jobs: read what it did
            self._load_store()
            self._load_jobs()

    def on_status_updated(self, message: msg.StatusUpdated) -> None:
        self.status = message.status
        self.status_signal.publish(None)

    # -- what the receiver did ----------------------------------------------------------

    def _receiver_event(self, event: ReceiverEvent) -> None:  # receiver thread
        if isinstance(event, AssociationRejected):
            self.post_message(msg.Notice(f"Refused a connection from {event.calling_ae} "
                                         f"({event.peer}): {event.reason}", "warning"))
        elif isinstance(event, InstanceRefused):
            now = time.monotonic()
            self._refusals[1] += 1
            if now - self._refusals[0] > 5:  # a flood of refusals: one notice per 5 s
                n, self._refusals = int(self._refusals[1]), [now, 0]
                self.post_message(msg.Notice(
                    f"Refused {n} image{'s' if n > 1 else ''} from {event.calling_ae}: "
                    f"{event.reason} (0x{event.status:04X})", "error", 10))

    def on_notice(self, message: msg.Notice) -> None:
        self.notify(message.text, severity=message.severity, timeout=message.timeout)

    def _study_changed(self, _change: object) -> None:  # receiver thread (coalesced)
        self.post_message(msg.StoreTouched())

    def on_store_touched(self, _message: msg.StoreTouched) -> None:
        self.run_worker(self._load_store, thread=True, group="store", exit_on_error=False)

    def _load_store(self) -> None:
        with self._store_lock:  # one reader at a time; each reads what changed since
            since, initial = self._store_since, not self._store_read
            rows = self.station.studies(since=since - 2 if since else None)
            if rows:
                self._store_since = max(self._store_since, *(r.updated_at for r in rows))
            self._store_read = True
        if rows or initial:
            self.post_message(msg.StudiesChanged(tuple(rows), initial=initial))

    def on_studies_changed(self, message: msg.StudiesChanged) -> None:
        new = [r for r in message.rows if r.study_uid not in self.store_rows]
        for r in message.rows:
            self.store_rows[r.study_uid] = r
        if new and not message.initial:
            first = new[0]
            more = f" (+{len(new) - 1} more)" if len(new) > 1 else ""
            source = f" from {', '.join(first.sources)}" if first.sources else ""
            self.notify(f"{first.patient_name.replace('^', ' ')}: "
                        f"{'/'.join(first.modalities)} {first.description}{source}{more}",
                        title="Study received", timeout=6)
        self.store_signal.publish(message.rows)

    # -- jobs -----------------------------------------------------------------------------

    def _job_changed(self, job: Job) -> None:  # any thread
        self.post_message(msg.JobUpdated(job))

    def _load_jobs(self) -> None:
        self.post_message(msg.JobsLoaded(tuple(self.station.job_list())))

    def on_jobs_loaded(self, message: msg.JobsLoaded) -> None:
        jobs = {j.id: j for j in message.jobs}
        if jobs != self.jobs:
            self.jobs = jobs
            self.jobs_signal.publish(None)

    def on_job_updated(self, message: msg.JobUpdated) -> None:
        self.jobs[message.job.id] = message.job
        self.jobs_signal.publish(message.job)

    # -- devices --------------------------------------------------------------------------

    def _device_event(self, action: str, device: Device) -> None:  # watcher thread
        self.post_message(msg.DeviceChanged(action, device))

    def _device_problem(self, text: str) -> None:  # watcher thread
        self.post_message(msg.DeviceProblem(text))

    def on_device_changed(self, message: msg.DeviceChanged) -> None:
        d = message.device
        if message.action == "removed":
            self.devices.pop(d.devpath, None)
        else:
            self.devices[d.devpath] = d
        self.devices_signal.publish(None)
        self.status_signal.publish(None)

    def _medium_changed(self, inserted: InsertedMedium) -> None:  # a detector thread
        self.post_message(msg.MediumChanged(inserted))

    def on_medium_changed(self, message: msg.MediumChanged) -> None:
        m = message.inserted
        if m.medium is None:
            self.inserted.pop(m.devpath, None)
        else:
            self.inserted[m.devpath] = m
            patients = {(p.name, p.patient_id) for p in m.medium.patients}
            who = (m.medium.patients[0].name.replace("^", " ") if len(patients) == 1
                   else f"{len(patients)} patients")
            studies = len(m.medium.studies)
            self.notify(f"The {m.what} holds DICOM content: {who}, {studies} "
                        f"stud{'y' if studies == 1 else 'ies'}. F9 imports it.",
                        title="Outside medium", timeout=10)
        self.status_signal.publish(None)
        self.media_signal.publish(m)

    def on_device_problem(self, message: msg.DeviceProblem) -> None:
        self.notify(message.text, title="Drives and USB sticks", severity="warning",
                    timeout=15)

    # -- configuration ------------------------------------------------------------------

    def on_config_changed(self, message: msg.ConfigChanged) -> None:
        self.station.config = message.config
        if message.note:
            self.notify(message.note, title="Settings saved", timeout=10)
        self.config_signal.publish(None)

    # -- navigation -----------------------------------------------------------------------

    def delay_update(self, delay: float = 0.05) -> None:
        """Textual holds the screen back 50 ms when switching modes, to hide screens being
        built; ours are built at start, so the switch shows at once."""
        super().delay_update(min(delay, SWITCH_DELAY))

    def action_mode(self, mode: str) -> None:
        if isinstance(self.screen, TooSmallScreen):
            return
        self.switch_mode(mode)

    def go(self, route: Route, *, replace: bool = False, **params: Any) -> None:
        """The screens move by name (see `ui.navigation`)."""
        if route is Route.NEW_SEARCH:
            self.switch_mode(Route.SEARCH.value)
            while len(self.screen_stack) > 1:
                self.pop_screen()
            if isinstance(self.screen, SearchScreen):
                self.screen.action_clear()
        elif route.value in self.MODES:
            self.switch_mode(route.value)
        elif replace:
            self.switch_screen(self.ROUTES[route](**params))
        else:
            self.push_screen(self.ROUTES[route](**params))

    def action_settings(self) -> None:
        from mw_tui.ui.dialogs.pin import PinScreen
        from mw_tui.ui.screens.settings import SettingsScreen

        if isinstance(self.screen, PinScreen | SettingsScreen | TooSmallScreen):
            return

        def opened(ok: bool | None) -> None:
            if ok:
                self.push_screen(SettingsScreen())

        self.push_screen(PinScreen(), opened)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key | events.MouseDown):
            self._last_input = time.monotonic()
        await super().on_event(event)

    def _check_idle(self) -> None:
        """No key for `ui.idle_minutes`: back to an empty search (no patient on screen)."""
        idle = time.monotonic() - self._last_input
        if idle < self.config.ui.idle_minutes * 60 or isinstance(self.screen, TooSmallScreen):
            return
        self._last_input = time.monotonic()
        self.go(Route.NEW_SEARCH)

    def on_resize(self, event: events.Resize) -> None:
        small = event.size.width < MIN_SIZE[0] or event.size.height < MIN_SIZE[1]
        if small and not isinstance(self.screen, TooSmallScreen):
            self.push_screen(TooSmallScreen())
        elif not small and isinstance(self.screen, TooSmallScreen):
            self.pop_screen()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            self.report_failure(event.worker)

    def report_failure(self, worker: Worker[Any]) -> None:
        """The one place a failing worker is reported (with its message)."""
        if worker.error is None:
            return
        log.error("worker %s failed", worker.name, exc_info=worker.error)
        self.notify(str(worker.error) or repr(worker.error), title="Something went wrong",
                    severity="error", timeout=15)
