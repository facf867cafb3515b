"""A receiver worker process: accepts on the shared listening sockets, one thread each.

Every worker accepts on the plain port and, when configured, the TLS port; each
connection is served on its own thread by `acceptor.AssociationHandler`. What bounds
the work a hostile network can cause:

- associations: `station.max_associations`, counted across the workers (`SharedCounts`);
- connections that have not associated yet: `dicom.max_pending` across the station
  (`WaitingRoom`: beyond it, the longest-waiting connection is closed, so a flood of
  connections that say nothing can never lock out a real modality), each of them
  closed after `dicom.artim_timeout` seconds at most;
- memory per connection: the PDU limits of `wire`.
"""

from __future__ import annotations

import ctypes
import logging
import logging.handlers
import multiprocessing.synchronize
import os
import selectors
import signal
import socket
import ssl
import threading
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from mw_tui.config import Config
from mw_tui.dicom import tls
from mw_tui.dicom.acceptor import AssociationHandler
from mw_tui.dicom.admission import AcceptorSettings
from mw_tui.dicom.events import ReceiverEvent
from mw_tui.dicom.mcm import MediaCreationFactory
from mw_tui.dicom.nservice import MediaCreationScp
from mw_tui.store import Store
from mw_tui.util import libc

log = logging.getLogger("mw_tui.dicom.scp")

SUMMARY_INTERVAL = 10.0  # during a flood, seconds between two log lines about it
QUIET_AFTER = 1.0  # a flood is over after this many seconds without closing anything


class SharedCounts:
    """Per-worker counters in shared memory: associations [0, n) and waiting [n, 2n).

    Keeping one counter per worker lets the parent reset the counts of a worker that
    died, so a crash never leaks association slots.
    """

    def __init__(self, array: Any, workers: int, index: int, limit: int) -> None:
        self.array = array
        self.workers = workers
        self.index = index
        self.limit = limit

    def associations(self) -> int:
        return int(sum(self.array[: self.workers]))

    def waiting(self) -> int:
        return int(sum(self.array[self.workers :]))

    def acquire(self) -> bool:
        with self.array.get_lock():
            if sum(self.array[: self.workers]) >= self.limit:
                return False
            self.array[self.index] += 1
            return True

    def release(self) -> None:
        with self.array.get_lock():
            self.array[self.index] = max(0, self.array[self.index] - 1)

    def set_waiting(self, n: int) -> None:
        self.array[self.workers + self.index] = n

    def reset(self) -> None:
        with self.array.get_lock():
            self.array[self.index] = 0
            self.array[self.workers + self.index] = 0


class WaitingRoom:
    """Connections of this worker that have not associated yet, oldest first."""

    def __init__(self, limit: int, counts: SharedCounts | None = None) -> None:
        self.limit = max(1, limit)
        self.counts = counts
        self._lock = threading.Lock()
        self._handlers: OrderedDict[int, AssociationHandler] = OrderedDict()
        self._closed = 0  # closed to make room, not yet logged
        self._last_summary = 0.0
        self._last_close = 0.0

    def __len__(self) -> int:
        return len(self._handlers)

    def enter(self, handler: AssociationHandler) -> None:
        with self._lock:
            self._handlers[id(handler)] = handler
            while len(self._handlers) > self.limit:
                _, oldest = self._handlers.popitem(last=False)
                oldest.evict()
                self._closed += 1
                self._last_close = time.monotonic()
            self._count()
        self.summarize()

    def leave(self, handler: AssociationHandler) -> None:
        with self._lock:
            self._handlers.pop(id(handler), None)
            self._count()

    def _count(self) -> None:
        if self.counts is not None:
            self.counts.set_waiting(len(self._handlers))

    def summarize(self, force: bool = False) -> None:
        """Log connections closed to make room: once the flood is over, and once per
        SUMMARY_INTERVAL while it lasts."""
        now = time.monotonic()
        if not self._closed or not (force or now - self._last_close >= QUIET_AFTER
                                    or now - self._last_summary >= SUMMARY_INTERVAL):
            return
        with self._lock:
            closed, self._closed = self._closed, 0
        self._last_summary = now
        log.warning("closed %d connection(s) that had not associated yet: more than %d were "
                    "waiting (dicom.max_pending); a flood, or peers that connect and say "
                    "nothing", closed, self.limit)


@dataclass(frozen=True)
class WorkerArgs:
    """What a worker process is started with (picklable)."""

    config: Config
    plain: socket.socket
    tls: socket.socket | None
    counts: Any  # multiprocessing Array("i", 2 * workers)
    ready: Any  # multiprocessing Array("b", workers): set once the worker accepts
    workers: int
    index: int
    queue: Any
    stop: multiprocessing.synchronize.Event
    level: int
    parent: int
    nice: int = 0  # added to the worker's niceness (the kiosk keeps its screens ahead)
    media: MediaCreationFactory | None = None  # Media Creation Management ([mcm] enabled)


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


def _quiet_libraries() -> None:
    """The acceptor reports what is wrong with a peer's data in its own words, once.

    (pynetdicom's PDU decoders log a traceback for every undecodable AE title or UID.)
    """
    warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom|pynetdicom")
    for name in ("pydicom", "pynetdicom"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


PROCESS_NAME = b"mw-tui-receiver"  # what `ps` and `top` show for a worker (15 bytes at most)


def _name_process() -> None:
    """A forked worker's command line is its parent's: give it a name of its own."""
    prctl = libc.function("prctl", (ctypes.c_int, ctypes.c_char_p, ctypes.c_ulong,
                                    ctypes.c_ulong, ctypes.c_ulong))
    if prctl is not None:
        prctl(15, PROCESS_NAME, 0, 0, 0)  # PR_SET_NAME


def _media_scp(factory: MediaCreationFactory | None, store: Store,
               emit: _QueueEmit) -> MediaCreationScp | None:
    """The worker's Media Creation Management SCP (None, logged, when it cannot be made:
    the receiver goes on with Storage and Verification)."""
    if factory is None:
        return None
    try:
        return MediaCreationScp(factory(store), emit)
    except Exception as exc:
        log.error("Media Creation Management cannot start in this receiver worker: %s", exc,
                  exc_info=True)
        return None


def worker_main(args: WorkerArgs) -> None:
    _name_process()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a forked worker had its parent's handler
    if args.nice:
        try:
            os.nice(args.nice)
        except OSError:
            pass
    threading.Thread(target=_watch_parent, args=(args.parent,), daemon=True).start()
    root = logging.getLogger()
    root.handlers[:] = [logging.handlers.QueueHandler(args.queue)]
    root.setLevel(args.level)
    _quiet_libraries()
    config = args.config
    store = Store(config.storage, config.station.min_free_mb, spares=True)  # files made ahead
    settings = AcceptorSettings.from_config(config)
    counts = SharedCounts(args.counts, args.workers, args.index,
                          config.station.max_associations)
    share = -(-config.dicom.max_pending // args.workers)  # this worker's part, rounded up
    waiting = WaitingRoom(share, counts)
    emit = _QueueEmit(args.queue)
    media = _media_scp(args.media, store, emit)
    tls_context: ssl.SSLContext | None = None
    selector = selectors.DefaultSelector()
    args.plain.setblocking(False)
    selector.register(args.plain, selectors.EVENT_READ, None)
    if args.tls is not None:
        tls_context = tls.server_context(config.tls)  # checked by the parent already
        args.tls.setblocking(False)
        selector.register(args.tls, selectors.EVENT_READ, tls_context)
    threads: list[threading.Thread] = []
    accept_errors = 0
    args.ready[args.index] = 1
    while not args.stop.is_set():
        for key, _ in selector.select(0.25):
            listener = key.fileobj
            assert isinstance(listener, socket.socket)
            try:
                conn, addr = listener.accept()
            except (BlockingIOError, InterruptedError):
                continue  # another worker took it
            except OSError as exc:  # e.g. out of file descriptors: say so once in a while
                if args.stop.is_set():
                    break  # the parent shut the listening socket down to stop us
                if accept_errors % 100 == 0:
                    log.error("accepting a connection failed: %s", exc.strerror or exc)
                accept_errors += 1
                time.sleep(0.05)
                continue
            conn.setblocking(True)
            handler = AssociationHandler(conn, addr, settings, store, counts, emit,
                                         tls_context=key.data, waiting=waiting, media=media)
            waiting.enter(handler)
            t = threading.Thread(target=handler.run, name=f"assoc-{addr[0]}:{addr[1]}",
                                 daemon=True)
            try:
                t.start()
            except RuntimeError as exc:  # no more threads: drop this one, keep the others
                waiting.leave(handler)
                conn.close()
                if accept_errors % 100 == 0:
                    log.error("cannot serve a connection from %s: %s", addr[0], exc)
                accept_errors += 1
                continue
            threads = [x for x in threads if x.is_alive()]
            threads.append(t)
        waiting.summarize()
    waiting.summarize(force=True)
    deadline = time.monotonic() + 8
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    store.close()
    args.queue.close()
    args.queue.join_thread()
