"""The station's services wired together: what the kiosk app (and `mw-tui serve`) runs.

`Station` owns the store, the receiver, the job queue and its runner, the auto-rules,
the device watcher and, in demo mode, the embedded demo archive. It is a plain class
(no Textual): callbacks run on service threads; the app hands them to its own thread.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mw_tui.config import Config
from mw_tui.devices.models import Device
from mw_tui.devices.watcher import DeviceWatcher
from mw_tui.dicom.events import ReceiverEvent, StudyChanged
from mw_tui.dicom.scp import PortInUse, Receiver, ReceiverError, ReceiverStatus
from mw_tui.jobs.audit import AuditLog, current_user
from mw_tui.jobs.models import Job, StudyRef, Target
from mw_tui.jobs.queue import JobQueue
from mw_tui.jobs.rules import RuleEngine
from mw_tui.jobs.runner import Runner, RunnerBusy, cancel_now
from mw_tui.store import Store

log = logging.getLogger(__name__)


def data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def demo_config(config: Config) -> Config:
    """The configuration `--demo` runs with: a store of its own, loopback only, a free
    port when the usual one is taken (the demo archive is added once it runs)."""
    root = data_home() / "mw-tui" / "demo"
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


Callback = Callable[[Any], None]


class Station:
    """Start/stop everything; subscribe to what happens."""

    def __init__(self, config: Config, demo: bool = False, receive: bool | None = True,
                 watch_devices: bool = True, receiver_nice: int = 0) -> None:
        """`receive`: run the receiver (None: only when no station answers on the port,
        as for command-line jobs next to a running kiosk or `mw-tui serve`)."""
        self.demo = demo
        self.receive = receive
        self.watch_devices = watch_devices
        self.config = demo_config(config) if demo else config
        self.store = Store(self.config.storage, self.config.station.min_free_mb)
        work = self.config.storage
        self.jobs = JobQueue(work / "jobs.sqlite")
        self.audit = AuditLog(work / "jobs.sqlite", self.config.station.ae_title,
                              syslog=self.config.jobs.syslog and not demo)
        self.rules = RuleEngine(self.config, self.store.index, self.jobs,
                                on_job=self._job_created_by_rule)
        self._receiver_listeners: list[Callable[[ReceiverEvent], None]] = [self.rules.on_event]
        self._study_listeners: list[Callable[[StudyChanged], None]] = []
        self._device_listeners: list[Callable[[str, Device], None]] = []
        self._problem_listeners: list[Callable[[str], None]] = []
        self.device_problems: list[str] = []
        self.devices = DeviceWatcher(
            on_added=lambda d: self._device_event("added", d),
            on_changed=lambda d: self._device_event("changed", d),
            on_removed=lambda d: self._device_event("removed", d),
            on_problem=self._device_problem)
        self.runner = Runner(self.config, self.store, self.jobs, self.audit,
                             devices=self.devices.devices)
        self.runner_busy = ""  # why this process does not run the jobs (another one does)
        self.receiver_error = ""  # why this process does not receive (port taken, ...)
        self.port_taken = False  # ... because something else listens on the port
        self.receiver = Receiver(self.config, on_event=self._receiver_event,
                                 on_study_changed=self._study_changed,
                                 in_use=self.jobs.studies_in_use,  # retention keeps them
                                 nice=receiver_nice)
        self.demo_archive: Any = None
        self._started = False
        self._lock = threading.Lock()

    # -- subscriptions ------------------------------------------------------------------

    def on_receiver_event(self, callback: Callable[[ReceiverEvent], None]) -> None:
        self._receiver_listeners.append(callback)

    def on_study_changed(self, callback: Callable[[StudyChanged], None]) -> None:
        self._study_listeners.append(callback)

    def on_device(self, callback: Callable[[str, Device], None]) -> None:
        """`callback(action, device)` with action "added", "changed" or "removed"."""
        self._device_listeners.append(callback)

    def on_device_problem(self, callback: Callable[[str], None]) -> None:
        self._problem_listeners.append(callback)

    def _device_event(self, action: str, device: Device) -> None:
        self.runner.wake()  # a disc or stick may be what a job waits for
        for cb in list(self._device_listeners):
            try:
                cb(action, device)
            except Exception:
                log.exception("device listener failed")

    def _device_problem(self, message: str) -> None:
        log.warning("devices: %s", message)
        self.device_problems.append(message)
        for cb in list(self._problem_listeners):
            try:
                cb(message)
            except Exception:
                log.exception("device problem listener failed")

    def _job_created_by_rule(self, job: Job) -> None:
        self.audit.record_job(job, "job created")
        self.runner.wake()

    # -- jobs -----------------------------------------------------------------------------

    def create_job(self, studies: list[StudyRef] | tuple[StudyRef, ...], target: Target | str,
                   profile: str = "", copies: int = 1, label: str = "", user: str = "",
                   patient_name: str = "", patient_id: str = "") -> Job:
        """Queue a job (the runner starts it at once) and record who asked for it."""
        if isinstance(target, str):
            target = Target.parse(target)
        first = self.store.index.study(studies[0].study_uid) if studies else None
        job = self.jobs.create(
            target, profile or self.config.media.default_profile, tuple(studies),
            patient_name=patient_name or (first.patient_name if first else ""),
            patient_id=patient_id or (first.patient_id if first else ""), copies=copies,
            label=label, requested_by=user or current_user())
        self.audit.record_job(job, "job created")
        self.runner.wake()
        return job

    def cancel_job(self, job_id: int, user: str = "") -> Job:
        if self.runner_busy or not self._started:
            return cancel_now(self.config, self.jobs, self.audit, job_id,
                              user or current_user())
        job, now = self.jobs.cancel(job_id)
        if now:  # it had not started: nothing to stop
            self.audit.record_job(job, "job cancelled", user=user or current_user(),
                                  result="cancelled")
        self.runner.wake()
        return job

    def _receiver_event(self, event: ReceiverEvent) -> None:
        for cb in list(self._receiver_listeners):
            try:
                cb(event)
            except Exception:
                log.exception("receiver listener failed")

    def _study_changed(self, change: StudyChanged) -> None:
        for cb in list(self._study_listeners):
            try:
                cb(change)
            except Exception:
                log.exception("study listener failed")

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start every service. In demo mode this may take a few seconds the first time
        (the sample studies are generated): call it from a worker thread."""
        with self._lock:
            if self._started:
                return
            self._started = True  # from here on, stop() undoes whatever got started
            if self.demo:
                self._start_demo()
            if self.receive is None:
                from mw_tui.dicom.echo import station_answers

                self.receive = not station_answers(self.config)
            if self.receive:
                try:
                    self.receiver.start()
                except ReceiverError as exc:  # the rest of the station still works
                    self.receiver_error = str(exc)
                    self.port_taken = isinstance(exc, PortInUse)
                    self.receive = False
                    log.error("receiver: %s", exc)
            if self.demo and self.demo_archive is not None:
                from mw_tui.demo.archive import with_demo_archive

                self.config = with_demo_archive(self.config, self.demo_archive,
                                                station_port=self.receiver.port)
            self.runner.config = self.config  # with the demo archive, in demo mode
            if self.watch_devices:
                self.devices.start()
            try:
                self.runner.start()
            except RunnerBusy as exc:
                self.runner_busy = str(exc)
                log.warning("jobs: %s", exc)
            self.rules.start()

    def _start_demo(self) -> None:
        from mw_tui.demo.archive import DemoArchive

        if self.config.station.port and not _port_free(self.config.station.bind,
                                                       self.config.station.port):
            station = dataclasses.replace(self.config.station, port=_free_port())
            self.config = dataclasses.replace(self.config, station=station)
            self.receiver.config = self.config
            self.receiver.port = station.port
        self.demo_archive = DemoArchive()
        self.demo_archive.start()

    def stop(self) -> None:
        with self._lock:
            if not self._started:
                return
            self._started = False
        for part, stop in (("auto-rules", self.rules.stop), ("job runner", self.runner.stop),
                           ("device watcher", self.devices.stop),
                           ("receiver", self.receiver.stop),
                           ("demo archive", getattr(self.demo_archive, "stop", None)),
                           ("jobs database", self.jobs.close), ("audit log", self.audit.close),
                           ("store", self.store.close)):
            if stop is None:
                continue
            try:
                stop()  # each is a no-op when it was not started
            except Exception:
                log.exception("stopping the %s failed", part)

    def status(self) -> StationStatus:
        try:
            free = shutil.disk_usage(self.config.storage).free
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
