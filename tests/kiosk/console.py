"""A terminal for the kiosk tests: a pty whose other side a test reads and types into."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios
import threading
from collections.abc import Callable, Sequence
from typing import Any

from tests.peers import wait_until


class Console:
    """Runs a command on a fresh pty of `cols` x `rows`; collects what it shows."""

    def __init__(self, spawn: Callable[..., subprocess.Popen[bytes]], args: Sequence[str],
                 cols: int = 100, rows: int = 30, **kw: Any) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.proc = spawn(args, stdin=slave, stdout=slave, stderr=subprocess.PIPE,
                          start_new_session=True, **kw)
        os.close(slave)
        self._output = bytearray()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                self._output += data

    @property
    def output(self) -> str:
        with self._lock:
            return self._output.decode("utf-8", "replace")

    def wait_for(self, text: str, timeout: float = 20) -> None:
        wait_until(lambda: text in self.output, timeout=timeout,
                   what=f"{text!r} on the terminal")

    def type(self, data: bytes) -> None:
        os.write(self.master, data)

    def wait(self, timeout: float = 30) -> int:
        return self.proc.wait(timeout=timeout)

    def stderr(self) -> str:
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode("utf-8", "replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        try:
            os.close(self.master)
        except OSError:
            pass
        self._reader.join(timeout=5)
