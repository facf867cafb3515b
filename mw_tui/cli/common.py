"""What several commands share."""

from __future__ import annotations

import sys
import threading
from contextlib import AbstractContextManager
from typing import TextIO

from mw_tui.cli.codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from mw_tui.station.models import Job
from mw_tui.util.interrupts import on_interrupt

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "JobFollower", "cancel_on_interrupt",
           "fail"]


def fail(command: str, message: str, code: int = EXIT_FAILED) -> int:
    """`mw-tui COMMAND: message` on stderr; the exit code."""
    print(f"mw-tui {command}: {message}", file=sys.stderr)
    return code


def cancel_on_interrupt(cancel: threading.Event) -> AbstractContextManager[None]:
    """Ctrl-C / SIGTERM cancel the retrieve cleanly (C-CANCEL) instead of killing it."""
    return on_interrupt(cancel.set)


class JobFollower:
    """Prints a job's progress: one updating line on a terminal, plain lines otherwise."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self.last = ""

    def show(self, job: Job) -> None:
        p = job.progress
        frac = p.fraction
        bar = ""
        if frac is not None and self.tty:
            filled = int(frac * 24)
            bar = f"[{'#' * filled}{'.' * (24 - filled)}] {frac * 100:3.0f}% "
        eta = f" ({p.eta:.0f} s left)" if p.eta else ""
        line = f"job {job.id}: {job.state.value}: {bar}{p.message}{eta}".rstrip(": ")
        if self.tty:
            self.out.write("\r" + line[:110].ljust(110))
            self.out.flush()
        elif (job.state.value, p.message) != getattr(self, "_key", None):
            self._key = (job.state.value, p.message)
            if frac is None or frac in (0.0, 1.0) or not p.total:
                print(line, file=self.out, flush=True)
        self.last = line

    def end(self) -> None:
        if self.tty:
            self.out.write("\n")
            self.out.flush()
