"""Waking the process that runs the jobs when another one queues or cancels a job.

The runner (the kiosk, `mw-tui serve`, ...) listens on a Unix datagram socket next to
the jobs database (`StoragePaths.jobs_bell`, in the storage folder only its user may
enter); `mw-tui burn` and the other commands `ring()` it after their change is in the
database, so the job starts at once instead of at the runner's next look (a second at
most). A datagram carries nothing: the runner reads the database, which is the truth.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
from collections.abc import Callable
from pathlib import Path

from mw_tui.util import unixsock

log = logging.getLogger(__name__)



class Bell:
    """Listen on `path` (the caller holds the jobs lock: a socket file left there by a
    process that died is replaced) and call `on_ring` for every datagram."""

    def __init__(self, path: Path, on_ring: Callable[[], None]) -> None:
        self.path = path
        self.on_ring = on_ring
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False

    def start(self) -> bool:
        """False (once logged) where it cannot listen: the runner then looks every second."""
        try:
            sock = unixsock.bind_private(self.path, socket.SOCK_DGRAM)
        except ValueError as exc:
            log.info("jobs: %s; queued jobs are noticed within a second instead of at once",
                     exc)
            return False
        except OSError as exc:
            log.warning("jobs: cannot listen on %s (%s); queued jobs are noticed within a "
                        "second instead of at once", self.path, exc.strerror or exc)
            return False
        self._sock = sock
        self._thread = threading.Thread(target=self._run, name="jobs-bell", daemon=True)
        self._thread.start()
        return True

    def _run(self) -> None:
        assert self._sock is not None
        while True:
            try:
                self._sock.recv(64)
            except OSError:
                return
            if self._stopping:
                return
            try:
                self.on_ring()
            except Exception:
                log.exception("jobs: waking the runner failed")

    def stop(self) -> None:
        if self._sock is None:
            return
        self._stopping = True
        ring(self.path)
        if self._thread is not None:
            self._thread.join(5)
        self._sock.close()
        self._sock = None
        self.path.unlink(missing_ok=True)


def ring(path: Path) -> bool:
    """Wake whoever listens on `path`; False when nobody does."""
    if not unixsock.fits(path):
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(b"!", str(path))
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ECONNREFUSED, errno.EAGAIN,
                                 errno.ENOTSOCK, errno.EACCES, errno.EPERM):
                log.debug("jobs: ringing %s failed: %s", path, exc)
            return False
    return True
