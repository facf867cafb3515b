"""Another process holding the jobs lock, as a running `mw-tui burn`, `mw-tui jobs run`,
`mw-tui serve` or kiosk does; it lets it go when told to (it exits)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

from mw_tui.config import Config, StoragePaths


class LockHolder:
    def __init__(self, config: Config) -> None:
        lock = StoragePaths.of(config).jobs_lock
        lock.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen([sys.executable, "-c", (
            "import fcntl, os, signal\n"
            f"fd = os.open({str(lock)!r}, os.O_RDWR | os.O_CREAT, 0o600)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "print('held', flush=True)\n"
            "signal.pause()\n")], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "held"

    def release(self) -> None:
        """The process exits (its lock goes with it). A signal, not the end of a pipe: the
        station's receiver processes inherit the test's end of any pipe."""
        if self.proc.returncode is None:
            self.proc.terminate()
            self.proc.wait(10)
            assert self.proc.stdout is not None
            self.proc.stdout.close()


@contextlib.contextmanager
def holding_jobs_lock(config: Config) -> Iterator[LockHolder]:
    holder = LockHolder(config)
    try:
        yield holder
    finally:
        holder.release()
