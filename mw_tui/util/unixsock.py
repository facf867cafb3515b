"""Unix sockets in the storage folder that only the station's user may use (the jobs'
bell, the station's door)."""

from __future__ import annotations

import logging
import os
import socket
import threading
from pathlib import Path

PATH_MAX = 107  # bytes of a Unix socket's path (sun_path, with its terminating NUL)


def fits(path: Path) -> bool:
    """Whether `path` is short enough for a Unix socket."""
    return len(os.fsencode(path)) <= PATH_MAX


def bind_private(path: Path, kind: int) -> socket.socket:
    """A Unix socket of `kind` (SOCK_DGRAM, SOCK_STREAM) bound at `path`, mode 0600; the
    caller holds the jobs lock, so a socket file left there by a process that died is
    replaced. ValueError when the path is too long for a socket, OSError when it cannot
    be bound."""
    if not fits(path):
        raise ValueError(f"{path} is too long a path for a socket")
    sock = socket.socket(socket.AF_UNIX, kind)
    try:
        path.unlink(missing_ok=True)
        sock.bind(str(path))
        os.chmod(path, 0o600)
    except OSError:
        sock.close()
        raise
    return sock


class Listener:
    """A private socket at `path` served by one thread (`_serve`), started and stopped
    the same way by its kinds (the jobs' bell, the station's door). Subclasses say how
    the thread is woken to stop (`_wake`); `otherwise` says, in the log, what happens when
    the socket cannot be had."""

    kind = socket.SOCK_STREAM
    thread_name = "listener"

    def __init__(self, path: Path, log: logging.Logger, what: str, otherwise: str) -> None:
        self.path = path
        self._log, self._what, self._otherwise = log, what, otherwise
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False

    def start(self) -> bool:
        """False (logged) where it cannot listen."""
        try:
            sock = bind_private(self.path, self.kind)
        except ValueError as exc:
            self._log.info("%s: %s; %s", self._what, exc, self._otherwise)
            return False
        except OSError as exc:
            self._log.warning("%s: cannot listen on %s (%s); %s", self._what, self.path,
                              exc.strerror or exc, self._otherwise)
            return False
        if self.kind == socket.SOCK_STREAM:
            try:
                sock.listen(16)
            except OSError as exc:
                sock.close()
                self._log.warning("%s: cannot listen on %s (%s); %s", self._what,
                                  self.path, exc.strerror or exc, self._otherwise)
                return False
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, args=(sock,),
                                        name=self.thread_name, daemon=True)
        self._thread.start()
        return True

    def stop(self) -> None:
        if self._sock is None:
            return
        self._stopping = True
        self._wake(self._sock)
        if self._thread is not None:
            self._thread.join(5)
        self._sock.close()
        self._sock = None
        self.path.unlink(missing_ok=True)

    def _serve(self, sock: socket.socket) -> None:
        raise NotImplementedError

    def _wake(self, sock: socket.socket) -> None:
        """Make `_serve` return (it then sees `_stopping`)."""
        raise NotImplementedError
