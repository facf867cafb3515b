"""Printing a label through CUPS: `lp` queues it, then the print job is followed (IPP
Get-Job-Attributes) until it is printed, cancelled or aborted, or the time is up.

Nothing here raises for a printer's trouble: the outcome is a `PrintStatus` with a
sentence for the technician, and the label PDF stays where it is, so it can be printed
again or elsewhere. Print job titles never name the patient (CUPS shows them to anyone).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from mw_tui.labels.ipp import (
    IppError,
    JobState,
    PrinterState,
    cups_server,
    get_job,
    get_printer,
)


class PrintState(StrEnum):
    KEPT = "kept"  # no printer configured: the PDF is kept
    QUEUED = "queued"
    PRINTING = "printing"
    STOPPED = "stopped"  # the printer stopped (out of discs, ink, paused): it waits
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"
    TIMED_OUT = "timed_out"


FINISHED = frozenset({PrintState.KEPT, PrintState.DONE, PrintState.CANCELLED,
                      PrintState.FAILED, PrintState.TIMED_OUT})


@dataclass(frozen=True, slots=True)
class PrintStatus:
    state: PrintState
    message: str  # for the technician
    pdf: Path
    printer: str = ""
    job: str = ""  # the CUPS job, "printer-12"

    @property
    def ok(self) -> bool:
        """Printed, or kept because no printer is configured."""
        return self.state in (PrintState.DONE, PrintState.KEPT)


class CancelToken(Protocol):
    def is_set(self) -> bool: ...


StatusCallback = Callable[[PrintStatus], None]
_REQUEST_RE = re.compile(r"request id is (\S+-(\d+))")


def print_label(pdf: Path | str, printer: str, *, options: Sequence[str] = (),
                copies: int = 1, timeout: float = 120.0, poll: float = 0.5,
                title: str = "mw-tui disc label", on_status: StatusCallback | None = None,
                cancel: CancelToken | None = None, server: str | None = None) -> PrintStatus:
    """Print `pdf` on the CUPS queue `printer` and follow the job to its end; each change
    of state goes to `on_status`. No printer: the PDF is kept (state KEPT)."""
    pdf = Path(pdf)
    report = _Reporter(pdf, printer, on_status)
    if not printer:
        return report(PrintState.KEPT, "No label printer is set ([labels] printer): the "
                                        f"label is kept as {pdf}.")
    if not pdf.is_file():
        return report(PrintState.FAILED, f"The label {pdf} is missing: make it again.")
    if shutil.which("lp") is None:
        return report(PrintState.FAILED, "The CUPS client commands are missing: install the "
                                         f"Debian package cups-client. The label is kept as "
                                         f"{pdf}.")
    server = server or cups_server()
    args = ["lp", "-h", server, "-d", printer, "-t", title, "-n", str(copies)]
    for option in options:
        args += ["-o", option]
    try:
        proc = subprocess.run([*args, "--", str(pdf)], capture_output=True, text=True,
                              timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return report(PrintState.FAILED, f"lp did not queue the label ({exc}); it is kept "
                                         f"as {pdf}.")
    match = _REQUEST_RE.search(proc.stdout)
    if proc.returncode != 0 or match is None:
        return report(PrintState.FAILED, _lp_problem(proc.stderr or proc.stdout, printer,
                                                     server) + f" The label is kept as {pdf}.")
    job, job_id = match.group(1), int(match.group(2))
    report.job = job
    report(PrintState.QUEUED, f"The label is queued on {printer} (job {job}).")
    deadline = time.monotonic() + timeout
    last_problem = ""
    while True:
        if cancel is not None and cancel.is_set():
            _cancel(job, server)
            return report(PrintState.CANCELLED, f"Printing the label was cancelled; it is "
                                                f"kept as {pdf}.")
        try:
            status = get_job(job_id, server)
        except IppError as exc:
            last_problem = str(exc)
        else:
            said = f" ({status.message})" if status.message else ""
            if status.state is JobState.COMPLETED:
                return report(PrintState.DONE, f"The label was printed on {printer}.")
            if status.state is JobState.CANCELED:
                return report(PrintState.CANCELLED, f"The label's print job {job} was "
                                                    f"cancelled at the printer; the label is "
                                                    f"kept as {pdf}.")
            if status.state is JobState.ABORTED:
                return report(PrintState.FAILED, f"{printer} could not print the label"
                                                 f"{said}; it is kept as {pdf}.")
            stopped = _stopped(printer, server) if status.state in (
                JobState.PENDING, JobState.HELD, JobState.STOPPED) else None
            if status.state is JobState.PROCESSING:
                report(PrintState.PRINTING, f"Printing the label on {printer}{said}.")
            elif stopped is not None or status.state is JobState.STOPPED:
                why = stopped or status.message or "stopped"
                report(PrintState.STOPPED, f"{printer} has stopped ({why}): check the "
                                           "printer; the label waits.")
            else:
                report(PrintState.QUEUED, f"The label waits for {printer}{said}.")
            last_problem = stopped or status.message
        if time.monotonic() >= deadline:
            _cancel(job, server)
            said = f" (last news: {last_problem})" if last_problem else ""
            return report(PrintState.TIMED_OUT,
                          f"{printer} did not print the label within {timeout:g} s{said}; "
                          f"the print job was cancelled and the label is kept as {pdf}.")
        time.sleep(poll)


class _Reporter:
    """Builds each status, passes changes on, returns it."""

    def __init__(self, pdf: Path, printer: str, callback: StatusCallback | None) -> None:
        self.pdf, self.printer, self.callback = pdf, printer, callback
        self.job = ""
        self.last: tuple[PrintState, str] | None = None

    def __call__(self, state: PrintState, message: str) -> PrintStatus:
        status = PrintStatus(state, message, self.pdf, self.printer, self.job)
        if self.callback is not None and (state, message) != self.last:
            self.callback(status)
        self.last = (state, message)
        return status


def _lp_problem(text: str, printer: str, server: str) -> str:
    low = text.lower()
    try:  # lp says "does not exist" also when it cannot reach the scheduler at all
        get_printer(printer, server, timeout=5)
    except IppError as exc:
        if "does not answer" in str(exc):
            low = "not running"
    if "does not exist" in low or "not found" in low:
        return (f"CUPS has no printer {printer!r}: check [labels] printer (`lpstat -p` lists "
                "the printers).")
    if "not running" in low or "unable to connect" in low or "connection refused" in low:
        return (f"CUPS is not running, or not reachable at {server}: start it (systemctl "
                "start cups).")
    if "not accepting" in low:
        return f"{printer} does not accept jobs now: let it (cupsaccept {printer})."
    return f"lp refused the label: {' '.join(text.split()) or 'no reason given'}."


def _stopped(printer: str, server: str) -> str | None:
    """Why the printer stopped (its message or reasons), or None when it has not."""
    try:
        status = get_printer(printer, server)
    except IppError:
        return None
    if status.state is not PrinterState.STOPPED:
        return None
    return status.message or ", ".join(status.reasons) or "stopped"


def _cancel(job: str, server: str) -> None:
    try:
        subprocess.run(["cancel", "-h", server, job], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        pass
