"""The receiver service: Storage and Verification SCP (and, when the station gives it one,
Media Creation Management) in worker processes sharing one port.

`Receiver.start()` binds the port (and the DICOM TLS port when configured) and starts
worker processes that accept associations
on the shared listening sockets (`worker.py`); each association runs on its own thread
in a worker (`acceptor.AssociationHandler`). The workers report through a queue; a
thread here turns that into callbacks, so the process that owns the receiver (the kiosk
UI, or `mw-tui serve`) never does the receiving work itself and stays responsive at full
speed. The store's recovery and retention are the station's (`station.housekeeping`).
No Textual here.
"""

from __future__ import annotations

import errno
import logging
import multiprocessing
import multiprocessing.process
import multiprocessing.synchronize
import os
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mw_tui.config import Config
from mw_tui.dicom import tls
from mw_tui.dicom.events import (
    AssociationClosed,
    AssociationOpened,
    InstanceStored,
    ReceiverEvent,
    StudyChanged,
)
from mw_tui.dicom.mcm import MediaCreationFactory
from mw_tui.dicom.worker import SharedCounts, WorkerArgs, worker_main
from mw_tui.store import Store
from mw_tui.util.coalesce import Coalescer

log = logging.getLogger(__name__)

LISTEN_BACKLOG = 1024  # a burst of connections waits in the kernel (somaxconn caps it)


class ReceiverError(Exception):
    """The receiver cannot start; the message says why and what to do."""


class PortInUse(ReceiverError):
    """Something else listens on the port (often the kiosk's own receiver)."""


@dataclass(frozen=True, slots=True)
class ReceiverStatus:
    listening: bool
    ae_title: str
    bind: str
    port: int
    associations: int
    workers: int
    tls_port: int = 0  # 0: no TLS listener
    waiting: int = 0  # connections that have not associated yet
    worker_pids: tuple[int, ...] = ()


def start_method() -> str:
    """How workers start: forked when this process runs no other thread yet (a worker is
    then ready in milliseconds, with the modules already imported: what `mw-tui burn`
    and `serve` get), spawned otherwise (the kiosk: forking a process that runs threads
    could copy a lock one of them holds). Workers restarted later start the same way."""
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return "fork"
    return "spawn"


def default_processes() -> int:
    return max(1, min(os.cpu_count() or 1, 4))


def bind_socket(host: str, port: int, what: str = "station.port") -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.create_server((host, port), family=family, backlog=LISTEN_BACKLOG)
    except PermissionError as exc:
        raise ReceiverError(f"not allowed to listen on port {port}: ports below 1024 need "
                            "privileges (use a port above 1024, e.g. 11112)") from exc
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(f"port {port} on {host} is already in use: is another "
                                f"mw-tui or DICOM server running? Stop it or change "
                                f"{what}") from exc
        raise ReceiverError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return sock


class Receiver:
    """Start/stop the Storage and Verification SCP; events arrive through callbacks.

    `on_event` gets every `ReceiverEvent`; `on_study_changed` gets a `StudyChanged` per
    study a few times per second at most while instances arrive. Callbacks run on the
    receiver's own threads: a UI must hand them over to its own thread (Textual:
    `post_message`). Call `start()` and `stop()` from a long-lived thread.
    """

    def __init__(self, config: Config, on_event: Callable[[ReceiverEvent], None] | None = None,
                 on_study_changed: Callable[[StudyChanged], None] | None = None,
                 processes: int | None = None, nice: int = 0,
                 media: MediaCreationFactory | None = None) -> None:
        """`nice`: lower the workers' CPU priority by this much (the kiosk: its screens
        stay quick while a study arrives at full speed). `media`: makes each worker's
        Media Creation Management (picklable; None = no such service)."""
        self.nice = nice
        self.media = media
        self.config = config
        self.on_event = on_event
        self.on_study_changed = on_study_changed
        self.processes = processes or config.station.receiver_processes or default_processes()
        self._sock: socket.socket | None = None
        self._tls_sock: socket.socket | None = None
        self._ctx: Any = multiprocessing.get_context("spawn")
        self._workers: list[multiprocessing.process.BaseProcess] = []
        self._queue: Any = None
        self._stop: multiprocessing.synchronize.Event | None = None
        self._counts: Any = None  # Array("i", 2 * processes): see worker.SharedCounts
        self._ready: Any = None  # Array("b", processes): worker i accepts connections
        self._pump: threading.Thread | None = None
        self._coalescer: Coalescer | None = None
        self._running = False
        self.port = config.station.port
        self.tls_port = config.tls.port

    # -- life cycle -------------------------------------------------------------------

    def start(self) -> None:
        if self._running:
            return
        s = self.config.station
        try:  # made here, so the workers never race to create the index
            Store(self.config.storage, s.min_free_mb).close()
        except OSError as exc:
            raise ReceiverError(f"cannot use the storage folder {s.storage}: "
                                f"{exc.strerror or exc}") from exc
        self._check_tls()
        self._sock = bind_socket(s.bind, s.port)
        self.port = self._sock.getsockname()[1]
        if self.config.tls.port:
            try:
                self._tls_sock = bind_socket(s.bind, self.config.tls.port, "tls.port")
            except ReceiverError:
                self._sock.close()
                self._sock = None
                raise
            self.tls_port = self._tls_sock.getsockname()[1]
        self._ctx = multiprocessing.get_context(start_method())
        self._queue = self._ctx.Queue()
        self._stop = self._ctx.Event()
        self._counts = self._ctx.Array("i", 2 * self.processes)
        self._ready = self._ctx.Array("b", self.processes)
        self._coalescer = Coalescer(self._deliver_study, interval=0.3)
        for i in range(self.processes):
            self._workers.append(self._spawn(i))
        self._running = True
        self._wait_ready()
        self._pump = threading.Thread(target=self._pump_events, name="receiver-events",
                                      daemon=True)
        self._pump.start()
        tls_note = f", DICOM TLS on port {self.tls_port}" if self._tls_sock else ""
        log.info("receiver %s listening on %s:%d%s (%d worker processes)", s.ae_title, s.bind,
                 self.port, tls_note, self.processes)

    def _wait_ready(self, timeout: float = 30.0) -> None:
        """Return once every worker accepts, so the first association is served at once."""
        deadline = time.monotonic() + timeout
        while not all(self._ready[:]) and time.monotonic() < deadline:
            dead = [p for p in self._workers if not p.is_alive()]
            if dead:
                self.stop(grace=1)
                raise ReceiverError(f"a receiver worker process ended at start (exit code "
                                    f"{dead[0].exitcode}); the log above says why")
            time.sleep(0.01)

    def _check_tls(self) -> None:
        """A TLS configuration that cannot work stops the start, saying what to fix."""
        t = self.config.tls
        if not t.port:
            return
        if t.port == self.config.station.port:
            raise ReceiverError(f"tls.port {t.port} is also station.port: the DICOM TLS "
                                "listener needs a port of its own (2762 is the usual one)")
        try:
            tls.server_context(t)
        except tls.TlsError as exc:
            raise ReceiverError(f"DICOM TLS cannot start: {exc}") from exc

    def _spawn(self, index: int) -> multiprocessing.process.BaseProcess:
        assert self._stop is not None and self._sock is not None
        args = WorkerArgs(config=self.config, plain=self._sock, tls=self._tls_sock,
                          counts=self._counts, ready=self._ready, workers=self.processes,
                          index=index,
                          queue=self._queue, stop=self._stop,
                          level=logging.getLogger().getEffectiveLevel(), parent=os.getpid(),
                          nice=self.nice, media=self.media)
        p = self._ctx.Process(target=worker_main, args=(args,), name="mw-tui-receiver", daemon=True)
        p.start()
        return p

    def stop(self, grace: float = 10.0) -> None:
        """Stop accepting; let running associations finish for up to `grace` seconds."""
        if not self._running:
            return
        self._running = False
        assert self._stop is not None and self._sock is not None
        self._stop.set()
        for listener in (self._sock, self._tls_sock):
            if listener is not None:  # wakes every worker's accept loop at once
                try:
                    listener.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        deadline = time.monotonic() + grace
        for p in self._workers:
            p.join(max(0.1, deadline - time.monotonic()))
            if p.is_alive():
                p.terminate()
                p.join(2)
        self._workers = []
        self._sock.close()
        self._sock = None
        if self._tls_sock is not None:
            self._tls_sock.close()
            self._tls_sock = None
        if self._pump is not None:
            self._queue.put(None)
            self._pump.join(5)
        if self._coalescer is not None:
            self._coalescer.close()
        self._queue.close()
        log.info("receiver stopped")

    def __enter__(self) -> Receiver:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def status(self) -> ReceiverStatus:
        s = self.config.station
        n = self.processes
        counts = list(self._counts[:]) if self._counts is not None else [0] * (2 * n)
        alive = [p for p in self._workers if p.is_alive()]
        return ReceiverStatus(
            listening=self._running,
            ae_title=s.ae_title,
            bind=s.bind,
            port=self.port,
            associations=sum(counts[:n]),
            workers=len(alive),
            tls_port=self.tls_port if self._tls_sock is not None else 0,
            waiting=sum(counts[n:]),
            worker_pids=tuple(p.pid for p in alive if p.pid is not None),
        )

    # -- events from the workers ------------------------------------------------------

    def _pump_events(self) -> None:
        last_check = time.monotonic()
        while True:
            try:
                item = self._queue.get(timeout=1.0)
            except queue.Empty:
                item = ()
            except (EOFError, OSError):
                return
            if item is None:
                return
            if isinstance(item, logging.LogRecord):
                logging.getLogger(item.name).handle(item)
            elif item != ():
                self._deliver(item)
            if self._running and time.monotonic() - last_check > 1.0:
                last_check = time.monotonic()
                self._supervise()

    def _deliver(self, event: ReceiverEvent) -> None:
        if isinstance(event, InstanceStored) and self._coalescer is not None:
            self._coalescer.add(event.study_uid)
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                log.exception("receiver event callback failed")

    def _deliver_study(self, study_uid: str, count: int) -> None:
        if self.on_study_changed is not None:
            self.on_study_changed(StudyChanged(study_uid, count))

    def _supervise(self) -> None:
        for i, p in enumerate(self._workers):
            if not p.is_alive() and self._running:
                log.error("receiver worker %d ended unexpectedly (exit code %s); restarting it",
                          p.pid, p.exitcode)
                SharedCounts(self._counts, self.processes, i, 0).reset()  # its slots are free
                self._ready[i] = 0
                self._workers[i] = self._spawn(i)


__all__ = ["AssociationClosed", "AssociationOpened", "Receiver", "ReceiverError",
           "ReceiverStatus"]
