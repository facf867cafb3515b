"""The station's services wired together, and the life cycle of each.

`Station` owns the store, the receiver, the job queue and its runner, the auto-rules, the
device watcher, the store's housekeeping and, in demo mode, the embedded demo archive.
Each part is made the first time it is used, so a command that only searches the
archives never opens the store. A plain class (no Textual): callbacks run on service
threads; the app hands them to its own thread. The use cases are its methods (see the
`use` mixins of this package's modules).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from mw_tui.audit import AuditTrail, Lifecycle
from mw_tui.config import Config, StoragePaths
from mw_tui.devices.models import Device
from mw_tui.devices.watcher import DeviceWatcher
from mw_tui.dicom.events import MediaRequested, ReceiverEvent, StudyChanged
from mw_tui.dicom.scp import PortInUse, Receiver, ReceiverError, ReceiverStatus
from mw_tui.jobs.audit import AuditLog
from mw_tui.jobs.bell import ring
from mw_tui.jobs.models import Job
from mw_tui.jobs.queue import JobQueue
from mw_tui.jobs.rules import RuleEngine
from mw_tui.jobs.runner import Runner, RunnerBusy, runs_elsewhere
from mw_tui.media.prerender import Prerenderer
from mw_tui.media.previews import kept_previews
from mw_tui.media.webimages import WebSettings
from mw_tui.station import auditing
from mw_tui.station.housekeeping import Housekeeping
from mw_tui.station.inserted import InsertedMedium, MediaDetector, recent_labels, writing_to
from mw_tui.station.mcm import McmFactory
from mw_tui.store import Store
from mw_tui.util.listeners import Listeners

log = logging.getLogger("mw_tui.station")

RUNS_ELSEWHERE = ("another mw-tui (the kiosk, mw-tui serve or a burn command) is running the "
                  "jobs; this one only queues them")
RUNNER_RETRY = 2.0  # seconds between two tries to take the jobs another process runs


def data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def demo_root() -> Path:
    return data_home() / "mw-tui" / "demo"


def demo_config(config: Config) -> Config:
    """The configuration `--demo` runs with: a store of its own, loopback only, a free
    port when the usual one is taken (the demo archive is added once it runs)."""
    root = demo_root()
    station = dataclasses.replace(config.station, storage=str(root / "store"),
                                  bind="127.0.0.1", min_free_mb=min(config.station.min_free_mb,
                                                                    200))
    devices = dataclasses.replace(config.devices, iso_folder=str(root / "iso"))
    (root / "iso").mkdir(parents=True, exist_ok=True)
    return dataclasses.replace(config, station=station, devices=devices, archives=(), rules=(),
                               path=None)


@dataclass(frozen=True, slots=True)
class StationStatus:
    receiver: ReceiverStatus
    free_bytes: int
    jobs_running: int
    demo: bool


class StationCore:
    """Start/stop everything; subscribe to what happens."""

    def __init__(self, config: Config, demo: bool = False, receive: bool | None = True,
                 watch_devices: bool = True, run_jobs: bool = True,
                 receiver_nice: int = 0) -> None:
        """`receive`: run the receiver (None: only when no station answers on the port,
        as for command-line jobs next to a running kiosk or `mw-tui serve`). `run_jobs`:
        run the job runner and the auto-rules (`mw-tui serve` only receives)."""
        self.demo = demo
        self.receive = receive
        self.watch_devices = watch_devices
        self.run_jobs = run_jobs
        self.receiver_nice = receiver_nice
        self._config = demo_config(config) if demo else config
        self.receiver_events: Listeners[ReceiverEvent] = Listeners("receiver")
        self.study_changes: Listeners[StudyChanged] = Listeners("store")
        self.device_changes: Listeners[tuple[str, Device]] = Listeners("devices")
        self.device_problem_heard: Listeners[str] = Listeners("device problems")
        self.device_problems: list[str] = []
        self.media_changes: Listeners[InsertedMedium] = Listeners("inserted media")
        self.jobs_taken: Listeners[None] = Listeners("jobs taken")
        self.runner_busy = ""  # why this process does not run the jobs (another one does)
        self.receiver_error = ""  # why this process does not receive (port taken, ...)
        self.port_taken = False  # ... because something else listens on the port
        self.demo_archive: Any = None
        self._started = False
        self._made: list[str] = []  # parts made so far, in order
        self._lock = threading.Lock()
        self._retry_stop = threading.Event()  # set: stop trying to take the jobs
        self._retry: threading.Thread | None = None

    # -- the configuration ------------------------------------------------------------

    @property
    def config(self) -> Config:
        return self._config

    @config.setter
    def config(self, config: Config) -> None:
        """A new configuration (saved from Settings): archives, targets and devices apply
        at once; the receiver's settings and the rules at the next start."""
        self._config = config
        if "runner" in self._made:
            self.runner.config = config

    @property
    def paths(self) -> StoragePaths:
        return StoragePaths.of(self._config)

    # -- the parts, each made when first used -------------------------------------------

    def _made_now(self, name: str) -> None:
        self._made.append(name)

    @cached_property
    def store(self) -> Store:
        self._made_now("store")
        return Store(self._config.storage, self._config.station.min_free_mb)

    @cached_property
    def jobs(self) -> JobQueue:
        self._made_now("jobs")
        return JobQueue(self.paths.jobs_db)

    @cached_property
    def audit(self) -> AuditLog:
        self._made_now("audit")
        return AuditLog(self.paths.jobs_db, self._config.station.ae_title,
                        syslog=self._config.jobs.syslog and not self.demo)

    @cached_property
    def rules(self) -> RuleEngine:
        self._made_now("rules")
        rules = RuleEngine(self._config, self.store.index, self.jobs,
                           on_job=self._job_created_by_rule)
        self.receiver_events.add(rules.on_event)
        return rules

    @cached_property
    def devices(self) -> DeviceWatcher:
        self._made_now("devices")
        return DeviceWatcher(
            on_added=lambda d: self._device_event("added", d),
            on_changed=lambda d: self._device_event("changed", d),
            on_removed=lambda d: self._device_event("removed", d),
            on_problem=self._device_problem)

    @cached_property
    def media_detector(self) -> MediaDetector:
        """Says when a disc or stick holding DICOM content is inserted (`media_changes`)."""
        self._made_now("media_detector")
        return MediaDetector(lambda: self._config, self.media_changes.tell,
                             busy=lambda d: writing_to(self.jobs, d),
                             own_labels=lambda: recent_labels(self.jobs))

    @cached_property
    def runner(self) -> Runner:
        self._made_now("runner")
        return Runner(self._config, self.store, self.jobs, self.audit,
                      devices=self.devices.devices, trail=self.trail)

    @cached_property
    def trail(self) -> AuditTrail:
        """The hospital's audit repository ([audit] repository; nothing without one)."""
        self._made_now("trail")
        trail = AuditTrail(self._config, self.paths.audit_spool)
        self.receiver_events.add(lambda event: auditing.receiver_event(trail, event))
        return trail

    @cached_property
    def receiver(self) -> Receiver:
        """The receiver; with [mcm] enabled, its workers take media creation requests."""
        self._made_now("receiver")
        media = McmFactory(self._config) if self._config.mcm.enabled else None
        self.receiver_events.add(self._media_requested)
        return Receiver(self._config, on_event=self.receiver_events.tell,
                        on_study_changed=self.study_changes.tell, nice=self.receiver_nice,
                        media=media)

    def _media_requested(self, event: ReceiverEvent) -> None:
        """A job a RIS asked for (made by a receiver worker): shown, and run at once."""
        if isinstance(event, MediaRequested) and event.job_id:
            self.jobs.announce(event.job_id)
            self.wake_runner()

    @cached_property
    def previews(self) -> Prerenderer:
        """Makes the web previews of what the receiver stores, in the background."""
        self._made_now("previews")
        cache = kept_previews(self.paths.previews, self._config.media)
        prerenderer = Prerenderer(self.store, cache,
                                  WebSettings.from_config(self._config.media))
        if prerenderer.enabled:
            self.study_changes.add(lambda change: prerenderer.study_changed(change.study_uid))
        return prerenderer

    @cached_property
    def housekeeping(self) -> Housekeeping:
        self._made_now("housekeeping")
        return Housekeeping(self._config, in_use=self.jobs.studies_in_use)

    @property
    def runs_jobs_here(self) -> bool:
        """Whether this process's runner works on the jobs (else another station does)."""
        return self._started and "runner" in self._made and not self.runner_busy

    def wake_runner(self) -> None:
        """Have the jobs looked at now: by this process's runner, or by the process that
        runs them (its bell)."""
        if self.runs_jobs_here:
            self.runner.wake()
        else:
            ring(self.paths.jobs_bell)

    # -- subscriptions ------------------------------------------------------------------

    def on_receiver_event(self, callback: Any) -> None:
        self.receiver_events.add(callback)

    def on_study_changed(self, callback: Any) -> None:
        self.study_changes.add(callback)

    def on_device(self, callback: Any) -> None:
        """`callback(action, device)` with action "added", "changed" or "removed"."""
        self.device_changes.add(lambda change: callback(*change))

    def on_device_problem(self, callback: Any) -> None:
        self.device_problem_heard.add(callback)

    def on_medium(self, callback: Any) -> None:
        """`callback(InsertedMedium)` when a medium holding DICOM content comes or goes."""
        self.media_changes.add(callback)

    def on_jobs_taken(self, callback: Any) -> None:
        """`callback(None)` when this station, started while another process ran the
        jobs, runs them from now on (`take_jobs`)."""
        self.jobs_taken.add(callback)

    def on_job(self, callback: Any) -> None:
        """`callback(job)` on every change of a job made in this process."""
        self.jobs.subscribe(callback)

    def off_job(self, callback: Any) -> None:
        self.jobs.unsubscribe(callback)

    def _device_event(self, action: str, device: Device) -> None:
        self.wake_runner()  # a disc or stick may be what a job waits for
        self.device_changes.tell((action, device))

    def _device_problem(self, message: str) -> None:
        log.warning("devices: %s", message)
        self.device_problems.append(message)
        self.device_problem_heard.tell(message)

    def _job_created_by_rule(self, job: Job) -> None:
        self.audit.record_job(job, "job created")
        self.wake_runner()

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start every service. In demo mode this may take a few seconds the first time
        (the sample studies are generated): call it from a worker thread."""
        with self._lock:
            if self._started:
                return
            self._started = True  # from here on, stop() undoes whatever got started
            self.trail.start()
            auditing.lifecycle(self.trail, Lifecycle.START)
            if self.demo:
                self._start_demo()
            elsewhere = (self.run_jobs and self.receive is None and not self.demo
                         and runs_elsewhere(self._config))
            if elsewhere:  # the kiosk or `mw-tui serve`: it receives and runs the jobs
                self.runner_busy = RUNS_ELSEWHERE
                self.receive = self.watch_devices = self.run_jobs = False
            if self.receive is None:
                from mw_tui.dicom.echo import station_answers

                self.receive = not station_answers(self._config)
            if self.receive:
                self._start_receiver()
            if self.demo and self.demo_archive is not None:
                from mw_tui.demo.archive import with_demo_archive

                self.config = with_demo_archive(self._config, self.demo_archive,
                                                station_port=self.receiver.port)
            if self.watch_devices:
                if self._config.importing.detect:
                    self.device_changes.add(self.media_detector.device_changed)
                self.devices.start()
            if self.run_jobs:
                self.runner.config = self._config  # with the demo archive, in demo mode
                try:
                    self.runner.start()
                except RunnerBusy as exc:
                    self.runner_busy = str(exc)
                    log.warning("jobs: %s", exc)
                    self._retry_stop = threading.Event()
                    self._retry = threading.Thread(target=self._retry_runner,
                                                   args=(self._retry_stop,),
                                                   name="jobs-lock-retry", daemon=True)
                    self._retry.start()
                self.rules.start()

    def _retry_runner(self, stop: threading.Event) -> None:
        """The jobs were another process's at start: take them once it lets them go (a
        burn or `mw-tui jobs run` ends), so this station does not stay without a runner."""
        while not stop.wait(RUNNER_RETRY):
            try:
                if self.take_jobs():
                    return
            except Exception:
                log.exception("jobs: starting the runner failed")
                return

    def take_jobs(self) -> bool:
        """Start this station's runner now if it was to run the jobs but another process
        had them, and nobody has them any more. Whether this process runs them now."""
        with self._lock:
            if not self._started or self._retry_stop.is_set():
                return False
            if not self.runner_busy or not self.run_jobs:
                return self.runs_jobs_here
            try:
                self.runner.start()
            except RunnerBusy:
                return False
            self.runner_busy = ""
        log.info("jobs: the other station let the jobs go; this one runs them now")
        self.wake_runner()
        self.jobs_taken.tell(None)
        return True

    def _start_receiver(self) -> None:
        """The store made consistent (crash recovery), then the receiver and the store's
        housekeeping; the rest of the station works even when the port is taken."""
        try:
            self.housekeeping.recover()
            self.receiver.start()
        except ReceiverError as exc:
            self.receiver_error = str(exc)
            self.port_taken = isinstance(exc, PortInUse)
            self.receive = False
            log.error("receiver: %s", exc)
            return
        self.housekeeping.start()
        self.previews.start()

    def _start_demo(self) -> None:
        from mw_tui.demo.archive import DemoArchive

        if self._config.station.port and not _port_free(self._config.station.bind,
                                                        self._config.station.port):
            station = dataclasses.replace(self._config.station, port=_free_port())
            self.config = dataclasses.replace(self._config, station=station)
            self.receiver.config = self._config
            self.receiver.port = station.port
        self.demo_archive = DemoArchive()
        self.demo_archive.start()

    def stop(self) -> None:
        with self._lock:
            if not self._started:
                for name in ("jobs", "audit", "store"):
                    if name in self._made:
                        self._stop_part(name)
                return
            self._started = False
            self._retry_stop.set()
            retry, self._retry = self._retry, None
        if retry is not None and retry is not threading.current_thread():
            retry.join(5)
        for name in ("rules", "runner", "devices", "media_detector", "housekeeping",
                     "previews", "receiver", "demo archive", "jobs", "audit", "store"):
            self._stop_part(name)
        auditing.lifecycle(self.trail, Lifecycle.STOP)
        try:
            self.trail.stop(drain=5.0)  # the stop itself, while the repository answers
        except Exception:
            log.exception("stopping the audit trail failed")

    def _stop_part(self, name: str) -> None:
        if name == "demo archive":
            stop = getattr(self.demo_archive, "stop", None)
        elif name in self._made:
            part = getattr(self, name)
            stop = getattr(part, "close", None) if name in ("jobs", "audit", "store") else (
                part.stop)
        else:
            return
        if stop is None:
            return
        try:
            stop()  # each is a no-op when it was not started
        except Exception:
            log.exception("stopping the %s failed", name)

    def status(self) -> StationStatus:
        try:
            free = shutil.disk_usage(self._config.storage).free
        except OSError:
            free = 0
        return StationStatus(
            receiver=self.receiver.status(),
            free_bytes=free,
            jobs_running=len(self.jobs.list(active_only=True)),
            demo=self.demo,
        )


def _port_free(host: str, port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
            return True
        except OSError:
            return False


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
