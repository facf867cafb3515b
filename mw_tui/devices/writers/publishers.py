"""The writer of a [[publishers]] entry, by its kind."""

from __future__ import annotations

from mw_tui.config.publishers import Publisher
from mw_tui.devices.writers.hotfolder import HotFolderWriter, LabelSource
from mw_tui.devices.writers.ptburn import PtBurnWriter

KINDS: dict[str, type[HotFolderWriter]] = {"ptburn": PtBurnWriter}


def publisher_writer(publisher: Publisher, *, job_id: str | int = "", copies: int = 1,
                     label_for: LabelSource | None = None) -> HotFolderWriter:
    """The writer for one job on `publisher` (see HotFolderWriter)."""
    return KINDS[publisher.kind](publisher, job_id=job_id, copies=copies, label_for=label_for)
