"""Logging setup shared by the commands and the app."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from mw_tui.util import privacy

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is when a record comes, not to the stream that was
    there when logging was set up: something may swap standard error for a while and close
    its stand-in (Textual's print capture, a test harness) while threads such as the
    receiver's event pump go on logging."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass  # always sys.stderr


def setup_logging(level: str = "INFO", to_stderr: bool = True, file: Path | None = None) -> None:
    root = logging.getLogger()
    root.handlers[:] = []
    root.setLevel(level.upper())
    if to_stderr:
        h: logging.Handler = StderrHandler()
        h.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(h)
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(file, encoding="utf-8")
        fh.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(fh)
    privacy.install(root)  # patient names and IDs masked in every handler
    for noisy in ("pynetdicom", "pydicom"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
