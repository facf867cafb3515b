"""The receiver service: Storage and Verification SCP in worker processes sharing one port.

`Receiver.start()` binds the port, makes index and files agree (crash recovery), and
starts worker processes that accept associations on the shared listening socket; each
association runs on its own thread in a worker (`acceptor.AssociationHandler`). The
workers report through a queue; a thread here turns that into callbacks, so the
process that owns the receiver (the kiosk UI, or `mw-tui serve`) never does the
receiving work itself and stays responsive at full speed. No Textual here.
"""

from __future__ import annotations

import logging
import logging.handlers
import multiprocessing
import multiprocessing.context
import multiprocessing.synchronize
import os
import queue
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized
from typing import Any

from mw_tui.coalesce import Coalescer
from mw_tui.config import Config
from mw_tui.dicom.acceptor import AcceptorSettings, AssociationHandler
from mw_tui.dicom.events import (
    AssociationClosed,
    AssociationOpened,
    InstanceStored,
    ReceiverEvent,
    StudyChanged,
)
from mw_tui.store import Store
from mw_tui.store.check import recover

log = logging.getLogger(__name__)

_CTX = multiprocessing.get_context("spawn")


class ReceiverError(Exception):
    """The receiver cannot start; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class ReceiverStatus:
    listening: bool
    ae_title: str
    bind: str
    port: int
    associations: int
    workers: int


class SharedSlots:
    """The association limit, counted across every worker process."""

    def __init__(self, counter: Synchronized, limit: int) -> None:
        self.counter = counter
        self.limit = limit

    def acquire(self) -> bool:
        with self.counter.get_lock():
            if self.counter.value >= self.limit:
                return False
            self.counter.value += 1
            return True

    def release(self) -> None:
        with self.counter.get_lock():
            self.counter.value = max(0, self.counter.value - 1)


def default_processes() -> int:
    return max(1, min(os.cpu_count() or 1, 4))


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.create_server((host, port), family=family, backlog=128)
    except PermissionError as exc:
        raise ReceiverError(f"not allowed to listen on port {port}: ports below 1024 need "
                            "privileges (use a port above 1024, e.g. 11112)") from exc
    except OSError as exc:
        if exc.errno == 98:  # EADDRINUSE
            raise ReceiverError(f"port {port} on {host} is already in use: is another "
                                "mw-tui or DICOM server running? Stop it or change "
                                "station.port") from exc
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
                 processes: int | None = None) -> None:
        self.config = config
        self.on_event = on_event
        self.on_study_changed = on_study_changed
        self.processes = processes or config.station.receiver_processes or default_processes()
        self._sock: socket.socket | None = None
        self._workers: list[multiprocessing.context.SpawnProcess] = []
        self._queue: Any = None
        self._stop: multiprocessing.synchronize.Event | None = None
        self._counter: Synchronized | None = None
        self._pump: threading.Thread | None = None
        self._coalescer: Coalescer | None = None
        self._running = False
        self.port = config.station.port

    # -- life cycle -------------------------------------------------------------------

    def start(self) -> None:
        if self._running:
            return
        s = self.config.station
        try:
            store = Store(self.config.storage, s.min_free_mb)
        except OSError as exc:
            raise ReceiverError(f"cannot use the storage folder {s.storage}: "
                                f"{exc.strerror or exc}") from exc
        try:
            recover(store)
        finally:
            store.close()
        self._sock = bind_socket(s.bind, s.port)
        self.port = self._sock.getsockname()[1]
        self._queue = _CTX.Queue()
        self._stop = _CTX.Event()
        self._counter = _CTX.Value("i", 0)
        self._coalescer = Coalescer(self._deliver_study, interval=0.3)
        for _ in range(self.processes):
            self._workers.append(self._spawn())
        self._running = True
        self._pump = threading.Thread(target=self._pump_events, name="receiver-events",
                                      daemon=True)
        self._pump.start()
        log.info("receiver %s listening on %s:%d (%d worker processes)", s.ae_title, s.bind,
                 self.port, self.processes)

    def _spawn(self) -> multiprocessing.context.SpawnProcess:
        p = _CTX.Process(
            target=_worker_main,
            args=(self._sock, self.config, self._counter, self._queue, self._stop,
                  logging.getLogger().getEffectiveLevel(), os.getpid()),
            name="mw-tui-receiver",
            daemon=True,
        )
        p.start()
        return p

    def stop(self, grace: float = 10.0) -> None:
        """Stop accepting; let running associations finish for up to `grace` seconds."""
        if not self._running:
            return
        self._running = False
        assert self._stop is not None and self._sock is not None
        self._stop.set()
        deadline = time.monotonic() + grace
        for p in self._workers:
            p.join(max(0.1, deadline - time.monotonic()))
            if p.is_alive():
                p.terminate()
                p.join(2)
        self._workers = []
        self._sock.close()
        self._sock = None
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
        return ReceiverStatus(
            listening=self._running,
            ae_title=s.ae_title,
            bind=s.bind,
            port=self.port,
            associations=self._counter.value if self._counter is not None else 0,
            workers=sum(1 for p in self._workers if p.is_alive()),
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
                self._workers[i] = self._spawn()


# -- the worker process ------------------------------------------------------------------


class _QueueEmit:
    def __init__(self, q: Any) -> None:
        self.q = q

    def __call__(self, event: ReceiverEvent) -> None:
        self.q.put(event)


def _watch_parent(parent: int) -> None:
    """End this worker at once when the owning process is gone (even after kill -9)."""
    while True:
        if os.getppid() != parent:
            os._exit(0)
        time.sleep(0.2)


def _worker_main(sock: socket.socket, config: Config, counter: Synchronized,
                 q: Any, stop: multiprocessing.synchronize.Event, level: int,
                 parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    root = logging.getLogger()
    root.handlers[:] = [logging.handlers.QueueHandler(q)]
    root.setLevel(level)
    store = Store(config.storage, config.station.min_free_mb)
    settings = AcceptorSettings.from_config(config)
    slots = SharedSlots(counter, config.station.max_associations)
    emit = _QueueEmit(q)
    sock.settimeout(0.25)
    threads: list[threading.Thread] = []
    while not stop.is_set():
        try:
            conn, addr = sock.accept()
        except (TimeoutError, BlockingIOError, InterruptedError):
            continue
        except OSError as exc:
            if stop.is_set():
                break
            logging.getLogger(__name__).error("accept failed: %s", exc)
            time.sleep(0.1)
            continue
        conn.settimeout(None)
        handler = AssociationHandler(conn, addr, settings, store, slots, emit)
        t = threading.Thread(target=handler.run, name=f"assoc-{addr[0]}:{addr[1]}", daemon=True)
        t.start()
        threads = [x for x in threads if x.is_alive()]
        threads.append(t)
    deadline = time.monotonic() + 8
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    store.close()
    q.close()
    q.join_thread()


__all__ = ["AssociationClosed", "AssociationOpened", "Receiver", "ReceiverError",
           "ReceiverStatus"]
