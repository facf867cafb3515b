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
from collections.abc import Callable
from pathlib import Path

from mw_tui.util import unixsock

log = logging.getLogger(__name__)



class Bell(unixsock.Listener):
    """Listen on `path` (the caller holds the jobs lock: a socket file left there by a
    process that died is replaced) and call `on_ring` for every datagram. Where it cannot
    listen, the runner looks every second."""

    kind = socket.SOCK_DGRAM
    thread_name = "jobs-bell"

    def __init__(self, path: Path, on_ring: Callable[[], None]) -> None:
        super().__init__(path, log, "jobs",
                         "queued jobs are noticed within a second instead of at once")
        self.on_ring = on_ring

    def _serve(self, sock: socket.socket) -> None:
        while True:
            try:
                sock.recv(64)
            except OSError:
                return
            if self._stopping:
                return
            try:
                self.on_ring()
            except Exception:
                log.exception("jobs: waking the runner failed")

    def _wake(self, sock: socket.socket) -> None:
        ring(self.path)


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
