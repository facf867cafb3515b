"""Logging setup shared by the commands and the app."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from mw_tui.util import privacy

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_logging(level: str = "INFO", to_stderr: bool = True, file: Path | None = None) -> None:
    root = logging.getLogger()
    root.handlers[:] = []
    root.setLevel(level.upper())
    if to_stderr:
        h: logging.Handler = logging.StreamHandler(sys.stderr)
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
