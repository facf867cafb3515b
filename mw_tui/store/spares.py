"""New files made ahead for pushed instances, off the path a modality waits on.

Creating a file is not free: a new inode, a directory entry, and on ext4 without a
journal (the file system of many small appliances) a search of the inode table that
skips every inode freed in the last minutes, a third of a millisecond per file after a
study was deleted, measured here. A receiver worker keeps a few empty files ready in
`incoming/`, opened for writing (around the page cache where the file system allows),
made by a thread of their own while the associations wait for the network; an instance
takes one instead of creating its file (`Incoming`), and goes on exactly as before
(written, renamed into its folder, synced). A file is made at once when none is ready.

Their names (`.spare-<pid>-<random>`) say whose they are: the next start's recovery
removes those of a process that is gone, and `store check` does not count them as
interrupted transfers.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections import deque
from pathlib import Path

from mw_tui.util.fileio import open_new

log = logging.getLogger(__name__)

PREFIX = ".spare-"
KEEP = 16  # files kept ready
LOW = 8  # the thread makes more when fewer are left
RETRY = 60.0  # seconds before making files again after it failed (a full disk)


def is_spare(name: str) -> bool:
    return name.startswith(PREFIX)


def owner_gone(name: str) -> bool:
    """Whether the receiver worker a spare file's name says made it has ended (a zombie
    or another program under its process id counts as ended)."""
    try:
        pid = int(name[len(PREFIX):].split("-", 1)[0])
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (ValueError, OSError):
        return True
    command, _, rest = stat.partition("(")[2].rpartition(")")
    return rest.split()[:1] in (["Z"], ["X"]) or not command.startswith("mw-tui")


class Spares:
    """Empty files in `folder`, opened ahead; `take()` one, `close()` at the end."""

    def __init__(self, folder: Path, mode: int, direct: bool) -> None:
        self.folder = folder
        self.mode = mode
        self.direct = direct
        self._ready: deque[tuple[Path, int, bool]] = deque()
        self._lock = threading.Lock()
        self._wanted = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._failed = -RETRY  # when making them failed (a full disk): meanwhile each
        # instance makes its own file, and gets the same error if it is still there

    def take(self) -> tuple[Path, int, bool] | None:
        """A ready file (path, descriptor, direct), or None: the caller makes its own."""
        with self._lock:
            if self._closed or time.monotonic() - self._failed < RETRY:
                return None
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="spare-files",
                                                daemon=True)
                self._thread.start()
            item = self._ready.popleft() if self._ready else None
            if len(self._ready) < LOW:
                self._wanted.set()
        return item

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            with self._lock:
                self._wanted.clear()
                if self._closed:
                    return
                missing = KEEP - len(self._ready)
            for _ in range(missing):
                path = self.folder / f"{PREFIX}{os.getpid()}-{secrets.token_hex(8)}"
                try:
                    fd, direct = open_new(path, self.mode, self.direct)
                except OSError as exc:
                    log.warning("store: cannot make files ahead in %s (%s); each instance "
                                "makes its own for a minute", self.folder, exc.strerror or exc)
                    with self._lock:
                        self._failed = time.monotonic()
                    return
                with self._lock:
                    if self._closed:
                        os.close(fd)
                        path.unlink(missing_ok=True)
                        return
                    self._ready.append((path, fd, direct))

    def close(self) -> None:
        """Stop making files; remove those not taken."""
        with self._lock:
            self._closed = True
            ready, self._ready = list(self._ready), deque()
            thread = self._thread
        self._wanted.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)
        for path, fd, _ in ready:
            os.close(fd)
            path.unlink(missing_ok=True)
