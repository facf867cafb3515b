"""Import: a patient's outside disc or stick into the PACS, reconciled (work in progress)."""

from __future__ import annotations

import os

from mw_tui.config import Config
from mw_tui.importing.models import Medium
from mw_tui.importing.opening import open_source
from mw_tui.importing.reading import ReadProgress, scan


def read_medium(source: str | os.PathLike[str], config: Config | None = None,
                progress: ReadProgress | None = None) -> Medium:
    with open_source(source, config) as src:
        return scan(src, progress)
