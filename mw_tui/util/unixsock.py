"""Unix sockets in the storage folder that only the station's user may use (the jobs'
bell, the station's door)."""

from __future__ import annotations

import os
import socket
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
